//! TEMPORARY (h/pgtail): per-stage timings written to `$GATEHOUSE_BENCH_STAGES_FILE`, one line each,
//! `<µs since start> <stage> key=µs …`. Removed before the branch is finished.
#![allow(missing_docs, clippy::print_stderr, reason = "temporary instrumentation")]

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

struct Sink {
    start: Instant,
    file: Mutex<std::fs::File>,
}

fn sink() -> Option<&'static Sink> {
    static SINK: OnceLock<Option<Sink>> = OnceLock::new();
    SINK.get_or_init(|| {
        let path = std::env::var_os("GATEHOUSE_BENCH_STAGES_FILE")?;
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).ok()?;
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let _ = writeln!(file, "# start {unix_ms}");
        Some(Sink {
            start: Instant::now(),
            file: Mutex::new(file),
        })
    })
    .as_ref()
}

/// Marks of one request's or round's stages.
pub struct Marks {
    name: &'static str,
    at: Instant,
    last: Instant,
    parts: Vec<(&'static str, u128)>,
}

impl Marks {
    pub fn start(name: &'static str) -> Self {
        let now = Instant::now();
        Self {
            name,
            at: now,
            last: now,
            parts: Vec::with_capacity(8),
        }
    }

    /// The time since the previous mark, as `key`.
    pub fn mark(&mut self, key: &'static str) {
        let now = Instant::now();
        self.parts.push((key, (now - self.last).as_micros()));
        self.last = now;
    }

    pub fn value(&mut self, key: &'static str, value: u128) {
        self.parts.push((key, value));
    }

    pub fn finish(self) {
        let Some(sink) = sink() else { return };
        let mut line = format!(
            "{} {} total={}",
            (self.at - sink.start).as_micros(),
            self.name,
            self.last.duration_since(self.at).as_micros()
        );
        for (k, v) in &self.parts {
            line.push_str(&format!(" {k}={v}"));
        }
        line.push('\n');
        if let Ok(mut f) = sink.file.lock() {
            let _ = f.write_all(line.as_bytes());
        }
    }
}
