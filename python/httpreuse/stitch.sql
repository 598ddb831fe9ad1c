-- Stitching connections cut by run boundaries (httpreuse, issue 13).
--
-- Inputs: {connections} and {exchanges}, the flat tables of several runs
-- (`httpreuse --format parquet`, or httpreuse.analyze), each row with two
-- more columns: `sensor` (text) and `run` (the run's position in its
-- sensor's time order). A run is a time-ordered set of rotated files from one
-- sensor, analysed as one capture; a connection open across a run boundary
-- comes out as one piece per run: `open_at_end` in the earlier run,
-- `open_at_start` (no SYN seen) in the later.
--
-- A piece continues the piece just before it (same sensor and community_id,
-- ordered by run, then first packet) when it is open_at_start, the one
-- before was open_at_end in an earlier run, ended before it began (give or
-- take the second the analysis allows frames to be out of time order), and
-- at most
-- {max_gap} seconds before (the --idle-timeout: a longer silence would have
-- ended the connection inside one run too). A piece also continues a closed
-- one (FIN each way, or RST) that ended at most {close_linger} seconds
-- before it (--close-linger): the last ACKs after a close, which one run
-- gives to the closed connection. A connection is then keyed by (sensor,
-- community_id, start), start being its first piece's first packet.
--
-- Pieces after the first may have told client and server apart differently
-- (no SYN to go by): `flipped` marks them, and their per-side columns are
-- swapped back.
--
-- Written for DuckDB and Spark SQL alike: window functions, MIN_BY/MAX_BY,
-- BOOL_OR; {q} quotes the `end` column ("" for DuckDB, `` for Spark).
-- MAX_BY/MIN_BY skip rows whose value is NULL in DuckDB, not in Spark, so
-- they are used only where the ordering key is NULL whenever the value is;
-- a column taken from one piece (the first, the closing one) is
-- MAX(CASE WHEN <that piece> THEN col END): the piece's NULL stays NULL.
-- httpreuse.stitch_sql() fills in the placeholders and puts the `pieces`
-- part in front of the part asked for.

-- part: pieces
WITH ordered AS (
  SELECT c.*,
    LAG(c.open_at_end) OVER (PARTITION BY c.sensor, c.community_id ORDER BY c.run, c.start, c.id) AS prev_open_at_end,
    LAG(c.{q}end{q}) OVER (PARTITION BY c.sensor, c.community_id ORDER BY c.run, c.start, c.id) AS prev_end,
    LAG(c.run) OVER (PARTITION BY c.sensor, c.community_id ORDER BY c.run, c.start, c.id) AS prev_run
  FROM {connections} c
),
marked AS (
  SELECT o.*,
    CASE WHEN o.community_id IS NOT NULL
          AND o.open_at_start
          AND o.prev_run < o.run
          AND o.start >= o.prev_end - 1.0
          AND ((o.prev_open_at_end AND o.start - o.prev_end <= {max_gap})
               OR (NOT o.prev_open_at_end AND o.start - o.prev_end <= {close_linger}))
         THEN 0 ELSE 1 END AS starts_connection
  FROM ordered o
),
grouped AS (
  SELECT m.*,
    SUM(m.starts_connection) OVER (
      PARTITION BY m.sensor, m.community_id ORDER BY m.run, m.start, m.id
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS piece_group
  FROM marked m
),
firsts AS (
  SELECT g.*,
    MIN(g.start) OVER (PARTITION BY g.sensor, g.community_id, g.piece_group) AS connection_start,
    MIN(g.run) OVER (PARTITION BY g.sensor, g.community_id, g.piece_group) AS first_run_of,
    FIRST_VALUE(g.client_addr) OVER (PARTITION BY g.sensor, g.community_id, g.piece_group ORDER BY g.run
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS first_client_addr,
    FIRST_VALUE(g.client_port) OVER (PARTITION BY g.sensor, g.community_id, g.piece_group ORDER BY g.run
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS first_client_port
  FROM grouped g
),
sided AS (
  SELECT f.*,
    NOT (f.client_addr = f.first_client_addr AND f.client_port = f.first_client_port) AS flipped
  FROM firsts f
),
pieces AS (
  SELECT s.*,
    -- The piece with the first FIN or RST, whose verdict says why the
    -- connection closed (else the last piece).
    COALESCE(
      MIN(CASE WHEN s.close_kind IS NOT NULL THEN s.run END) OVER (PARTITION BY s.sensor, s.community_id, s.piece_group),
      MAX(s.run) OVER (PARTITION BY s.sensor, s.community_id, s.piece_group)) AS close_run,
    -- FINs and RSTs by side, from the Zeek history (F client FIN, f server's; R/r RST).
    CASE WHEN s.flipped THEN s.history LIKE '%f%' ELSE s.history LIKE '%F%' END AS client_fin,
    CASE WHEN s.flipped THEN s.history LIKE '%F%' ELSE s.history LIKE '%f%' END AS server_fin,
    (s.history LIKE '%R%' OR s.history LIKE '%r%') AS any_rst,
    -- After an Upgrade (WebSocket, h2c) or CONNECT, what a later piece
    -- reads as HTTP/1 is the tunnel's bytes (one run would not parse them).
    COALESCE(MAX(CASE WHEN s.upgraded THEN 1 ELSE 0 END) OVER (
      PARTITION BY s.sensor, s.community_id, s.piece_group ORDER BY s.run
      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) = 1 AS tunnel_before,
    -- The first piece read as HTTP/2 (after an h2c Upgrade, the HTTP/1
    -- pieces before it do not judge the close).
    MIN(CASE WHEN s.h2_start IS NOT NULL THEN s.run END) OVER (PARTITION BY s.sensor, s.community_id, s.piece_group) AS h2_run
  FROM sided s
)

-- part: connections
closing AS (
  SELECT p.*,
    -- The last piece before the closing one with HTTP/1 exchanges of its
    -- own (not a tunnel's bytes, not before the switch to HTTP/2).
    MAX(CASE WHEN p.run < p.close_run AND p.tail_unfinished IS NOT NULL AND NOT p.tunnel_before
          AND (p.h2_run IS NULL OR p.h2_run > p.close_run) THEN p.run END)
      OVER (PARTITION BY p.sensor, p.community_id, p.piece_group) AS http_run,
    -- TLS judged from its records: the last piece before the closing one
    -- with a turn (client application records) of its own.
    MAX(CASE WHEN p.run < p.close_run AND p.tls_turns > 0 THEN p.run END)
      OVER (PARTITION BY p.sensor, p.community_id, p.piece_group) AS tls_run,
    -- The last HTTP/2 piece before the closing one.
    MAX(CASE WHEN p.run < p.close_run AND p.h2_start IS NOT NULL THEN p.run END)
      OVER (PARTITION BY p.sensor, p.community_id, p.piece_group) AS h2_last_run
  FROM pieces p
),
stitched AS (
SELECT
  p.sensor,
  p.community_id,
  p.connection_start AS start,
  MAX(p.{q}end{q}) AS {q}end{q},
  MAX(p.{q}end{q}) - p.connection_start AS duration,
  COUNT(*) AS pieces,
  MIN(p.run) AS first_run,
  MAX(p.run) AS last_run,
  MAX(CASE WHEN p.run = p.first_run_of THEN p.id END) AS first_id,
  MAX(CASE WHEN p.run = p.first_run_of THEN p.client_addr END) AS client_addr,
  MAX(CASE WHEN p.run = p.first_run_of THEN p.client_port END) AS client_port,
  MAX(CASE WHEN p.run = p.first_run_of THEN p.server_addr END) AS server_addr,
  MAX(CASE WHEN p.run = p.first_run_of THEN p.server_port END) AS server_port,
  MAX(CASE WHEN p.run = p.first_run_of THEN p.roles_from END) AS roles_from,
  -- A handshake cut by a run boundary: the SYN in one piece, the rest in
  -- the next; data in a later piece says it completed.
  CASE WHEN MAX(CASE WHEN p.run = p.first_run_of THEN p.handshake_state END) IN ('unanswered', 'no_final_ack')
         AND SUM(CASE WHEN p.run > p.first_run_of THEN p.client_payload_bytes + p.server_payload_bytes ELSE 0 END) > 0
       THEN 'complete' ELSE MAX(CASE WHEN p.run = p.first_run_of THEN p.handshake_state END) END AS handshake_state,
  MAX(CASE WHEN p.run = p.first_run_of THEN p.handshake_complete END)
    OR (MAX(CASE WHEN p.run = p.first_run_of THEN p.handshake_state END) IN ('unanswered', 'no_final_ack')
        AND SUM(CASE WHEN p.run > p.first_run_of THEN p.client_payload_bytes + p.server_payload_bytes ELSE 0 END) > 0) AS handshake_complete,
  MAX(CASE WHEN p.run = p.first_run_of THEN p.handshake_rtt END) AS handshake_rtt,
  CAST(SUM(CASE WHEN p.tunnel_before THEN 0 ELSE p.requests END) AS BIGINT) AS requests,
  CAST(SUM(CASE WHEN p.tunnel_before THEN 0 ELSE p.responses END) AS BIGINT) AS responses,
  SUM(CASE WHEN p.tunnel_before THEN 0 ELSE p.requests END) > 1 AS reused,
  MAX(p.max_outstanding) AS max_outstanding,
  BOOL_OR(p.upgraded) AS upgraded,
  MIN_BY(CASE WHEN p.flipped THEN (CASE p.first_close_by WHEN 'client' THEN 'server' WHEN 'server' THEN 'client' END) ELSE p.first_close_by END,
         CASE WHEN p.first_close_by IS NOT NULL THEN p.run END) AS first_close_by,
  MIN_BY(p.first_close_kind, CASE WHEN p.first_close_kind IS NOT NULL THEN p.run END) AS first_close_kind,
  MAX(CASE WHEN p.run = p.close_run THEN p.close_reason END) AS close_reason,
  MAX(CASE WHEN p.run = p.close_run THEN CASE WHEN p.flipped THEN (CASE p.close_by WHEN 'client' THEN 'server' WHEN 'server' THEN 'client' END) ELSE p.close_by END END) AS close_by,
  MAX(CASE WHEN p.run = p.close_run THEN p.close_kind END) AS close_kind,
  MAX(CASE WHEN p.run = p.close_run THEN CASE WHEN p.flipped THEN (CASE p.close_said_by WHEN 'client' THEN 'server' WHEN 'server' THEN 'client' ELSE p.close_said_by END) ELSE p.close_said_by END END) AS close_said_by,
  MAX(CASE WHEN p.run = p.close_run THEN p.close_idle_seconds END) AS close_idle_seconds,
  MAX(CASE WHEN p.run = p.close_run THEN p.close_advertised_timeout END) AS close_advertised_timeout,
  MAX(CASE WHEN p.run = p.close_run THEN p.close_matches_timeout END) AS close_matches_timeout,
  MAX(CASE WHEN p.run = p.close_run THEN p.close_request_outstanding END) AS close_request_outstanding,
  MIN(p.idle_between_requests_min) AS idle_between_requests_min,
  MAX(p.idle_between_requests_max) AS idle_between_requests_max,
  MAX(CASE WHEN p.run = p.close_run THEN p.idle_before_close END) AS idle_before_close,
  MAX_BY(CASE WHEN p.flipped THEN p.client_keep_alive_timeout ELSE p.server_keep_alive_timeout END,
         CASE WHEN (CASE WHEN p.flipped THEN p.client_keep_alive_timeout ELSE p.server_keep_alive_timeout END) IS NOT NULL THEN p.run END) AS server_keep_alive_timeout,
  MAX_BY(p.server_keep_alive_max, CASE WHEN p.server_keep_alive_max IS NOT NULL AND NOT p.flipped THEN p.run END) AS server_keep_alive_max,
  MAX_BY(CASE WHEN p.flipped THEN p.server_keep_alive_timeout ELSE p.client_keep_alive_timeout END,
         CASE WHEN (CASE WHEN p.flipped THEN p.server_keep_alive_timeout ELSE p.client_keep_alive_timeout END) IS NOT NULL THEN p.run END) AS client_keep_alive_timeout,
  CAST(SUM(CASE WHEN p.flipped THEN p.server_packets ELSE p.client_packets END) AS BIGINT) AS client_packets,
  CAST(SUM(CASE WHEN p.flipped THEN p.client_packets ELSE p.server_packets END) AS BIGINT) AS server_packets,
  CAST(SUM(CASE WHEN p.flipped THEN p.server_payload_bytes ELSE p.client_payload_bytes END) AS BIGINT) AS client_payload_bytes,
  CAST(SUM(CASE WHEN p.flipped THEN p.client_payload_bytes ELSE p.server_payload_bytes END) AS BIGINT) AS server_payload_bytes,
  CAST(SUM(CASE WHEN p.flipped THEN p.server_retransmitted_bytes ELSE p.client_retransmitted_bytes END) AS BIGINT) AS client_retransmitted_bytes,
  CAST(SUM(CASE WHEN p.flipped THEN p.client_retransmitted_bytes ELSE p.server_retransmitted_bytes END) AS BIGINT) AS server_retransmitted_bytes,
  CAST(SUM(CASE WHEN p.flipped THEN p.server_gap_bytes ELSE p.client_gap_bytes END) AS BIGINT) AS client_gap_bytes,
  CAST(SUM(CASE WHEN p.flipped THEN p.client_gap_bytes ELSE p.server_gap_bytes END) AS BIGINT) AS server_gap_bytes,
  MAX_BY(CASE WHEN p.flipped THEN (CASE p.half_closed_by WHEN 'client' THEN 'server' WHEN 'server' THEN 'client' END) ELSE p.half_closed_by END,
         CASE WHEN p.half_closed_by IS NOT NULL THEN p.run END) AS half_closed_by,
  CAST(SUM(p.anomalies) AS BIGINT) AS anomalies,
  MAX(CASE WHEN p.run = p.close_run THEN p.close_explanation END) AS close_explanation,
  MAX(CASE WHEN p.run = p.first_run_of THEN p.open_at_start END) AS open_at_start,
  MAX_BY(p.open_at_end, p.run)
    AND NOT (BOOL_OR(p.any_rst) OR (BOOL_OR(p.client_fin) AND BOOL_OR(p.server_fin))) AS open_at_end,
  -- For the verdict again (`judged` below) of a connection whose
  -- closing piece carried no HTTP of its own (only the FINs or RST, or the
  -- end of a body), or only the answer to the last request of an earlier
  -- piece: the last piece before the closing one with HTTP/1 exchanges
  -- (L: its tail_* columns, its last exchange and what was unfinished at
  -- its end), the closing piece (C), and the bytes in between.
  MAX(CASE WHEN p.run = p.close_run THEN p.first_close_ns END) AS j_close_ns,
  MAX(CASE WHEN p.run = p.close_run THEN (CASE WHEN p.tunnel_before THEN 0 ELSE p.requests END) END) AS jc_requests,
  MAX(CASE WHEN p.run = p.close_run THEN (CASE WHEN p.tunnel_before THEN 0 ELSE p.responses END) END) AS jc_responses,
  BOOL_OR(CASE WHEN p.run = p.close_run THEN p.tail_request_http10 END IS NOT NULL) AS jc_has_request,
  BOOL_OR(CASE WHEN p.run = p.close_run THEN p.tail_response_http10 END) AS jc_response_http10,
  BOOL_OR(CASE WHEN p.run = p.close_run THEN p.tail_response_close END) AS jc_response_close,
  BOOL_OR(CASE WHEN p.run = p.close_run THEN p.tail_response_close_delimited END) AS jc_response_close_delimited,
  MAX(CASE WHEN p.run = p.close_run THEN p.idle_before_close END) AS jc_idle_before_close,
  MAX(p.http_run) AS j_http_run,
  BOOL_OR(CASE WHEN p.run < p.close_run THEN p.upgraded END) AS j_upgraded_before,
  MAX(CASE WHEN p.run = p.http_run THEN p.last_message_ns END) AS jl_last_ns,
  BOOL_OR(CASE WHEN p.run = p.http_run THEN p.tail_request_http10 END) AS jl_request_http10,
  BOOL_OR(CASE WHEN p.run = p.http_run THEN p.tail_request_close END) AS jl_request_close,
  BOOL_OR(CASE WHEN p.run = p.http_run THEN p.tail_response_http10 END IS NOT NULL) AS jl_has_response,
  BOOL_OR(CASE WHEN p.run = p.http_run THEN p.tail_response_http10 END) AS jl_response_http10,
  BOOL_OR(CASE WHEN p.run = p.http_run THEN p.tail_response_close END) AS jl_response_close,
  BOOL_OR(CASE WHEN p.run = p.http_run THEN p.tail_response_close_delimited END) AS jl_response_close_delimited,
  BOOL_OR(CASE WHEN p.run = p.http_run THEN p.tail_response_lost END) AS jl_response_lost,
  BOOL_OR(CASE WHEN p.run = p.http_run THEN p.tail_unfinished END) AS jl_unfinished,
  BOOL_OR(CASE WHEN p.run = p.http_run THEN p.tail_close_delimited_open END) AS jl_close_delimited_open,
  MAX(CASE WHEN p.run = p.http_run THEN p.tail_request_remaining END) AS jl_request_remaining,
  MAX(CASE WHEN p.run = p.http_run THEN p.tail_response_remaining END) AS jl_response_remaining,
  -- Bytes each side sent after L (the rest of a body), and when the last came.
  SUM(CASE WHEN p.run > p.http_run AND p.run <= p.close_run THEN (CASE WHEN p.flipped THEN p.server_payload_bytes - p.server_retransmitted_bytes ELSE p.client_payload_bytes - p.client_retransmitted_bytes END) END) AS j_later_client_bytes,
  SUM(CASE WHEN p.run > p.http_run AND p.run <= p.close_run THEN (CASE WHEN p.flipped THEN p.client_payload_bytes - p.client_retransmitted_bytes ELSE p.server_payload_bytes - p.server_retransmitted_bytes END) END) AS j_later_server_bytes,
  MAX(CASE WHEN p.run > p.http_run AND p.run <= p.close_run THEN (CASE WHEN p.flipped THEN p.server_last_payload_ns ELSE p.client_last_payload_ns END) END) AS j_later_client_ns,
  MAX(CASE WHEN p.run > p.http_run AND p.run <= p.close_run THEN (CASE WHEN p.flipped THEN p.client_last_payload_ns ELSE p.server_last_payload_ns END) END) AS j_later_server_ns,
  -- For the verdict again of a TLS connection judged from its records
  -- (src/verdict/tls.rs) whose closing piece began after the handshake and
  -- holds no turn of its own: the last turn is the one of the last piece
  -- with turns (T), answered there or by server records at the start of
  -- the pieces after it. Pieces whose sides came out the other way are
  -- not used (their turns are the other side's).
  -- (or the closing piece holds only the FINs or RST: no payload, its own
  -- verdict `no_http`, common when a rotation falls just before the close)
  BOOL_OR(p.run = p.close_run AND (
      (COALESCE(p.close_estimated, FALSE) AND p.tls_handshake = 'not_seen'
       AND COALESCE(p.tls_turns, 0) = 0 AND NOT p.flipped)
      OR (p.tls_handshake IS NULL AND p.close_reason IN ('no_http', 'reset')
          AND p.client_payload_bytes + p.server_payload_bytes = 0))) AS jt_closing,
  MAX(p.tls_run) AS jt_run,
  -- a TLS piece before the closing one past its handshake (with turns or not)
  BOOL_OR(p.run < p.close_run AND p.tls_handshake IN ('complete', 'not_seen')) AS jt_any,
  BOOL_OR(p.run >= p.tls_run AND p.run <= p.close_run AND p.flipped
          AND p.client_payload_bytes + p.server_payload_bytes > 0) AS jt_flipped,
  MAX(CASE WHEN p.run = p.tls_run THEN p.tls_last_server_ns END) AS jt_server_ns,
  MAX(CASE WHEN p.run > p.tls_run AND p.run <= p.close_run THEN p.tls_lead_server_ns END) AS jt_lead_ns,
  -- HTTP/2 (src/verdict/h2.rs): idle_before_close counts from the last
  -- stream activity of all pieces up to the closing one.
  BOOL_OR(p.run = p.close_run AND p.h2_start IS NOT NULL) AS jh_closing,
  -- A closing piece of only the FINs or RST (no payload: too little to
  -- be read as HTTP/2, so its own verdict is `no_http`) after HTTP/2 pieces.
  BOOL_OR(p.run = p.close_run AND p.h2_start IS NULL AND p.close_reason IN ('no_http', 'reset')
          AND p.client_payload_bytes + p.server_payload_bytes = 0) AS jh_bare_close,
  -- the sender of the first GOAWAY of the pieces before the closing one
  MIN_BY(CASE WHEN p.flipped THEN (CASE p.h2_goaway_by WHEN 'client' THEN 'server' WHEN 'server' THEN 'client' END) ELSE p.h2_goaway_by END,
         CASE WHEN p.h2_goaway_by IS NOT NULL AND p.run < p.close_run THEN p.run END) AS jh_goaway_by,
  MAX(CASE WHEN p.run <= p.close_run THEN p.h2_last_activity_ns END) AS jh_last_ns,
  -- streams the last HTTP/2 piece left open: open at a bare close
  MAX(CASE WHEN p.run = p.h2_last_run THEN p.h2_open_streams_at_end END) AS jh_open
FROM closing p
GROUP BY p.sensor, p.community_id, p.piece_group, p.connection_start
),
-- The rules of close_reason() in src/verdict/mod.rs, in its order, over
-- L's last exchange (with C's answer when C only answered L's last request)
-- and C's first close.
facts AS (
  SELECT s.*,
    COALESCE(s.j_http_run IS NOT NULL AND s.jc_requests = 0 AND s.jc_responses = 0, FALSE) AS j_no_http,
    COALESCE(s.j_http_run IS NOT NULL AND s.jc_requests = 0 AND s.jc_responses = 1 AND NOT s.jc_has_request
             AND NOT s.jl_has_response AND s.jl_request_http10 IS NOT NULL, FALSE) AS j_answered,
    -- A Content-Length body cut at L's end ends with the bytes after it, before the close.
    (s.jl_request_remaining IS NOT NULL AND s.j_later_client_bytes >= s.jl_request_remaining
       AND s.j_later_client_ns <= s.j_close_ns) AS j_request_ended,
    (s.jl_response_remaining IS NOT NULL AND s.j_later_server_bytes >= s.jl_response_remaining
       AND s.j_later_server_ns <= s.j_close_ns) AS j_response_ended,
    CASE s.close_by WHEN 'server' THEN s.server_keep_alive_timeout WHEN 'client' THEN s.client_keep_alive_timeout END AS j_timeout,
    COALESCE(s.jt_closing AND (s.jt_run IS NOT NULL OR s.jt_any) AND NOT COALESCE(s.jt_flipped, FALSE) AND s.close_kind IS NOT NULL
             AND s.close_reason IN ('idle', 'mid_message', 'reset', 'no_http'), FALSE) AS t_rejudge,
    (s.jt_server_ns IS NOT NULL OR s.jt_lead_ns IS NOT NULL) AS t_answered,
    GREATEST(s.jt_server_ns, s.jt_lead_ns) AS t_last_ns,
    COALESCE((s.jh_closing OR s.jh_bare_close) AND s.pieces > 1 AND s.close_kind IS NOT NULL AND s.j_close_ns >= s.jh_last_ns, FALSE) AS h_rejudge,
    CASE WHEN s.jh_bare_close THEN (CASE WHEN s.jh_goaway_by IS NOT NULL THEN 'goaway'
                                         WHEN s.close_kind = 'rst' THEN 'reset'
                                         WHEN COALESCE(s.jh_open, 0) > 0 THEN 'mid_message'
                                         ELSE 'idle' END)
         ELSE s.close_reason END AS h_reason,
    ROUND(CAST(s.j_close_ns - s.jh_last_ns AS DOUBLE) / 1e9 * 1e6) / 1e6 AS h_idle
  FROM stitched s
),
judged AS (
  SELECT f.*,
    (f.j_no_http OR (f.j_answered AND f.close_reason IN ('http10', 'connection_close', 'idle'))) AS rejudge,
    CASE WHEN f.j_answered THEN f.jl_request_http10 OR f.jc_response_http10
         ELSE COALESCE(f.jl_request_http10, FALSE) OR COALESCE(f.jl_response_http10, FALSE) END AS j_http10,
    COALESCE(f.jl_request_close, FALSE) AS j_client_close,
    COALESCE(CASE WHEN f.j_answered THEN f.jc_response_close ELSE f.jl_response_close END, FALSE) AS j_server_close,
    COALESCE(CASE WHEN f.j_answered THEN f.jc_response_close_delimited ELSE f.jl_response_close_delimited END, FALSE) AS j_close_delimited,
    COALESCE(NOT f.j_answered AND f.jl_response_lost, FALSE) AS j_response_lost,
    -- unfinished_at(): a close-delimited response is ended by the server's FIN.
    CASE WHEN f.j_answered THEN FALSE
         ELSE f.jl_unfinished
           OR (f.jl_request_remaining IS NOT NULL AND NOT COALESCE(f.j_request_ended, FALSE))
           OR (f.jl_response_remaining IS NOT NULL AND NOT COALESCE(f.j_response_ended, FALSE))
           OR (f.jl_close_delimited_open AND NOT (f.close_by = 'server' AND f.close_kind = 'fin')) END AS j_outstanding,
    -- secs(): nanoseconds to seconds, rounded to microseconds, from the
    -- last message's end (a body's end after L: its last bytes; a
    -- close-delimited response's: the server's FIN).
    CASE WHEN f.j_answered THEN f.jc_idle_before_close
         ELSE (CASE WHEN f.j_close_ns >= GREATEST(f.jl_last_ns, CASE WHEN f.j_request_ended THEN f.j_later_client_ns END, CASE WHEN f.j_response_ended THEN f.j_later_server_ns END, CASE WHEN f.jl_close_delimited_open AND f.close_by = 'server' AND f.close_kind = 'fin' THEN f.j_close_ns END)
               THEN ROUND(CAST(f.j_close_ns - GREATEST(f.jl_last_ns, CASE WHEN f.j_request_ended THEN f.j_later_client_ns END, CASE WHEN f.j_response_ended THEN f.j_later_server_ns END, CASE WHEN f.jl_close_delimited_open AND f.close_by = 'server' AND f.close_kind = 'fin' THEN f.j_close_ns END) AS DOUBLE) / 1e9 * 1e6) / 1e6 END) END AS j_idle
  FROM facts f
),
verdicts AS (
  SELECT j.*,
    CASE WHEN j.j_upgraded_before THEN 'upgraded'
         WHEN j.close_kind IS NULL THEN j.close_reason
         WHEN j.close_kind = 'rst' THEN 'reset'
         WHEN j.j_outstanding THEN 'mid_message'
         WHEN j.j_http10 THEN 'http10'
         WHEN j.j_client_close OR j.j_server_close OR j.j_close_delimited THEN 'connection_close'
         ELSE 'idle' END AS j_reason,
    -- no turn in any piece: closed after the handshake, nothing asked
    CASE WHEN j.close_kind = 'rst' THEN 'reset'
         WHEN j.jt_run IS NULL THEN 'idle'
         WHEN NOT j.t_answered THEN 'mid_message'
         ELSE 'idle' END AS t_reason,
    CASE WHEN j.jt_run IS NOT NULL AND j.t_answered AND j.j_close_ns >= j.t_last_ns
         THEN ROUND(CAST(j.j_close_ns - j.t_last_ns AS DOUBLE) / 1e9 * 1e6) / 1e6 END AS t_idle
  FROM judged j
)
SELECT
  v.sensor,
  v.community_id,
  v.start,
  v.{q}end{q},
  v.duration,
  v.pieces,
  v.first_run,
  v.last_run,
  v.first_id,
  v.client_addr,
  v.client_port,
  v.server_addr,
  v.server_port,
  v.roles_from,
  v.handshake_state,
  v.handshake_complete,
  v.handshake_rtt,
  v.requests,
  v.responses,
  v.reused,
  v.max_outstanding,
  v.upgraded,
  v.first_close_by,
  v.first_close_kind,
  CASE WHEN v.rejudge THEN v.j_reason WHEN v.t_rejudge THEN v.t_reason WHEN v.h_rejudge THEN v.h_reason ELSE v.close_reason END AS close_reason,
  CASE WHEN v.h_rejudge AND v.jh_bare_close AND v.h_reason = 'goaway' THEN v.jh_goaway_by ELSE v.close_by END AS close_by,
  v.close_kind,
  CASE WHEN NOT v.rejudge THEN v.close_said_by
       WHEN v.j_reason <> 'connection_close' THEN NULL
       WHEN v.j_client_close AND v.j_server_close THEN 'both'
       WHEN v.j_client_close THEN 'client' ELSE 'server' END AS close_said_by,
  CASE WHEN v.t_rejudge THEN (CASE WHEN v.t_reason = 'idle' THEN v.t_idle END)
       WHEN v.h_rejudge THEN (CASE WHEN v.h_reason = 'idle' THEN v.h_idle END)
       WHEN NOT v.rejudge THEN v.close_idle_seconds
       WHEN v.j_reason = 'idle' AND NOT v.j_response_lost THEN v.j_idle END AS close_idle_seconds,
  CASE WHEN NOT v.rejudge THEN v.close_advertised_timeout
       WHEN v.j_reason = 'idle' AND NOT v.j_response_lost THEN v.j_timeout END AS close_advertised_timeout,
  CASE WHEN NOT v.rejudge THEN v.close_matches_timeout
       WHEN v.j_reason = 'idle' AND NOT v.j_response_lost AND v.j_idle IS NOT NULL AND v.j_timeout IS NOT NULL
         THEN v.j_idle >= v.j_timeout - GREATEST(0.25, 0.02 * v.j_timeout) AND v.j_idle <= v.j_timeout + GREATEST(2.5, 0.1 * v.j_timeout) END AS close_matches_timeout,
  CASE WHEN v.t_rejudge THEN (CASE v.t_reason WHEN 'reset' THEN v.jt_run IS NOT NULL AND NOT v.t_answered WHEN 'mid_message' THEN TRUE END)
       WHEN v.h_rejudge AND v.jh_bare_close THEN (CASE v.h_reason WHEN 'reset' THEN COALESCE(v.jh_open, 0) > 0 WHEN 'mid_message' THEN TRUE
                                                   WHEN 'goaway' THEN (CASE WHEN COALESCE(v.jh_open, 0) > 0 THEN TRUE END) END)
       WHEN NOT v.rejudge THEN v.close_request_outstanding
       WHEN v.j_reason = 'reset' THEN v.j_outstanding
       WHEN v.j_reason = 'mid_message' THEN TRUE END AS close_request_outstanding,
  v.idle_between_requests_min,
  v.idle_between_requests_max,
  CASE WHEN v.t_rejudge THEN (CASE WHEN v.t_reason = 'idle' THEN v.t_idle END)
       WHEN v.h_rejudge THEN v.h_idle
       WHEN NOT v.rejudge THEN v.idle_before_close
       WHEN v.j_reason <> 'upgraded' THEN v.j_idle END AS idle_before_close,
  v.server_keep_alive_timeout,
  v.server_keep_alive_max,
  v.client_keep_alive_timeout,
  v.client_packets,
  v.server_packets,
  v.client_payload_bytes,
  v.server_payload_bytes,
  v.client_retransmitted_bytes,
  v.server_retransmitted_bytes,
  v.client_gap_bytes,
  v.server_gap_bytes,
  v.half_closed_by,
  v.anomalies,
  -- The closing piece's sentence is about that piece alone: none where
  -- the verdict was judged again (the columns above carry its facts).
  CASE WHEN v.rejudge OR v.t_rejudge OR v.h_rejudge THEN NULL ELSE v.close_explanation END AS close_explanation,
  v.open_at_start,
  v.open_at_end
FROM verdicts v

-- part: exchanges
numbered AS (
  SELECT p.sensor, p.community_id, p.piece_group, p.connection_start, p.run, p.id AS piece_id,
    e.trans_depth AS piece_trans_depth,
    CASE WHEN p.flipped THEN e.server ELSE e.client END AS client,
    CASE WHEN p.flipped THEN e.client ELSE e.server END AS server,
    e.method,
    e.target,
    e.request_version,
    e.request_frame,
    e.request_connection,
    e.request_persistence,
    e.request_framing,
    e.request_body_bytes,
    e.request_complete,
    e.expect_continue,
    e.status,
    e.reason,
    e.response_version,
    e.interim_statuses,
    e.persistent,
    e.response_lost_in_gap,
    e.response_frame,
    e.response_connection,
    e.response_persistence,
    e.response_keep_alive_timeout,
    e.response_keep_alive_max,
    e.response_framing,
    e.response_content_length,
    e.response_transfer_encoding,
    e.response_body_bytes,
    e.response_complete,
    e.request_start + (p.start - p.connection_start) AS request_start,
    e.request_end + (p.start - p.connection_start) AS request_end,
    e.response_start + (p.start - p.connection_start) AS response_start,
    e.response_end + (p.start - p.connection_start) AS response_end,
    e.stream_id,
    e.open_at_end,
    ROW_NUMBER() OVER (PARTITION BY p.sensor, p.community_id, p.piece_group ORDER BY p.run, e.trans_depth) AS seq
  FROM {exchanges} e
  JOIN pieces p ON e.sensor = p.sensor AND e.run = p.run AND e.connection_id = p.id
  WHERE NOT p.tunnel_before
),
-- The pairing key: the HTTP/2 stream, or NULL for HTTP/1. An HTTP/1
-- `Upgrade: h2c` request (Connection lists HTTP2-Settings) left unanswered
-- in its piece becomes stream 1 (RFC 9113 section 3.2) when a later piece
-- holds stream 1's response without its request (that piece began after
-- the request, with the 101).
keyed AS (
  SELECT n.*,
    COALESCE(n.stream_id,
      CASE WHEN n.method IS NOT NULL AND n.status IS NULL
        AND LOWER(n.request_connection) LIKE '%http2-settings%'
        AND n.run < MAX(CASE WHEN n.stream_id = 1 AND n.method IS NULL AND n.status IS NOT NULL THEN n.run END)
          OVER (PARTITION BY n.sensor, n.community_id, n.piece_group)
      THEN 1 END) AS pkey
  FROM numbered n
),
-- An exchange cut by a run boundary: its request in one piece (no
-- response), its response first in the next (no request): for HTTP/1 the
-- next exchange, for HTTP/2 the same stream (pkey is NULL for HTTP/1
-- rows, so they partition together). The two rows become one: the request
-- row takes the response's columns and its place (one run lists HTTP/1
-- exchanges in order and HTTP/2 streams as they finish).
linked AS (
  SELECT n.*,
    (n.method IS NULL AND n.status IS NOT NULL AND LAG(n.method) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) IS NOT NULL
      AND LAG(n.status) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) IS NULL AND LAG(n.run) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) < n.run) AS absorbed,
    (n.method IS NOT NULL AND n.status IS NULL AND LEAD(n.method) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) IS NULL
      AND LEAD(n.status) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) IS NOT NULL AND LEAD(n.run) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) > n.run) AS absorbs,
    LEAD(n.status) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_status,
    LEAD(n.reason) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_reason,
    LEAD(n.response_version) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_version,
    LEAD(n.interim_statuses) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_interim_statuses,
    LEAD(n.persistent) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_persistent,
    LEAD(n.response_lost_in_gap) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_lost_in_gap,
    LEAD(n.response_frame) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_frame,
    LEAD(n.response_connection) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_connection,
    LEAD(n.response_persistence) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_persistence,
    LEAD(n.response_keep_alive_timeout) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_keep_alive_timeout,
    LEAD(n.response_keep_alive_max) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_keep_alive_max,
    LEAD(n.response_framing) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_framing,
    LEAD(n.response_content_length) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_content_length,
    LEAD(n.response_transfer_encoding) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_transfer_encoding,
    LEAD(n.response_body_bytes) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_body_bytes,
    LEAD(n.response_complete) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_complete,
    LEAD(n.response_start) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_start,
    LEAD(n.response_end) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_response_end,
    LEAD(n.request_end) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_request_end,
    LEAD(n.open_at_end) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_open_at_end,
    LEAD(n.seq) OVER (PARTITION BY n.sensor, n.community_id, n.piece_group, n.pkey ORDER BY n.seq) AS next_seq
  FROM keyed n
)
SELECT
  l.sensor,
  l.community_id,
  l.connection_start,
  l.run,
  l.piece_id,
  l.piece_trans_depth,
  -- HTTP/2 streams a piece left open unanswered, not answered in a later
  -- one either, go last (one run hands them out at its end)
  ROW_NUMBER() OVER (PARTITION BY l.sensor, l.community_id, l.piece_group ORDER BY
    CASE WHEN l.absorbs THEN l.next_seq
      WHEN l.stream_id IS NOT NULL AND l.open_at_end AND l.status IS NULL THEN l.seq + 4000000000
      ELSE l.seq END) AS trans_depth,
  l.client,
  l.server,
  l.method,
  l.target,
  l.request_version,
  CASE WHEN l.absorbs THEN l.next_status ELSE l.status END AS status,
  CASE WHEN l.absorbs THEN l.next_reason ELSE l.reason END AS reason,
  CASE WHEN l.absorbs THEN l.next_response_version ELSE l.response_version END AS response_version,
  CASE WHEN l.absorbs THEN l.next_interim_statuses ELSE l.interim_statuses END AS interim_statuses,
  CASE WHEN l.absorbs THEN l.next_persistent ELSE l.persistent END AS persistent,
  CASE WHEN l.absorbs THEN l.next_response_lost_in_gap ELSE l.response_lost_in_gap END AS response_lost_in_gap,
  l.request_frame,
  l.request_connection,
  l.request_persistence,
  l.request_framing,
  l.request_body_bytes,
  -- an HTTP/2 request whose END_STREAM is in the response's piece
  CASE WHEN l.absorbs AND l.next_request_end IS NOT NULL THEN TRUE ELSE l.request_complete END AS request_complete,
  l.expect_continue,
  CASE WHEN l.absorbs THEN l.next_response_frame ELSE l.response_frame END AS response_frame,
  CASE WHEN l.absorbs THEN l.next_response_connection ELSE l.response_connection END AS response_connection,
  CASE WHEN l.absorbs THEN l.next_response_persistence ELSE l.response_persistence END AS response_persistence,
  CASE WHEN l.absorbs THEN l.next_response_keep_alive_timeout ELSE l.response_keep_alive_timeout END AS response_keep_alive_timeout,
  CASE WHEN l.absorbs THEN l.next_response_keep_alive_max ELSE l.response_keep_alive_max END AS response_keep_alive_max,
  CASE WHEN l.absorbs THEN l.next_response_framing ELSE l.response_framing END AS response_framing,
  CASE WHEN l.absorbs THEN l.next_response_content_length ELSE l.response_content_length END AS response_content_length,
  CASE WHEN l.absorbs THEN l.next_response_transfer_encoding ELSE l.response_transfer_encoding END AS response_transfer_encoding,
  CASE WHEN l.absorbs THEN l.next_response_body_bytes ELSE l.response_body_bytes END AS response_body_bytes,
  CASE WHEN l.absorbs THEN l.next_response_complete ELSE l.response_complete END AS response_complete,
  l.request_start,
  CASE WHEN l.absorbs THEN COALESCE(l.request_end, l.next_request_end) ELSE l.request_end END AS request_end,
  CASE WHEN l.absorbs THEN l.next_response_start ELSE l.response_start END AS response_start,
  CASE WHEN l.absorbs THEN l.next_response_end ELSE l.response_end END AS response_end,
  l.pkey AS stream_id,
  CASE WHEN l.absorbs THEN l.next_open_at_end ELSE l.open_at_end END AS open_at_end
FROM linked l
WHERE NOT l.absorbed
