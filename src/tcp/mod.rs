//! TCP: connections keyed by five-tuple, handshake and teardown accounting,
//! and per-direction stream reassembly.

pub mod connection;
pub mod flow;
pub mod reassembly;
pub mod seq;

pub use connection::Connection;
pub use flow::{FlowTable, RoleHint, TcpConfig, Tracked};
pub use reassembly::{Reassembler, StreamEvent};

#[cfg(test)]
mod tests;
