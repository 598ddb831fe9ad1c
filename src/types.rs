//! Small value types shared by every stage of the pipeline.

use std::fmt;

/// A capture timestamp: nanoseconds since the Unix epoch, as written in the
/// capture file. No stage reads a clock; all time comes from here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const fn from_nanos(ns: u64) -> Self {
        Timestamp(ns)
    }

    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds since the epoch as a float (for reports).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// `self - earlier` in nanoseconds, 0 if `earlier` is later (captures
    /// are not always in time order).
    pub fn nanos_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// `self - earlier` in seconds, 0.0 if `earlier` is later.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        self.nanos_since(earlier) as f64 / 1e9
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

/// A short string kept inline up to 24 bytes (methods, targets, reasons,
/// header tokens are nearly always shorter), so that a message head does
/// not allocate one heap block per string: the allocator was a tenth of the
/// analysis.
pub type Text = compact_str::CompactString;

/// `a` as `Display` writes it (`127.0.0.1:80`, `[::1]:80`), IPv4 without
/// the formatting machinery: every connection report names both ends, and
/// `to_string` took 1,700 instructions an address, 3% of a `--brief` run
/// of many short connections.
pub fn addr_text(a: std::net::SocketAddr) -> String {
    fn push_decimal(s: &mut String, mut v: u32) {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 || i == 0 {
                break;
            }
        }
        for &d in digits.get(i..).unwrap_or_default() {
            s.push(char::from(d));
        }
    }
    match a {
        std::net::SocketAddr::V4(v4) => {
            let mut s = String::with_capacity(21);
            for (i, o) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                push_decimal(&mut s, u32::from(o));
            }
            s.push(':');
            push_decimal(&mut s, u32::from(v4.port()));
            s
        }
        std::net::SocketAddr::V6(_) => a.to_string(),
    }
}

/// Frame number, 1-based, counted across all inputs of one run in the
/// order they are read (for a single file it is Wireshark's `frame.number`).
pub type FrameNo = u64;

/// Where and when something happened: the frame that carried it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct At {
    pub frame: FrameNo,
    pub ts: Timestamp,
}

/// Direction of a byte stream relative to the connection's roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// Client to server: requests travel this way.
    ToServer,
    /// Server to client: responses travel this way.
    ToClient,
}

impl Dir {
    pub fn index(self) -> usize {
        match self {
            Dir::ToServer => 0,
            Dir::ToClient => 1,
        }
    }

    pub fn reverse(self) -> Dir {
        match self {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        }
    }

    /// The role that sends in this direction.
    pub fn sender(self) -> Role {
        match self {
            Dir::ToServer => Role::Client,
            Dir::ToClient => Role::Server,
        }
    }
}

/// One end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Server,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }

    /// The direction in which this role sends.
    pub fn sends(self) -> Dir {
        match self {
            Role::Client => Dir::ToServer,
            Role::Server => Dir::ToClient,
        }
    }

    pub fn other(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pair of counters, one per role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PerRole<T> {
    pub client: T,
    pub server: T,
}

impl<T> PerRole<T> {
    pub fn get(&self, r: Role) -> &T {
        match r {
            Role::Client => &self.client,
            Role::Server => &self.server,
        }
    }
    pub fn get_mut(&mut self, r: Role) -> &mut T {
        match r {
            Role::Client => &mut self.client,
            Role::Server => &mut self.server,
        }
    }
}

/// Something unusual in the traffic, recorded as data (Zeek's weird.log),
/// never as a log line. `kind` is a stable snake_case key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Anomaly {
    pub kind: crate::anomaly::AnomalyKind,
    pub frame: FrameNo,
    #[serde(skip)]
    pub ts: Timestamp,
    /// The role whose traffic shows it, where that means something.
    pub by: Option<Role>,
    pub detail: String,
}

/// Most anomalies one connection keeps in detail; past this only counts grow.
pub const MAX_ANOMALIES_PER_CONNECTION: usize = 64;

/// Declares a closed vocabulary: a fieldless enum whose variants each have a
/// stable name. The name is what the JSON report writes (serialised as a
/// string), maps keyed by the enum order by that name (so JSON maps list
/// keys alphabetically, as string keys did), and `ALL` lists every variant
/// so renderers and the README can enumerate the vocabulary.
#[macro_export]
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stable name (the JSON value).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// The variant with this name.
            pub fn from_name(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.name() == s)
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.name().cmp(other.name())
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
    };
}

/// Seconds between two instants, rounded to microseconds (0 if `later` is
/// earlier).
pub fn secs(later: At, earlier: At) -> f64 {
    round_us(later.ts.secs_since(earlier.ts))
}

/// Rounds seconds to microseconds (what the JSON report writes).
pub fn round_us(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// `2.0 s`, `12.3 ms`, `85 µs`: a duration as people read it.
pub fn human_secs(x: f64) -> String {
    if x >= 1.0 {
        format!("{x:.1} s")
    } else if x >= 0.001 {
        format!("{:.1} ms", x * 1e3)
    } else {
        format!("{:.0} µs", x * 1e6)
    }
}

#[cfg(test)]
mod addr_text_tests {
    #[test]
    fn addresses_read_as_display_writes_them() {
        for a in [
            "0.0.0.0:0",
            "127.0.0.1:80",
            "10.20.30.40:65535",
            "255.255.255.255:8080",
            "1.2.3.4:9",
            "[::1]:443",
            "[fe80::1%3]:22",
            "[2001:db8::ff00:42:8329]:65535",
        ] {
            let addr: std::net::SocketAddr = a.parse().unwrap_or_else(|_| panic!("{a}"));
            assert_eq!(super::addr_text(addr), addr.to_string());
        }
    }
}
