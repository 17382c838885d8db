//! Reads the schema and a directory of `*.cedar` files, validates them strictly and hashes them.
//!
//! Every problem is reported as (file, line, reason) so a policy author can fix all of them in
//! one pass; any problem refuses the whole set (the caller keeps serving the last good one).

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;
use sha2::{Digest as _, Sha256};

use super::request_check::RequestChecks;

/// One thing wrong with a schema or policy file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyProblem {
    /// The file name (policy files) or path (schema, directory).
    pub file: String,
    /// The 1-based line, where one is known.
    pub line: Option<u32>,
    /// What is wrong, lowercase, user input in backticks.
    pub reason: String,
}

impl std::fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

/// Why a policy set was refused: every problem found, never only the first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyLoadError {
    /// The problems, sorted by file and line.
    pub problems: Vec<PolicyProblem>,
}

impl std::fmt::Display for PolicyLoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for PolicyLoadError {}

impl PolicyLoadError {
    fn one(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            problems: vec![PolicyProblem {
                file: file.into(),
                line: None,
                reason: reason.into(),
            }],
        }
    }
}

/// A schema and policy set that passed strict validation.
#[derive(Debug, Clone)]
pub(crate) struct LoadedSet {
    pub(crate) schema: Schema,
    pub(crate) policies: PolicySet,
    pub(crate) hash: String,
    pub(crate) files: Vec<String>,
    /// Every file's (name, text): the bundle other instances adopt.
    pub(crate) sources: Vec<(String, String)>,
    /// The request shapes this schema accepted (shared by the engines built from this set).
    pub(crate) request_checks: Arc<RequestChecks>,
}

/// Where a policy came from, to point validation errors at a line.
struct Origin {
    file: usize,
    name: String,
    line: u32,
}

/// Reads, parses, checks ids, validates (strict) and hashes a policy directory.
pub(crate) fn load_set(schema_file: &Path, policy_dir: &Path) -> Result<LoadedSet, PolicyLoadError> {
    let schema_name = schema_file.display().to_string();
    let schema_text = std::fs::read_to_string(schema_file)
        .map_err(|e| PolicyLoadError::one(&schema_name, format!("cannot read schema: {e}")))?;
    let schema = match Schema::from_cedarschema_str(&schema_text) {
        Ok((schema, _warnings)) => schema,
        Err(e) => {
            let line = first_line(&e, &schema_text);
            let reason = format!("invalid schema: {}", describe(&e));
            return Err(PolicyLoadError {
                problems: vec![PolicyProblem {
                    file: schema_name,
                    line,
                    reason,
                }],
            });
        }
    };
    let files = read_policy_files(policy_dir)?;
    load_set_from(&schema_text, schema, files, policy_dir)
}

/// Validates and hashes given policy files (read from a directory, or a stored bundle).
pub(crate) fn load_sources(
    schema_file: &Path,
    files: Vec<(String, String)>,
    label: &Path,
) -> Result<LoadedSet, PolicyLoadError> {
    let schema_name = schema_file.display().to_string();
    let schema_text = std::fs::read_to_string(schema_file)
        .map_err(|e| PolicyLoadError::one(&schema_name, format!("cannot read schema: {e}")))?;
    let schema = Schema::from_cedarschema_str(&schema_text)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| PolicyLoadError::one(&schema_name, format!("invalid schema: {}", describe(&e))))?;
    load_set_from(&schema_text, schema, files, label)
}

fn load_set_from(
    schema_text: &str,
    schema: Schema,
    files: Vec<(String, String)>,
    policy_dir: &Path,
) -> Result<LoadedSet, PolicyLoadError> {
    let mut problems = Vec::new();
    let mut set = PolicySet::new();
    let mut origins: HashMap<String, Origin> = HashMap::new();
    for (index, (name, text)) in files.iter().enumerate() {
        add_file(index, name, text, &mut set, &mut origins, &mut problems);
    }
    if problems.is_empty() && origins.is_empty() {
        let dir = policy_dir.display();
        return Err(PolicyLoadError::one(
            dir.to_string(),
            format!("no policies found in `{dir}`: refusing an empty set, which would deny everything"),
        ));
    }
    // Validate whatever parsed, even next to other problems, so one pass reports them all.
    if !origins.is_empty() {
        let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
        for err in result.validation_errors() {
            let id = err.policy_id().to_string();
            let (file, line) = match origins.get(&id) {
                Some(o) => {
                    let text = files.get(o.file).map_or("", |(_, t)| t.as_str());
                    (o.name.clone(), first_line(err, text).or(Some(o.line)))
                }
                None => (id.clone(), None),
            };
            problems.push(PolicyProblem {
                file,
                line,
                reason: describe(err),
            });
        }
    }
    if !problems.is_empty() {
        problems.sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
        return Err(PolicyLoadError { problems });
    }
    let hash = hash_set(schema_text, &files);
    let names = files.iter().map(|(name, _)| name.clone()).collect();
    Ok(LoadedSet {
        schema,
        policies: set,
        hash,
        files: names,
        sources: files,
        request_checks: Arc::new(RequestChecks::new(schema_text)),
    })
}

