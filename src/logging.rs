//! The log subscriber: text for people, JSON lines for collectors (`[logging] format`);
//! `RUST_LOG` chooses what is logged either way.

use std::fmt;

use serde::Deserialize;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, DefaultVisitor, FormatFields, Writer};

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
            .fmt_fields(PlainFields)
            .try_init(),
    };
}

/// The text format's fields, `name=value` as tracing-subscriber's [`DefaultFields`] writes
/// them, byte for byte, without its colour wrappers when there is no colour: those went through
/// the formatter twice per field (name, `=`) even when they add nothing, most of the access
/// line's cost on every request. With colour, and for the fields written specially (the
/// message, errors, `r#` names, `log.` metadata), [`DefaultFields`] itself writes them.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        if writer.has_ansi_escapes() {
            return DefaultFields::new().format_fields(writer, fields);
        }
        let mut visitor = PlainVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'writer> {
    writer: Writer<'writer>,
    /// No field written yet: the next one needs no space before it.
    is_empty: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Whether [`DefaultVisitor`] writes this field in a way of its own.
    fn special(name: &str) -> bool {
        name == "message" || name.starts_with("r#") || name.starts_with("log.")
    }

    /// Lets [`DefaultVisitor`] write one field, after the ones written here.
    fn delegate(&mut self, field: &Field, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        // `log.` metadata is skipped, no space written: the next field is still first.
        if field.name().starts_with("log.") {
            return;
        }
        let mut default = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut default);
        self.result = tracing_subscriber::field::VisitOutput::finish(default);
        self.is_empty = false;
    }

    /// `name=`, after a space unless it is the first field.
    fn write_name(&mut self, name: &str) -> fmt::Result {
        if !std::mem::take(&mut self.is_empty) {
            self.writer.write_char(' ')?;
        }
        self.writer.write_str(name)?;
        self.writer.write_char('=')
    }
}

/// Text that `str`'s `Debug` writes as it is between its quotes: printable ASCII but `"` and
/// `\` (a single quote is not escaped in a string).
fn debug_plain(text: &str) -> bool {
    text.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        if Self::special(field.name()) {
            return self.delegate(field, |default| default.record_str(field, value));
        }
        self.result = self.write_name(field.name()).and_then(|()| {
            if debug_plain(value) {
                self.writer.write_char('"')?;
                self.writer.write_str(value)?;
                self.writer.write_char('"')
            } else {
                write!(self.writer, "{value:?}")
            }
        });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() {
            return;
        }
        self.delegate(field, |default| default.record_error(field, value));
    }

    /// Every other kind of value (numbers, flags, `%` and `?` values) arrives here, as in
    /// [`DefaultVisitor`]: written with its `Debug`.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        if Self::special(field.name()) {
            return self.delegate(field, |default| default.record_debug(field, value));
        }
        self.result = self
            .write_name(field.name())
            .and_then(|()| write!(self.writer, "{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log output gathered in memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[derive(Debug)]
    struct Failure(Option<Box<Failure>>);

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(if self.0.is_some() {
                "outer \"failure\""
            } else {
                "inner\x1b[31m"
            })
        }
    }

    impl std::error::Error for Failure {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.0.as_deref().map(|e| e as _)
        }
    }

    /// Events of every kind of field, inside spans with fields (one recorded later).
    fn log_every_kind_of_field() {
        let failure = Failure(Some(Box::new(Failure(None))));
        let span = tracing::info_span!("request", request_id = %"01J-x", method = %"POST", route = "/v1/x", later = tracing::field::Empty);
        let _entered = span.enter();
        span.record("later", "then \"quoted\"");
        let inner = tracing::info_span!("inner", n = 3u64);
        let _inner = inner.enter();
        let none: Option<&str> = None;
        tracing::info!(
            target: ACCESS_TARGET,
            method = %"POST",
            route = "/v1/admission/review",
            status = 200u16,
            latency_ms = 1.25f64,
            whole = 2.0f64,
            negative = -7i64,
            flag = true,
            request_id = "01900000-0000-7000-8000-000000000001",
            principal = Some("user:olivia"),
            absent = none,
            decision = Some("allow"),
            "request"
        );
        tracing::warn!(
            quoted = "a \"b\" \\ c",
            control = "tab\there\nnew \x1b[31m esc",
            unicode = "zoë ✓ \u{200b}",
            single = "it's",
            empty = "",
            debugged = ?vec!["x", "y\""],
            r#type = "raw name",
            error = &failure as &(dyn std::error::Error + 'static),
            "message with {} and \x1b[1m escape",
            "arguments"
        );
        tracing::error!("only a message");
        tracing::info!(first = "no message");
        tracing::info!(message = "message as a field", after = 1u8);
    }

    /// What the text format writes for those events, with `fields` or the default ones.
    fn written(ansi: bool, plain: bool) -> String {
        let lines = Lines::default();
        let out = lines.clone();
        let builder = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .with_ansi(ansi)
            .without_time()
            .with_max_level(tracing::Level::TRACE);
        if plain {
            tracing::subscriber::with_default(
                builder.fmt_fields(PlainFields).finish(),
                log_every_kind_of_field,
            );
        } else {
            tracing::subscriber::with_default(builder.finish(), log_every_kind_of_field);
        }
        let bytes = lines.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn plain_fields_write_what_the_default_fields_write() {
        for ansi in [false, true] {
            let expected = written(ansi, false);
            assert!(expected.lines().count() >= 5, "{expected}");
            assert_eq!(written(ansi, true), expected, "ansi: {ansi}");
        }
        let plain = written(false, true);
        assert!(
            plain.contains("route=\"/v1/admission/review\" status=200 latency_ms=1.25 whole=2.0"),
            "{plain}"
        );
    }

    #[test]
    fn only_printable_ascii_without_quote_or_backslash_is_written_unescaped() {
        for byte in 0..=0x7fu8 {
            let text = char::from(byte).to_string();
            let unescaped = format!("{text:?}") == format!("\"{text}\"");
            assert_eq!(debug_plain(&text), unescaped, "{byte:#x}");
        }
        assert!(!debug_plain("é"), "non-ASCII goes through Debug");
    }
}
