//! A repository as a registry event names it: any text the registry sends (events about
//! repositories that are not the gateway's are kept and handled as such), read once, where the
//! event arrives or its row is decoded, into the gateway path it is when it is one.

use super::RepositoryPath;

/// The repository an event names, with the [`RepositoryPath`] it reads as, if it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRepository {
    name: String,
    path: Option<RepositoryPath>,
}

impl RegistryRepository {
    /// The name as the registry sent it.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The gateway path, when the name is a valid repository path.
    pub fn path(&self) -> Option<&RepositoryPath> {
        self.path.as_ref()
    }
}

impl From<String> for RegistryRepository {
    fn from(name: String) -> Self {
        let path = name.parse().ok();
        Self { name, path }
    }
}

impl From<&str> for RegistryRepository {
    fn from(name: &str) -> Self {
        Self::from(name.to_owned())
    }
}

impl PartialEq<str> for RegistryRepository {
    fn eq(&self, other: &str) -> bool {
        self.name == other
    }
}

impl PartialEq<&str> for RegistryRepository {
    fn eq(&self, other: &&str) -> bool {
        self.name == *other
    }
}

impl std::fmt::Display for RegistryRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl serde::Serialize for RegistryRepository {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> serde::Deserialize<'de> for RegistryRepository {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_name_is_kept_and_only_a_valid_path_reads_as_one() {
        let ours = RegistryRepository::from("gpuaas/apps/team-a/web");
        assert_eq!(
            ours.path().map(RepositoryPath::as_str),
            Some("gpuaas/apps/team-a/web")
        );
        let other = RegistryRepository::from("Other/Repo");
        assert_eq!((other.as_str(), other.path()), ("Other/Repo", None));
        assert_eq!(other, "Other/Repo");
    }
}
