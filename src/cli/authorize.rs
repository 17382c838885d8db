//! `gatehouse policy authorize`: one offline decision, the way the Cedar CLI's `authorize` gives
//! it — a request (flags or a request JSON file) and entities (a Cedar entities JSON file)
//! against the validated policy set. Exit codes match the Cedar CLI: 0 allow, 2 deny, 1 when the
//! question could not be asked (bad files, a request the schema refuses).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use cedar_policy::EntityUid;
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use super::output::{OutputFormat, print_json};
use crate::config::Config;
use crate::policy::{Decision, PolicyEngine};

/// Exit status of an allow.
const ALLOW: u8 = 0;
/// Exit status when the request could not be evaluated (as the Cedar CLI's `Failure`).
const ERROR: u8 = 1;
/// Exit status of a deny (as the Cedar CLI's `AuthorizeDeny`), policy errors included.
const DENY: u8 = 2;

/// The namespace of the project schema: a uid without one is read as inside it.
const SCHEMA_NAMESPACE: &str = "Gatehouse";

/// Arguments of `policy authorize`.
#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    /// Principal, e.g. `User::"alice"` (read as `Gatehouse::User::"alice"`).
    #[arg(short, long)]
    pub principal: Option<String>,
    /// Action, e.g. `Action::"admit"`.
    #[arg(short, long)]
    pub action: Option<String>,
    /// Resource, e.g. `Artifact::"0190…"`.
    #[arg(short, long)]
    pub resource: Option<String>,
    /// The request context: a JSON file, or an inline JSON object (`{"channel":"prod"}`).
    #[arg(short, long, value_name = "FILE|JSON")]
    pub context: Option<String>,
    /// The whole request as a JSON file with `principal`, `action`, `resource` and `context`
    /// (the `request` of a decision-log record has this form); replaces the four flags.
    #[arg(long = "request-json", value_name = "FILE", conflicts_with_all = ["principal", "action", "resource", "context"])]
    pub request_json: Option<PathBuf>,
    /// Entities in Cedar's entities JSON format, full type names (`Gatehouse::User`); the
    /// `entities` of a decision-log record has this form. Default: none.
    #[arg(long, value_name = "FILE")]
    pub entities: Option<PathBuf>,
    /// Policy directory (defaults to `policy_dir`).
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,
    /// Schema file (defaults to `schema_file`).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// The JSON document `policy authorize --format json` prints.
#[derive(Debug, Serialize)]
struct AuthorizeOutput<'a> {
    /// `allow`, `deny`, or null when the request could not be evaluated.
    decision: Option<&'static str>,
    policy_ids: &'a [String],
    reasons: &'a [String],
    errors: &'a [String],
    would_deny: &'a [String],
    policy_hash: Option<&'a str>,
}

/// Runs `policy authorize`.
pub fn run(config: &Config, args: &AuthorizeArgs) -> ExitCode {
    match decide(config, args) {
        Ok(decision) => {
            print_decision(args.format, &decision);
            ExitCode::from(if decision.allowed { ALLOW } else { DENY })
        }
        Err(error) => {
            let errors = [error];
            if args.format.is_json() {
                print_json(&AuthorizeOutput {
                    decision: None,
                    policy_ids: &[],
                    reasons: &[],
                    errors: &errors,
                    would_deny: &[],
                    policy_hash: None,
                });
            }
            eprintln!("error: {}", errors[0]);
            ExitCode::from(ERROR)
        }
    }
}

fn decide(config: &Config, args: &AuthorizeArgs) -> Result<Decision, String> {
    let schema = args.schema.as_deref().unwrap_or(&config.schema_file);
    let dir = args.policies.as_deref().unwrap_or(&config.policy_dir);
    let engine = PolicyEngine::load(schema, dir)
        .map_err(|e| format!("policy set in `{}` is invalid:\n{e}", dir.display()))?
        .with_dry_run_channels(config.policy_dry_run_channels.iter().map(ToString::to_string));
    let request = request(args)?;
    let entities = match &args.entities {
        Some(file) => read_json(file, "entities")?,
        None => json!([]),
    };
    engine.try_decide_stored(&request, &entities)
}

/// The request in the decision log's form: uids as Cedar strings, the context a record.
fn request(args: &AuthorizeArgs) -> Result<Value, String> {
    let (principal, action, resource, context) = match &args.request_json {
        Some(file) => {
            let value = read_json(file, "request")?;
            let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
            let context = value.get("context").cloned().unwrap_or_else(|| json!({}));
            (field("principal"), field("action"), field("resource"), context)
        }
        None => {
            let context = match args.context.as_deref() {
                None => json!({}),
                Some(inline) if inline.trim_start().starts_with('{') => serde_json::from_str(inline)
                    .map_err(|e| format!("`--context` is not a JSON object: {e}"))?,
                Some(file) => read_json(Path::new(file), "context")?,
            };
            (
                args.principal.clone(),
                args.action.clone(),
                args.resource.clone(),
                context,
            )
        }
    };
    if !context.is_object() {
        return Err("the request context must be a JSON object".to_owned());
    }
    let uid = |name: &str, value: Option<String>| -> Result<String, String> {
        let text =
            value.ok_or_else(|| format!("the request needs a `{name}` (`--{name}` or `--request-json`)"))?;
        qualified(&text).map_err(|e| format!("`{name}` `{text}` is not an entity uid: {e}"))
    };
    Ok(json!({
        "principal": uid("principal", principal)?,
        "action": uid("action", action)?,
        "resource": uid("resource", resource)?,
        "context": context,
    }))
}

/// The uid with the schema's namespace when it names none (`User::"a"` → `Gatehouse::User::"a"`).
fn qualified(text: &str) -> Result<String, String> {
    let uid = EntityUid::from_str(text).map_err(|e| e.to_string())?;
    if uid.type_name().namespace().is_empty() {
        let full = format!("{SCHEMA_NAMESPACE}::{uid}");
        EntityUid::from_str(&full)
            .map(|u| u.to_string())
            .map_err(|e| e.to_string())
    } else {
        Ok(uid.to_string())
    }
}

fn read_json(file: &Path, what: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the {what} file `{}`: {e}", file.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("the {what} file `{}` is not JSON: {e}", file.display()))
}

/// Text as the Cedar CLI prints it (ALLOW / DENY first), then what decided it.
fn print_decision(format: OutputFormat, decision: &Decision) {
    if format.is_json() {
        print_json(&AuthorizeOutput {
            decision: Some(decision.effect()),
            policy_ids: &decision.policy_ids,
            reasons: &decision.reasons,
            errors: &decision.errors,
            would_deny: &decision.would_deny,
            policy_hash: Some(&decision.policy_hash),
        });
        return;
    }
    println!("{}", decision.effect().to_uppercase());
    if decision.policy_ids.is_empty() {
        println!("note: no policy determined this decision");
    } else {
        println!("determining policies: {}", decision.policy_ids.join(", "));
    }
    for reason in &decision.reasons {
        println!("reason: {reason}");
    }
    for error in &decision.errors {
        println!("error: {error}");
    }
    for id in &decision.would_deny {
        println!("would deny (dry run): {id}");
    }
}
