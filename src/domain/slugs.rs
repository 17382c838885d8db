//! Project and app slugs and canonical repository paths.

use std::str::FromStr;

/// Why a string is not a valid slug or repository path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    /// Empty or longer than 63 characters.
    #[error("must be 1 to 63 characters long")]
    Length,
    /// Holds a character outside `a-z`, `0-9`, `-`, or starts/ends with `-`.
    #[error("must be lowercase letters, digits and inner hyphens only")]
    Characters,
    /// A repository path component is not a valid OCI path component.
    #[error("repository path `{0}` is not a lowercase OCI path")]
    Repository(String),
}

fn check_slug(raw: &str) -> Result<(), SlugError> {
    if raw.is_empty() || raw.len() > 63 {
        return Err(SlugError::Length);
    }
    let ok_chars = raw
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok_chars || raw.starts_with('-') || raw.ends_with('-') {
        return Err(SlugError::Characters);
    }
    Ok(())
}

macro_rules! slug_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The slug text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = SlugError;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                check_slug(raw)?;
                Ok(Self(raw.to_owned()))
            }
        }

        super::string_newtype_serde!($name);
    };
}

slug_type!(
    /// A project slug: the tenancy boundary every artifact belongs to.
    ProjectSlug
);
slug_type!(
    /// An app slug within a project.
    AppSlug
);
slug_type!(
    /// A tenant slug: names a tenant-visible repository `<tenant root>/<tenant>/<name>`.
    TenantSlug
);
slug_type!(
    /// A promotion's target environment such as `prod-eu` (the slug grammar).
    EnvironmentSlug
);

/// A canonical repository path such as `gpuaas/apps/<project>/<app>`: lowercase OCI path
/// components separated by `/`, no host part.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryPath(String);

impl RepositoryPath {
    /// The canonical path `<root>/<project>/<app>` the gateway chooses for a project's app.
    pub fn canonical(root: &RepositoryPath, project: &ProjectSlug, app: &AppSlug) -> Self {
        Self(format!("{}/{}/{}", root.0, project.as_str(), app.as_str()))
    }

    /// The path text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The default registry root, `gpuaas/apps`.
    pub fn default_root() -> Self {
        Self("gpuaas/apps".to_owned())
    }

    /// The default root of platform repositories, `gpuaas/platform`.
    pub fn default_platform_root() -> Self {
        Self("gpuaas/platform".to_owned())
    }

    /// The default root of tenant repositories, `gpuaas/tenants`.
    pub fn default_tenant_root() -> Self {
        Self("gpuaas/tenants".to_owned())
    }

    /// The project a repository under this root belongs to (`<root>/<project>/…`, with at least
    /// one component after the project), when that component is a project slug.
    pub fn project_of(&self, repository: &str) -> Option<ProjectSlug> {
        let rest = repository.strip_prefix(self.as_str())?.strip_prefix('/')?;
        let (project, _) = rest.split_once('/')?;
        project.parse().ok()
    }

    /// `(project, name)` of a path exactly `<root>/<project>/<name>` under this root, when the
    /// project component is a project slug.
    pub fn project_and_name_of<'a>(&self, path: &'a RepositoryPath) -> Option<(ProjectSlug, &'a str)> {
        let rest = path.as_str().strip_prefix(self.as_str())?.strip_prefix('/')?;
        let (project, name) = rest.split_once('/')?;
        if name.contains('/') {
            return None;
        }
        Some((project.parse().ok()?, name))
    }

    /// `<self>/<a>` and, if given, `/<b>`: slugs are always valid path components.
    pub(super) fn join(&self, a: &str, b: Option<&str>) -> Self {
        match b {
            Some(b) => Self(format!("{}/{a}/{b}", self.0)),
            None => Self(format!("{}/{a}", self.0)),
        }
    }
}

fn is_path_component(c: &str) -> bool {
    // OCI distribution: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
    let bytes = c.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(&bytes[0]) || !bytes.last().is_some_and(alnum) {
        return false;
    }
    let mut run = String::new();
    for ch in c.chars() {
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            let separator_ok =
                run.is_empty() || matches!(run.as_str(), "." | "_" | "__") || run.bytes().all(|b| b == b'-');
            if !separator_ok {
                return false;
            }
            run.clear();
        } else if matches!(ch, '.' | '_' | '-') {
            run.push(ch);
        } else {
            return false;
        }
    }
    true
}

impl FromStr for RepositoryPath {
    type Err = SlugError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.is_empty() || raw.len() > 255 || !raw.split('/').all(is_path_component) {
            return Err(SlugError::Repository(raw.to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }
}

super::string_newtype_serde!(RepositoryPath);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_lowercase_and_refuse_the_rest() {
        assert!("team-a".parse::<ProjectSlug>().is_ok());
        assert_eq!("Team".parse::<ProjectSlug>(), Err(SlugError::Characters));
        assert_eq!("-a".parse::<AppSlug>(), Err(SlugError::Characters));
        assert_eq!("".parse::<AppSlug>(), Err(SlugError::Length));
        assert_eq!("a".repeat(64).parse::<AppSlug>(), Err(SlugError::Length));
        assert!("a/b".parse::<ProjectSlug>().is_err());
    }

    #[test]
    fn environments_follow_the_slug_grammar() {
        for good in ["prod-eu", "a", "0", &"e".repeat(63)] {
            assert!(good.parse::<EnvironmentSlug>().is_ok(), "{good}");
        }
        assert_eq!("".parse::<EnvironmentSlug>(), Err(SlugError::Length));
        assert_eq!("e".repeat(64).parse::<EnvironmentSlug>(), Err(SlugError::Length));
        for bad in ["Prod", "prod_eu", "prod-", "-prod", "prod eu"] {
            assert_eq!(
                bad.parse::<EnvironmentSlug>(),
                Err(SlugError::Characters),
                "{bad}"
            );
        }
    }

    #[test]
    fn repository_paths_follow_oci_rules() {
        assert!("gpuaas/apps/team-a/trainer".parse::<RepositoryPath>().is_ok());
        assert!("a/b__c/d.e".parse::<RepositoryPath>().is_ok());
        assert!("gpuaas//x".parse::<RepositoryPath>().is_err());
        assert!("Gpuaas/x".parse::<RepositoryPath>().is_err());
        assert!("gpuaas/x/".parse::<RepositoryPath>().is_err());
        assert!("localhost:5000/x".parse::<RepositoryPath>().is_err());
        assert!("a/b._c".parse::<RepositoryPath>().is_err());
    }

    #[test]
    fn canonical_path_joins_root_project_and_app() {
        let root: RepositoryPath = "gpuaas/apps".parse().unwrap();
        let path = RepositoryPath::canonical(&root, &"team-a".parse().unwrap(), &"trainer".parse().unwrap());
        assert_eq!(path.as_str(), "gpuaas/apps/team-a/trainer");
    }
}
