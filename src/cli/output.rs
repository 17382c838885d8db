//! How a command prints its result: text for people, or one JSON document for machines.

use std::io::Write as _;
use std::process::ExitCode;

use clap::ValueEnum;
use serde::Serialize;

/// `--format`: `text` (default) or `json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lines for a person at a terminal.
    #[default]
    Text,
    /// Exactly one JSON document on stdout, with stable field names (README "Machine-readable output").
    Json,
}

impl OutputFormat {
    /// Whether the result goes out as JSON.
    pub fn is_json(self) -> bool {
        self == Self::Json
    }
}

/// Prints `value` as one pretty JSON document on stdout.
pub fn print_json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
        Ok(text) => {
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
        // Serialising plain data structs cannot fail; say so rather than print nothing.
        Err(error) => eprintln!("error: cannot render the result as JSON: {error}"),
    }
}

/// Reports a command that could not run: `{"error": …}` on stdout in JSON mode (so a consumer
/// still reads one document), and the message on stderr either way; answers `code`.
pub fn fail(format: OutputFormat, message: &str, code: u8) -> ExitCode {
    if format.is_json() {
        print_json(&serde_json::json!({ "error": message }));
    }
    eprintln!("error: {message}");
    ExitCode::from(code)
}