/// The `*.cedar` files directly in `dir`, sorted by name, with their text.
fn read_policy_files(dir: &Path) -> Result<Vec<(String, String)>, PolicyLoadError> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| PolicyLoadError::one(&shown, format!("cannot read policy directory: {e}")))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| PolicyLoadError::one(&shown, format!("cannot list policy directory: {e}")))?;
        let path = entry.path();
        if !path.is_file() || path.extension().is_none_or(|ext| ext != "cedar") {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| PolicyLoadError::one(&name, format!("cannot read policy file: {e}")))?;
        files.push((name, text));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Parses one file on its own (so errors name it) and adds its policies under their `@id`.
fn add_file(
    index: usize,
    name: &str,
    text: &str,
    set: &mut PolicySet,
    origins: &mut HashMap<String, Origin>,
    problems: &mut Vec<PolicyProblem>,
) {
    let parsed = match PolicySet::from_str(text) {
        Ok(parsed) => parsed,
        Err(errs) => {
            for err in errs.iter() {
                let line = first_line(err, text);
                problems.push(PolicyProblem {
                    file: name.to_owned(),
                    line,
                    reason: describe(err),
                });
            }
            return;
        }
    };
    let problem = |line: Option<u32>, reason: String| PolicyProblem {
        file: name.to_owned(),
        line,
        reason,
    };
    if parsed.templates().next().is_some() {
        problems.push(problem(
            None,
            "templates (policies with `?principal` or `?resource` slots) are not supported".into(),
        ));
    }
    // The parser names policies `policy0`, `policy1`… in source order; walk them in that order
    // so each policy's text can be found after the previous one to learn its line.
    let mut policies: Vec<_> = parsed.policies().collect();
    policies.sort_by_key(|p| {
        p.id()
            .to_string()
            .trim_start_matches("policy")
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    let mut cursor = 0;
    for policy in policies {
        let line = match policy
            .to_cedar()
            .and_then(|src| text.get(cursor..)?.find(&src).map(|at| (at, src.len())))
        {
            Some((at, len)) => {
                cursor += at + len;
                line_at(text, cursor - len)
            }
            None => 1,
        };
        let Some(id) = policy.annotation("id").map(str::trim).filter(|id| !id.is_empty()) else {
            problems.push(problem(
                Some(line),
                "policy has no `@id(\"…\")` annotation".into(),
            ));
            continue;
        };
        if let Some(seen) = origins.get(id) {
            problems.push(problem(
                Some(line),
                format!(
                    "duplicate policy id `{id}` (already used at {}:{})",
                    seen.name, seen.line
                ),
            ));
            continue;
        }
        if let Err(e) = set.add(policy.new_id(PolicyId::new(id))) {
            problems.push(problem(Some(line), describe(&e)));
            continue;
        }
        origins.insert(
            id.to_owned(),
            Origin {
                file: index,
                name: name.to_owned(),
                line,
            },
        );
    }
}

/// The message of a Cedar diagnostic, with its help text when it has one.
fn describe(diag: &dyn Diagnostic) -> String {
    match diag.help() {
        Some(help) => format!("{diag}; {help}"),
        None => diag.to_string(),
    }
}

/// The line of the first labelled span of a diagnostic, as an offset into `text`.
fn first_line(diag: &dyn Diagnostic, text: &str) -> Option<u32> {
    let label = diag.labels()?.next()?;
    Some(line_at(text, label.offset()))
}

/// The 1-based line holding byte `offset` of `text`.
fn line_at(text: &str, offset: usize) -> u32 {
    let upto = text.get(..offset.min(text.len())).unwrap_or(text);
    let newlines = upto.bytes().filter(|b| *b == b'\n').count();
    u32::try_from(newlines).map_or(u32::MAX, |n| n.saturating_add(1))
}

/// The hash a load of this schema and directory would have, without parsing or validating: a
/// cheap way to notice that the files changed.
pub(crate) fn content_hash(schema_file: &Path, policy_dir: &Path) -> Result<String, PolicyLoadError> {
    let schema_name = schema_file.display().to_string();
    let schema_text = std::fs::read_to_string(schema_file)
        .map_err(|e| PolicyLoadError::one(&schema_name, format!("cannot read schema: {e}")))?;
    let files = read_policy_files(policy_dir)?;
    Ok(hash_set(&schema_text, &files))
}

/// sha256 over the schema and every (name, content), length-framed so no two sets collide by
/// shifting bytes between a name and a content.
fn hash_set(schema_text: &str, files: &[(String, String)]) -> String {
    let mut hasher = Sha256::new();
    let mut frame = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    frame(schema_text.as_bytes());
    for (name, text) in files {
        frame(name.as_bytes());
        frame(text.as_bytes());
    }
    hex::encode(hasher.finalize())
}
