//! A one-line progress display on stderr (`fetch`: bytes of total and rate; `replay`: records
//! processed), drawn only when stderr is a terminal so logs and pipes stay quiet.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

/// Least time between two redraws: a progress line is for eyes, not for every chunk.
const REDRAW_EVERY: Duration = Duration::from_millis(150);

/// What is counted.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Bytes,
    Records,
}

/// The progress of one long operation; inert when stderr is not a terminal.
#[derive(Debug)]
pub struct Progress {
    active: bool,
    unit: Unit,
    label: &'static str,
    total: Option<u64>,
    /// Where this run started counting from (a resumed download starts past zero).
    initial: u64,
    done: u64,
    started: Instant,
    drawn: Option<Instant>,
}

impl Progress {
    /// Records processed, e.g. `replayed 1500 (300/s)`.
    pub fn on_terminal(label: &'static str, total: Option<u64>) -> Self {
        Self::new(Unit::Records, label, total, 0)
    }

    /// Bytes of `total`, starting at `initial` (already on disk), with the rate of this run.
    pub fn bytes_on_terminal(label: &'static str, total: Option<u64>, initial: u64) -> Self {
        Self::new(Unit::Bytes, label, total, initial)
    }

    fn new(unit: Unit, label: &'static str, total: Option<u64>, initial: u64) -> Self {
        Self {
            active: std::io::stderr().is_terminal(),
            unit,
            label,
            total,
            initial,
            done: initial,
            started: Instant::now(),
            drawn: None,
        }
    }

    /// Sets the count, redrawing at most every [`REDRAW_EVERY`].
    pub fn set(&mut self, done: u64) {
        self.done = done;
        if self.active && self.drawn.is_none_or(|at| at.elapsed() >= REDRAW_EVERY) {
            self.draw();
        }
    }

    /// Draws the final state and ends the line.
    pub fn finish(&mut self) {
        if self.active {
            self.draw();
            eprintln!();
            self.active = false;
        }
    }

    fn draw(&mut self) {
        self.drawn = Some(Instant::now());
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (self.done.saturating_sub(self.initial)) as f64 / seconds;
        let line = match self.unit {
            Unit::Bytes => {
                let of = self.total.map_or_else(String::new, |t| {
                    let percent = self.done.saturating_mul(100).checked_div(t).unwrap_or(100);
                    format!(" / {} ({percent}%)", bytes(t as f64))
                });
                format!(
                    "{} {}{of}, {}/s",
                    self.label,
                    bytes(self.done as f64),
                    bytes(rate)
                )
            }
            Unit::Records => {
                let of = self.total.map_or_else(String::new, |t| format!(" of {t}"));
                format!("{} {}{of} ({rate:.0}/s)", self.label, self.done)
            }
        };
        // Carriage return and clear-to-end-of-line: the line is rewritten in place.
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // An error path that never finished still ends the line, so its message starts clean.
        if self.active && self.drawn.is_some() {
            eprintln!();
        }
    }
}

/// A byte count in binary units, e.g. `1.5 GiB`.
fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn byte_counts_read_in_binary_units() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
    }
}
