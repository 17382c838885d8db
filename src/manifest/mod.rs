//! App manifest packages: read from JSON or YAML, checked against
//! `schemas/app-manifest.schema.json` (embedded, so validation never touches the network or the
//! disk), then turned into typed values. Every fault names the JSON pointer of the offending
//! value and the rule it breaks.

mod checks;
mod typed;
mod vocabulary;

use std::fmt;
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

pub use typed::{AppLayer, ArtifactRef, Manifest, VersionLayer};
pub use vocabulary::VocabularyUse;

/// The manifest JSON Schema (2020-12), as shipped in `schemas/`.
pub const SCHEMA: &str = include_str!("../../schemas/app-manifest.schema.json");

/// The longest message kept per fault; a metaschema failure can otherwise run very long.
const MAX_MESSAGE: usize = 300;

/// How a manifest is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON.
    Json,
    /// YAML (1.2 core schema).
    Yaml,
}

impl Format {
    /// The format a file name implies: `.yaml`/`.yml` are YAML, anything else JSON.
    pub fn from_file_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Self::Yaml
        } else {
            Self::Json
        }
    }
}

/// One broken rule: where (`pointer`, a JSON pointer into the document) and which rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = ManifestFault)]
pub struct Fault {
    /// JSON pointer of the offending value (of the missing property, for `required`).
    pub pointer: String,
    /// The rule: a JSON Schema keyword (`required`, `pattern`, …) or a gateway rule.
    pub rule: String,
    /// What is wrong, in one line.
    pub message: String,
}

impl Fault {
    /// A fault at `pointer` breaking `rule`.
    pub fn new(pointer: impl Into<String>, rule: impl Into<String>, message: impl Into<String>) -> Self {
        let mut message: String = message.into();
        if message.len() > MAX_MESSAGE {
            let cut = (0..=MAX_MESSAGE)
                .rev()
                .find(|i| message.is_char_boundary(*i))
                .unwrap_or(0);
            message.truncate(cut);
            message.push('…');
        }
        Self {
            pointer: pointer.into(),
            rule: rule.into(),
            message,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {}: {}", self.rule, self.message)
    }
}

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON or YAML at all (malformed input).
    #[error("the manifest is not valid {format}: {reason}")]
    Syntax {
        /// `JSON` or `YAML`.
        format: &'static str,
        /// The parser's message, with its position.
        reason: String,
    },
    /// Well-formed but breaking the schema or a gateway rule.
    #[error("the manifest is invalid: {}", .0.iter().map(Fault::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Fault>),
}

/// Reads a manifest document (no validation yet).
pub fn parse(bytes: &[u8], format: Format) -> Result<Value, ManifestError> {
    match format {
        Format::Json => serde_json::from_slice(bytes).map_err(|e| ManifestError::Syntax {
            format: "JSON",
            reason: e.to_string(),
        }),
        Format::Yaml => serde_norway::from_slice(bytes).map_err(|e| ManifestError::Syntax {
            format: "YAML",
            reason: e.to_string(),
        }),
    }
}

/// The compiled manifest schema; compiled once. An error here is a bug in the shipped schema.
static VALIDATOR: LazyLock<Result<jsonschema::Validator, String>> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(SCHEMA).map_err(|e| e.to_string())?;
    jsonschema::draft202012::new(&schema).map_err(|e| e.to_string())
});

/// Validates a parsed document: first the schema, then the rules a schema cannot say (embedded
/// schemas compile, artifact names are unique). Answers the typed manifest or every fault.
pub fn validate(document: &Value) -> Result<Manifest, ManifestError> {
    let validator = match &*VALIDATOR {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "the shipped app manifest schema does not compile");
            return Err(ManifestError::Invalid(vec![Fault::new(
                "",
                "schema",
                "the gateway's manifest schema is broken; this is a bug",
            )]));
        }
    };
    let mut faults: Vec<Fault> = validator
        .iter_errors(document)
        .map(|e| schema_fault(&e))
        .collect();
    if faults.is_empty() {
        faults.extend(checks::semantic_faults(document));
    }
    if !faults.is_empty() {
        faults.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        faults.dedup();
        return Err(ManifestError::Invalid(faults));
    }
    typed::Manifest::from_value(document).map_err(ManifestError::Invalid)
}

/// Parses and validates in one step.
pub fn load(bytes: &[u8], format: Format) -> Result<Manifest, ManifestError> {
    validate(&parse(bytes, format)?)
}

fn schema_fault(error: &jsonschema::ValidationError<'_>) -> Fault {
    let mut pointer = error.instance_path().as_str().to_owned();
    // A missing property is a fault at the property's own pointer, e.g. `/app/slug`.
    if let jsonschema::error::ValidationErrorKind::Required { property } = error.kind() {
        let name = property
            .as_str()
            .map_or_else(|| property.to_string(), str::to_owned);
        pointer.push('/');
        pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
    }
    Fault::new(pointer, error.kind().keyword(), error.to_string())
}

/// `sha256:` of the canonical JSON of `value` (object keys sorted at every level), so the same
/// content in JSON or YAML, in any key order, has one digest.
pub fn canonical_digest(value: &Value) -> String {
    let bytes = serde_json::to_vec(&canonical(value)).unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests;
