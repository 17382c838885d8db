//! The authenticated caller, as the policy engine sees it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Actor, ProjectSlug};

/// A project role carried in verified token claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Full control of the project.
    Admin,
    /// Registers, verifies and promotes below prod.
    Operator,
    /// Promotes, including prod.
    Releaser,
    /// Reads.
    Viewer,
}

impl Role {
    /// The claim form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Releaser => "releaser",
            Self::Viewer => "viewer",
        }
    }

    /// Parses the claim form; unknown roles are `None` (ignored, never widened).
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admin" => Some(Self::Admin),
            "operator" => Some(Self::Operator),
            "releaser" => Some(Self::Releaser),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

/// CI OIDC facts about a service account, where the token carried them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiClaims {
    /// e.g. `org/repo`.
    pub repository: Option<String>,
    /// e.g. `refs/heads/main`.
    pub git_ref: Option<String>,
    /// The workflow name or path.
    pub workflow: Option<String>,
}

/// A verified caller: who, from which issuer, with which roles.
///
/// Serializable so an intent can keep the roles its creator held: a registration that follows a
/// registry notification is decided as that actor, long after their token is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Type and subject id.
    pub actor: Actor,
    /// The issuer that vouched for it.
    pub issuer: String,
    /// Roles per project.
    pub project_roles: BTreeMap<ProjectSlug, BTreeSet<Role>>,
    /// Platform-wide roles such as `platform_admin`, `security_admin`.
    pub platform_roles: BTreeSet<String>,
    /// CI facts for service accounts.
    pub ci: CiClaims,
}

impl Principal {
    /// The projects in which the principal holds `role`.
    pub fn projects_with(&self, role: Role) -> impl Iterator<Item = &ProjectSlug> {
        self.project_roles
            .iter()
            .filter(move |(_, roles)| roles.contains(&role))
            .map(|(p, _)| p)
    }
}
