//! The log subscriber: text for people, JSON lines for collectors (`[logging] format`);
//! `RUST_LOG` chooses what is logged either way.

use serde::Deserialize;

/// Log output: `[logging]`. `RUST_LOG` still chooses what is logged.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// `text` (default) or `json` (one JSON object per line, for log collectors).
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The target of the one line logged per HTTP request (written in `src/http/context.rs`).
pub const ACCESS_TARGET: &str = "gatehouse::access";

/// Installs the process-wide subscriber (a second call changes nothing).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        // Event fields at the top level next to `message`; the enclosing request span (request
        // id, method, route) under `span`.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        // Colour only for a person at a terminal; log collectors get plain text.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}
