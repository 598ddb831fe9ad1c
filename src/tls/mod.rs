//! TLS: what a TLS connection shows on the wire, and its application data
//! when a key log has the secrets.
//!
//! A self-contained engine, fed like the HTTP parser by the TCP layer's
//! [`StreamEvent`](crate::tcp::StreamEvent)s in stream order per direction:
//!
//! ```text
//! tcp::StreamEvent ──> TlsSession ──> facts() / anomalies()
//!                          │
//!                          └──> PlainEvent::{Data, Gap, End}  (decrypted
//!                               application data, per direction, to the
//!                               HTTP analysis)
//! ```
//!
//! ```no_run
//! use std::sync::Arc;
//! use httpreuse::tls::{KeyLog, PlainEvent, TlsSession};
//! # use httpreuse::{tcp::StreamEvent, types::{At, Dir}};
//! # let (dir, ev, at): (Dir, StreamEvent<'_>, At) = todo!();
//! let keys = Arc::new(KeyLog::parse(&std::fs::read("sslkeys.log").unwrap(), "sslkeys.log"));
//! let mut tls = TlsSession::new(Some(keys));
//! // for every stream event of the connection:
//! tls.on_event(dir, ev, at, &mut |d, p, at| match p {
//!     PlainEvent::Data(bytes) => { /* hand to the HTTP parser */ }
//!     PlainEvent::Gap(n) => { /* n plaintext bytes missing */ }
//!     PlainEvent::End => { /* no more plaintext in direction d */ }
//! });
//! // when the connection is concluded:
//! tls.finish(at, &mut |_, _, _| {});
//! let facts = tls.facts(); // serde::Serialize, the report's `tls` object
//! ```
//!
//! # API
//!
//! * [`KeyLog`]: the NSS key log format (`SSLKEYLOGFILE`): `CLIENT_RANDOM`
//!   (TLS 1.2 master secret), `CLIENT_EARLY_TRAFFIC_SECRET`,
//!   `CLIENT_HANDSHAKE_TRAFFIC_SECRET`, `SERVER_HANDSHAKE_TRAFFIC_SECRET`,
//!   `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0`; `EXPORTER_SECRET`
//!   ignored. [`KeyLog::parse`] (bytes + source name), [`KeyLog::add`],
//!   [`KeyLog::merge`], [`KeyLog::from_pcapng_dsb`] (a Decryption Secrets
//!   Block body), [`KeyLog::lookup`] by client random. Malformed lines are
//!   counted with their line numbers ([`KeyLog::malformed`]), never fatal.
//! * [`TlsSession`]: `new(Option<Arc<KeyLog>>)`, `on_event(dir, ev, at,
//!   plain)`, `finish(at, plain)`, `facts()`, `anomalies()`.
//! * [`TlsFacts`]: the per-connection facts (version, sni, alpn_offered,
//!   alpn + alpn_hidden, cipher, resumed + resumed_how, early_data,
//!   hello_retry, handshake outcome + alert, records / bytes per side,
//!   turns, idle_between_turns, last_turn, close_notify, decrypted +
//!   decrypt_error). [`LastTurn`] carries the [`At`](crate::types::At)s a
//!   verdict needs (`idle` seconds = close time − the last record;
//!   `mid_message` = a client turn not answered).
//!
//! # Without keys
//!
//! Only handshake records are buffered and parsed (tls-parser for
//! ClientHello and ServerHello, bounded buffers); application records are
//! skipped by length without copying. TLS 1.3 hides everything after the
//! ServerHello in records of type 23, so the engine classifies them by
//! place and size:
//!
//! * server records after the ServerHello: its handshake flight, which
//!   ends with a record of exactly the Finished size (header, hash-sized
//!   verify_data, type and tag: 53 or 69 bytes) after at least one other,
//!   or at the client's Finished; server records between the two are
//!   0.5-RTT data (answers to 0-RTT requests sent before the client's
//!   Finished);
//! * the client's first protected record after the ServerHello: its
//!   Finished (handshake complete). Client certificates would add records
//!   there; they are not told apart. With 0-RTT offered, a 21-byte record
//!   first is EndOfEarlyData (so the server accepted 0-RTT);
//! * a 19-byte record (2-byte alert + type + 16-byte tag, unpadded): an
//!   alert: during the handshake a failure (`description: "encrypted"`),
//!   after it a close_notify (`close_notify.estimated: true`); a 22-byte
//!   record after the handshake: a KeyUpdate (not application data);
//! * server records after the handshake but before the client's first
//!   application record: NewSessionTicket messages, not a turn (an HTTP
//!   server never speaks first).
//!
//! TLS 1.2 keeps record types visible: type 21 after ChangeCipherSpec is an
//! encrypted alert (close_notify once the handshake is complete), type 22
//! the encrypted Finished.
//!
//! `turns` counts runs of client application records followed by server
//! application records: one per request/response exchange on a sequential
//! (not pipelined) connection.
//!
//! # With keys
//!
//! Decrypted: TLS 1.2 AES-128-GCM, AES-256-GCM (SHA-384 PRF) and
//! ChaCha20-Poly1305 from `CLIENT_RANDOM`; TLS 1.3 `TLS_AES_128_GCM_SHA256`,
//! `TLS_AES_256_GCM_SHA384`, `TLS_CHACHA20_POLY1305_SHA256` from the
//! traffic secrets, with HelloRetryRequest, KeyUpdate, PSK resumption and
//! 0-RTT (`CLIENT_EARLY_TRAFFIC_SECRET`; early plaintext is held, bounded,
//! until EncryptedExtensions says whether the server accepted it, and
//! dropped if not, as the server dropped it; without the early secret the
//! early records are skipped: they do not open with the handshake key).
//! Anything else (CBC, CCM, NULL suites; TLS 1.0/1.1; renegotiation) is
//! analysed as without keys, with `decrypt_error` saying why. Decrypted
//! bytes and keys are never logged or written: they go to the callback
//! only.
//!
//! # Anomalies
//!
//! The anomaly catalogue ([`crate::anomaly`]) lists every kind with its meaning; at most
//! [`MAX_ANOMALIES`] are kept per session, all are counted.

pub mod crypto;
pub mod facts;
pub mod keylog;
pub mod session;

pub use facts::{
    AlertFact, Anomaly, CloseNotify, EarlyData, LastTurn, MAX_ANOMALIES, MinMax, TlsFacts,
};
pub use keylog::{DsbError, KeyLog, Malformed, Secrets};
pub use session::{PlainEvent, PlainSink, TlsSession};

#[cfg(test)]
mod tests;
