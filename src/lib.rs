//! httpreuse: how HTTP/1.x connections in a packet capture were reused.
//!
//! ```text
//! capture file(s)
//!   -> Frame      {index, ts, linktype, bytes, orig_len}      capture/
//!   -> Segment    {addrs, seq, ack, flags, payload}           decode
//!   -> Connection (roles, handshake, teardown, history)       tcp/
//!   -> StreamEvent::{Data, Gap, Fin, Reset}                   tcp/reassembly
//!   -> AppSession: protocol sniffed from the first bytes      app/
//!      (TLS: records -> TlsFacts, decrypted plaintext ->      tls/, app/tls
//!       the HTTP/1 session, with a key log)
//!   -> Exchange   {request, response, framing, timings}       http/
//!   -> ConnectionReport -> Report -> text | json              report/
//! ```
//!
//! Data flows one way; every stage is a state machine handed its input. No
//! stage reads a clock: time comes from frame timestamps, so a report is a
//! pure function of the capture. Only [`analyzer`] wires the stages together.

pub mod analyzer;
pub mod anomaly;
pub mod app;
pub mod capture;
pub mod check;
pub mod cli;
pub mod clock;
pub mod community_id;
pub mod decode;
pub mod defrag;
pub mod diff;
pub mod engine;
pub mod expr;
pub mod filter;
pub mod http;
pub mod http2;
pub mod progress;
pub mod report;
pub mod tcp;
pub mod threads;
pub mod tls;
pub mod types;
pub mod verdict;
