//! Progress on standard error while a capture is read: bytes read of the
//! total (the inputs' sizes, when all are regular files), frames per
//! second, connections open, time left.
//!
//! Shown only when standard error is a terminal, never with `--quiet`.
//! The analysis calls [`Meter::update`] every
//! [`PROGRESS_EVERY`](crate::analyzer::PROGRESS_EVERY) frames; the bar is
//! redrawn at most every [`REDRAW`] (indicatif also limits its own redraws
//! to 20 a second), so the frame loop pays one counter per frame.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::analyzer::Progress;

/// Least time between two updates of the bar.
pub const REDRAW: Duration = Duration::from_millis(100);

/// A progress bar on standard error, or nothing.
pub struct Meter {
    bar: Option<ProgressBar>,
    start: Instant,
    last: Instant,
}

impl Meter {
    /// A bar if standard error is a terminal and not `quiet`; else a meter
    /// that shows nothing.
    pub fn new(quiet: bool, total: Option<u64>) -> Meter {
        let show = !quiet && std::io::stderr().is_terminal();
        Meter::with(show, total)
    }

    /// A meter that shows nothing.
    pub fn hidden() -> Meter {
        Meter::with(false, None)
    }

    fn with(show: bool, total: Option<u64>) -> Meter {
        let bar = show.then(|| {
            let target = ProgressDrawTarget::stderr_with_hz(10);
            let (bar, template) = match total {
                Some(t) => (
                    ProgressBar::with_draw_target(Some(t), target),
                    "{bytes}/{total_bytes} [{bar:30}] {msg}, {eta} left",
                ),
                None => (
                    ProgressBar::with_draw_target(None, target),
                    "{spinner} {bytes} read, {msg}",
                ),
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        let now = Instant::now();
        Meter {
            bar,
            start: now,
            last: now,
        }
    }

    /// Whether anything is shown.
    pub fn shown(&self) -> bool {
        self.bar.is_some()
    }

    /// Takes a progress report (cheap when nothing is shown, or when the
    /// last update is less than [`REDRAW`] ago).
    pub fn update(&mut self, p: Progress) {
        let Some(bar) = &self.bar else {
            return;
        };
        let now = Instant::now();
        if now.duration_since(self.last) < REDRAW {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.start).as_secs_f64();
        let fps = if secs > 0.0 {
            p.frames as f64 / secs
        } else {
            0.0
        };
        bar.set_message(format!(
            "{} frames/s, {} connections open",
            human_count(fps),
            p.open_connections
        ));
        bar.set_position(p.bytes_read);
    }

    /// Removes the bar (before the report or a warning is written).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.finish();
    }
}

/// 1234567 -> "1.23M".
fn human_count(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(human_count(5.7e6), "5.70M");
        assert_eq!(human_count(12_345.0), "12.3k");
        assert_eq!(human_count(7.0), "7");
    }

    #[test]
    fn quiet_shows_nothing() {
        assert!(!Meter::new(true, Some(10)).shown());
        assert!(!Meter::hidden().shown());
    }
}
