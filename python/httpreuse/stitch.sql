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
               OR o.start - o.prev_end <= {close_linger})
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
    FIRST_VALUE(g.client_addr) OVER (PARTITION BY g.sensor, g.community_id, g.piece_group ORDER BY g.run
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS first_client_addr,
    FIRST_VALUE(g.client_port) OVER (PARTITION BY g.sensor, g.community_id, g.piece_group ORDER BY g.run
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS first_client_port
  FROM grouped g
),
pieces AS (
  SELECT f.*,
    NOT (f.client_addr = f.first_client_addr AND f.client_port = f.first_client_port) AS flipped
  FROM firsts f
)

-- part: connections
SELECT
  p.sensor,
  p.community_id,
  p.connection_start AS start,
  MAX(p.{q}end{q}) AS {q}end{q},
  MAX(p.{q}end{q}) - p.connection_start AS duration,
  COUNT(*) AS pieces,
  MIN(p.run) AS first_run,
  MAX(p.run) AS last_run,
  MIN_BY(p.id, p.run) AS first_id,
  MIN_BY(p.client_addr, p.run) AS client_addr,
  MIN_BY(p.client_port, p.run) AS client_port,
  MIN_BY(p.server_addr, p.run) AS server_addr,
  MIN_BY(p.server_port, p.run) AS server_port,
  MIN_BY(p.roles_from, p.run) AS roles_from,
  MIN_BY(p.handshake_state, p.run) AS handshake_state,
  MIN_BY(p.handshake_complete, p.run) AS handshake_complete,
  MIN_BY(p.handshake_rtt, p.run) AS handshake_rtt,
  CAST(SUM(p.requests) AS BIGINT) AS requests,
  CAST(SUM(p.responses) AS BIGINT) AS responses,
  SUM(p.requests) > 1 AS reused,
  MAX(p.max_outstanding) AS max_outstanding,
  BOOL_OR(p.upgraded) AS upgraded,
  MIN_BY(CASE WHEN p.flipped THEN (CASE p.first_close_by WHEN 'client' THEN 'server' WHEN 'server' THEN 'client' END) ELSE p.first_close_by END,
         CASE WHEN p.first_close_by IS NOT NULL THEN p.run END) AS first_close_by,
  MIN_BY(p.first_close_kind, CASE WHEN p.first_close_kind IS NOT NULL THEN p.run END) AS first_close_kind,
  MAX_BY(p.close_reason, p.run) AS close_reason,
  MAX_BY(CASE WHEN p.flipped THEN (CASE p.close_by WHEN 'client' THEN 'server' WHEN 'server' THEN 'client' END) ELSE p.close_by END, p.run) AS close_by,
  MAX_BY(p.close_kind, p.run) AS close_kind,
  MAX_BY(CASE WHEN p.flipped THEN (CASE p.close_said_by WHEN 'client' THEN 'server' WHEN 'server' THEN 'client' ELSE p.close_said_by END) ELSE p.close_said_by END, p.run) AS close_said_by,
  MAX_BY(p.close_idle_seconds, p.run) AS close_idle_seconds,
  MAX_BY(p.close_advertised_timeout, p.run) AS close_advertised_timeout,
  MAX_BY(p.close_matches_timeout, p.run) AS close_matches_timeout,
  MAX_BY(p.close_request_outstanding, p.run) AS close_request_outstanding,
  MIN(p.idle_between_requests_min) AS idle_between_requests_min,
  MAX(p.idle_between_requests_max) AS idle_between_requests_max,
  MAX_BY(p.idle_before_close, p.run) AS idle_before_close,
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
  MAX_BY(p.close_explanation, p.run) AS close_explanation,
  MIN_BY(p.open_at_start, p.run) AS open_at_start,
  MAX_BY(p.open_at_end, p.run) AS open_at_end
FROM pieces p
GROUP BY p.sensor, p.community_id, p.piece_group, p.connection_start

-- part: exchanges
SELECT
  p.sensor,
  p.community_id,
  p.connection_start,
  p.run,
  p.id AS piece_id,
  e.trans_depth AS piece_trans_depth,
  ROW_NUMBER() OVER (PARTITION BY p.sensor, p.community_id, p.piece_group ORDER BY p.run, e.trans_depth) AS trans_depth,
  CASE WHEN p.flipped THEN e.server ELSE e.client END AS client,
  CASE WHEN p.flipped THEN e.client ELSE e.server END AS server,
  e.method,
  e.target,
  e.request_version,
  e.status,
  e.reason,
  e.response_version,
  e.interim_statuses,
  e.persistent,
  e.response_lost_in_gap,
  e.request_frame,
  e.request_connection,
  e.request_persistence,
  e.request_framing,
  e.request_body_bytes,
  e.request_complete,
  e.expect_continue,
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
  e.response_end + (p.start - p.connection_start) AS response_end
FROM {exchanges} e
JOIN pieces p ON e.sensor = p.sensor AND e.run = p.run AND e.connection_id = p.id
