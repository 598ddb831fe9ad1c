//! Pairs requests and responses of one connection.

use crate::http::{Exchange, HttpStats};
use crate::tcp::StreamEvent;
use crate::types::{Anomaly, At, Dir};

/// HTTP state of one connection: a parser per direction and the exchanges
/// seen so far.
pub struct HttpSession {
    _private: (),
}

impl Default for HttpSession {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpSession {
    pub fn new() -> Self {
        unimplemented!("http session")
    }

    /// One stream event from the TCP layer; `at` is the frame that released it.
    pub fn on_event(&mut self, _dir: Dir, _ev: StreamEvent<'_>, _at: At) {
        unimplemented!("http session")
    }

    /// No more events will come (connection over or capture ended): a
    /// close-delimited body that ran to here is complete, others are not.
    pub fn finish(&mut self, _at: At) {
        unimplemented!("http session")
    }

    /// Exchanges in request order (responses without a captured request
    /// take their place in response order).
    pub fn exchanges(&self) -> &[Exchange] {
        unimplemented!("http session")
    }

    pub fn stats(&self) -> &HttpStats {
        unimplemented!("http session")
    }

    /// HTTP-level anomalies (unparseable head, CL with chunked, body cut
    /// short at close, response without request, ...).
    pub fn anomalies(&self) -> &[Anomaly] {
        unimplemented!("http session")
    }
}
