//! `[vsa]`: the key verification summaries are signed with and the verifier they name.

use std::path::PathBuf;

use serde::Deserialize;

/// `[vsa]`: the key verification summaries are signed with, and the verifier they name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VsaConfig {
    /// PEM P-256 private key; without it no summary is produced.
    pub key_file: Option<PathBuf>,
    /// The summary's `verifier.id`, an absolute URI; required with `key_file`.
    pub verifier_id: Option<String>,
}

impl VsaConfig {
    /// A section that would sign with no verifier named, or name one with nothing to sign, as
    /// `(dotted key, reason)`.
    pub fn check(&self) -> Result<(), (String, String)> {
        let problem = match (&self.key_file, &self.verifier_id) {
            (Some(_), None) => Some(("vsa.verifier_id", "is required with `vsa.key_file`")),
            (None, Some(_)) => Some((
                "vsa.key_file",
                "is required with `vsa.verifier_id` (summaries are signed with it)",
            )),
            _ => None,
        };
        problem.map_or(Ok(()), |(key, reason)| Err((key.to_owned(), reason.to_owned())))
    }
}
