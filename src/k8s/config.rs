//! The `[kubernetes]` section: how the API server authenticates, and which project, channel and
//! runtime class each namespace's workloads are admitted for.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Deserialize;

use crate::domain::{Channel, ProjectSlug, is_single_line};

/// `[kubernetes]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// A file holding the bearer token the API server presents (at least 16 characters).
    pub token_file: Option<PathBuf>,
    /// Client certificate names (subject common name or DNS name) that authenticate as the API
    /// server, when `[tls] client_ca_file` verifies them. Empty: certificates authenticate nothing.
    pub client_cert_names: Vec<String>,
    /// `[[kubernetes.namespaces]]`: a namespace not listed here is refused every workload.
    pub namespaces: Vec<NamespaceMapping>,
}

/// One `[[kubernetes.namespaces]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceMapping {
    /// The Kubernetes namespace.
    pub namespace: String,
    /// The project whose registered artifacts its images must be.
    pub project: ProjectSlug,
    /// The channel its deployments are decided for (`context.channel`).
    pub channel: Channel,
    /// The runtime class its deployments are decided for (`context.runtime_class`).
    pub runtime_class: Option<String>,
}

/// A `[kubernetes]` value that cannot be used: the key under `kubernetes` and why.
pub type ConfigProblem = (String, String);

impl KubernetesConfig {
    /// Checks names and channels; `channels` are the configured ones.
    pub fn check(&self, channels: &[Channel]) -> Result<(), ConfigProblem> {
        let mut seen = BTreeSet::new();
        for (i, mapping) in self.namespaces.iter().enumerate() {
            let key = |field: &str| format!("namespaces[{i}].{field}");
            if !is_namespace(&mapping.namespace) {
                return Err((
                    key("namespace"),
                    "must be a Kubernetes namespace name (1 to 63 of `a-z 0-9 -`, starting and ending alphanumeric)"
                        .to_owned(),
                ));
            }
            if !seen.insert(mapping.namespace.as_str()) {
                return Err((
                    key("namespace"),
                    format!("`{}` is mapped twice", mapping.namespace),
                ));
            }
            if !channels.contains(&mapping.channel) {
                return Err((
                    key("channel"),
                    format!("`{}` is not one of the configured `channels`", mapping.channel),
                ));
            }
            if mapping
                .runtime_class
                .as_deref()
                .is_some_and(|r| r.is_empty() || r.len() > 256 || !is_single_line(r))
            {
                return Err((
                    key("runtime_class"),
                    "must be 1 to 256 characters on one line".to_owned(),
                ));
            }
        }
        if let Some(bad) = self
            .client_cert_names
            .iter()
            .find(|n| n.is_empty() || n.len() > 253 || !is_single_line(n))
        {
            return Err((
                "client_cert_names".to_owned(),
                format!("`{}` is not a certificate name", bad.escape_default()),
            ));
        }
        Ok(())
    }

    /// The mapping of `namespace`, if it has one.
    pub fn mapping(&self, namespace: &str) -> Option<&NamespaceMapping> {
        self.namespaces.iter().find(|m| m.namespace == namespace)
    }
}

/// RFC 1123 label, as Kubernetes names namespaces.
fn is_namespace(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    (1..=63).contains(&bytes.len())
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(namespace: &str, channel: &str) -> NamespaceMapping {
        NamespaceMapping {
            namespace: namespace.to_owned(),
            project: "team-a".parse().unwrap(),
            channel: channel.parse().unwrap(),
            runtime_class: None,
        }
    }

    #[test]
    fn bad_mappings_are_named_by_key() {
        let channels: Vec<Channel> = vec!["dev".parse().unwrap(), "prod".parse().unwrap()];
        let config = |namespaces| KubernetesConfig {
            namespaces,
            ..KubernetesConfig::default()
        };
        assert!(
            config(vec![mapping("team-a-prod", "prod")])
                .check(&channels)
                .is_ok()
        );
        let key = |c: KubernetesConfig| c.check(&channels).unwrap_err().0;
        assert_eq!(
            key(config(vec![mapping("Team_A", "prod")])),
            "namespaces[0].namespace"
        );
        assert_eq!(
            key(config(vec![mapping("a", "dev"), mapping("a", "prod")])),
            "namespaces[1].namespace"
        );
        assert_eq!(
            key(config(vec![mapping("a", "staging")])),
            "namespaces[0].channel"
        );
    }
}
