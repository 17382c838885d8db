//! Repository visibility classes: who a repository is for, and the canonical path that follows.
//!
//! `project` repositories are `<root>/<project>/<app>` (the original layout), `platform`
//! repositories `<platform root>/<name>` and `tenant` repositories `<tenant root>/<tenant>/<name>`.
//! The gateway always chooses the path; the class travels to Cedar on the `Repository` and
//! `Artifact` entities so policies can tell the classes apart.

use std::str::FromStr;

use super::{AppSlug, ProjectSlug, RepositoryPath, TenantSlug};

/// A visibility class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Visibility {
    /// Owned by one project (the default).
    #[default]
    Project,
    /// Shared with one tenant's projects.
    Tenant,
    /// The platform's own artifacts (CLI, SDK bundles).
    Platform,
}

impl Visibility {
    /// The stable id: `project`, `tenant` or `platform`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Project => "project",
            Self::Tenant => "tenant",
            Self::Platform => "platform",
        }
    }
}

/// Why a visibility (or its tenant) is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VisibilityError {
    /// Not one of the three classes.
    #[error("must be one of `project`, `tenant`, `platform`")]
    Unknown,
    /// `tenant` visibility without a tenant.
    #[error("`tenant` visibility needs a `tenant`")]
    MissingTenant,
    /// A tenant given for another class.
    #[error("`tenant` is only allowed with `tenant` visibility")]
    UnexpectedTenant,
}

impl FromStr for Visibility {
    type Err = VisibilityError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "project" => Ok(Self::Project),
            "tenant" => Ok(Self::Tenant),
            "platform" => Ok(Self::Platform),
            _ => Err(VisibilityError::Unknown),
        }
    }
}

super::string_newtype_serde!(Visibility);

/// A visibility class with the tenant it needs, so a tenant class can never lack one. In JSON it
/// is two fields, `visibility` and (for `tenant`) `tenant`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "ScopeParts", into = "ScopeParts")]
pub enum Scope {
    /// `project`.
    #[default]
    Project,
    /// `tenant`, for this tenant.
    Tenant(TenantSlug),
    /// `platform`.
    Platform,
}

/// The JSON form of a [`Scope`].
#[derive(serde::Serialize, serde::Deserialize)]
struct ScopeParts {
    #[serde(default)]
    visibility: Visibility,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<TenantSlug>,
}

impl TryFrom<ScopeParts> for Scope {
    type Error = VisibilityError;
    fn try_from(p: ScopeParts) -> Result<Self, Self::Error> {
        Scope::new(p.visibility, p.tenant)
    }
}

impl From<Scope> for ScopeParts {
    fn from(s: Scope) -> Self {
        Self {
            visibility: s.visibility(),
            tenant: s.tenant().cloned(),
        }
    }
}

impl Scope {
    /// Builds the scope from its two stored or requested parts.
    pub fn new(visibility: Visibility, tenant: Option<TenantSlug>) -> Result<Self, VisibilityError> {
        match (visibility, tenant) {
            (Visibility::Tenant, Some(t)) => Ok(Self::Tenant(t)),
            (Visibility::Tenant, None) => Err(VisibilityError::MissingTenant),
            (_, Some(_)) => Err(VisibilityError::UnexpectedTenant),
            (Visibility::Project, None) => Ok(Self::Project),
            (Visibility::Platform, None) => Ok(Self::Platform),
        }
    }

    /// The class.
    pub fn visibility(&self) -> Visibility {
        match self {
            Self::Project => Visibility::Project,
            Self::Tenant(_) => Visibility::Tenant,
            Self::Platform => Visibility::Platform,
        }
    }

    /// The tenant of a tenant scope.
    pub fn tenant(&self) -> Option<&TenantSlug> {
        match self {
            Self::Tenant(t) => Some(t),
            _ => None,
        }
    }
}

/// The configured roots of the three classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRoots {
    /// Project repositories: `<project>/<project slug>/<app>`.
    pub project: RepositoryPath,
    /// Platform repositories: `<platform>/<name>`.
    pub platform: RepositoryPath,
    /// Tenant repositories: `<tenants>/<tenant>/<name>`.
    pub tenants: RepositoryPath,
}

impl Default for RepositoryRoots {
    fn default() -> Self {
        Self {
            project: RepositoryPath::default_root(),
            platform: RepositoryPath::default_platform_root(),
            tenants: RepositoryPath::default_tenant_root(),
        }
    }
}

impl RepositoryRoots {
    /// The canonical path of `app` (the repository name) in `scope`, owned by `project`.
    pub fn path(&self, scope: &Scope, project: &ProjectSlug, app: &AppSlug) -> RepositoryPath {
        match scope {
            Scope::Project => RepositoryPath::canonical(&self.project, project, app),
            Scope::Tenant(t) => self.tenants.join(t.as_str(), Some(app.as_str())),
            Scope::Platform => self.platform.join(app.as_str(), None),
        }
    }

    /// The scope a canonical path lies in, read from its shape under the roots; a path under
    /// no root (or of the wrong depth) is a project path, the class that grants least.
    pub fn scope_of(&self, path: &RepositoryPath) -> Scope {
        let rest = |root: &RepositoryPath| {
            path.as_str()
                .strip_prefix(root.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .map(|r| r.split('/').collect::<Vec<_>>())
        };
        if let Some(parts) = rest(&self.platform)
            && parts.len() == 1
        {
            return Scope::Platform;
        }
        if let Some(parts) = rest(&self.tenants)
            && let [tenant, _name] = parts.as_slice()
            && let Ok(tenant) = tenant.parse()
        {
            return Scope::Tenant(tenant);
        }
        Scope::Project
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slugs() -> (ProjectSlug, AppSlug) {
        ("team-a".parse().unwrap(), "cli".parse().unwrap())
    }

    #[test]
    fn each_class_has_its_canonical_path() {
        let roots = RepositoryRoots::default();
        let (project, app) = slugs();
        let tenant = Scope::Tenant("acme".parse().unwrap());
        assert_eq!(
            roots.path(&Scope::Project, &project, &app).as_str(),
            "gpuaas/apps/team-a/cli"
        );
        assert_eq!(
            roots.path(&Scope::Platform, &project, &app).as_str(),
            "gpuaas/platform/cli"
        );
        assert_eq!(
            roots.path(&tenant, &project, &app).as_str(),
            "gpuaas/tenants/acme/cli"
        );
        for scope in [Scope::Project, Scope::Platform, tenant] {
            assert_eq!(roots.scope_of(&roots.path(&scope, &project, &app)), scope);
        }
    }

    #[test]
    fn a_tenant_needs_the_tenant_class_and_the_class_needs_a_tenant() {
        let acme: TenantSlug = "acme".parse().unwrap();
        assert_eq!(
            Scope::new(Visibility::Tenant, None),
            Err(VisibilityError::MissingTenant)
        );
        assert_eq!(
            Scope::new(Visibility::Platform, Some(acme.clone())),
            Err(VisibilityError::UnexpectedTenant)
        );
        assert_eq!(
            Scope::new(Visibility::Tenant, Some(acme.clone())),
            Ok(Scope::Tenant(acme))
        );
        assert_eq!("public".parse::<Visibility>(), Err(VisibilityError::Unknown));
    }

    #[test]
    fn unknown_shapes_are_project_paths() {
        let roots = RepositoryRoots::default();
        let deep: RepositoryPath = "gpuaas/platform/a/b".parse().unwrap();
        assert_eq!(roots.scope_of(&deep), Scope::Project);
    }
}
