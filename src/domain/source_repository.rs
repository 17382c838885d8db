//! One spelling for a source repository, so what provenance states and what the configuration
//! allows compare as plain strings in Cedar.
//!
//! The rules, in order (a URI that breaks one is refused, never guessed at):
//! 1. no whitespace or control characters, at most [`MAX_SOURCE_URI_LEN`] bytes;
//! 2. a leading `git+` (SPDX/pip style, `git+https://…`) is dropped;
//! 3. it must be `scheme://authority/path`; scheme and host are lower-cased, user info
//!    (`user:token@`) is dropped so no credential is ever kept;
//! 4. `?query` and `#fragment` are dropped;
//! 5. `@<ref>` after the path is split off as the ref (`…/repo@refs/heads/main`);
//! 6. trailing `/` and one trailing `.git` are dropped; the path must stay non-empty.
//!
//! The path keeps its case: hosts differ in whether `Org/Repo` and `org/repo` are one repository.

/// Longest source URI read.
pub const MAX_SOURCE_URI_LEN: usize = 1024;

/// A source URI split into its normalised repository and the ref it named, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUri {
    /// `scheme://host[:port]/path`, normalised.
    pub repository: String,
    /// What followed `@` after the path, e.g. `refs/heads/main`.
    pub git_ref: Option<String>,
}

/// Normalises `raw` by the rules above; `None` when it is not a repository URI.
pub fn normalise_source_uri(raw: &str) -> Option<SourceUri> {
    if raw.len() > MAX_SOURCE_URI_LEN || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let raw = raw.strip_prefix("git+").unwrap_or(raw);
    let (scheme, rest) = raw.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let rest = rest.split(['#', '?']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/')?);
    // User info may carry a token: it is never part of the repository's name.
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if host.is_empty() {
        return None;
    }
    let (path, git_ref) = match path.split_once('@') {
        Some((path, git_ref)) => (path, Some(git_ref).filter(|r| !r.is_empty())),
        None => (path, None),
    };
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path).trim_end_matches('/');
    if path.is_empty() {
        return None;
    }
    Some(SourceUri {
        repository: format!(
            "{}://{}{path}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        ),
        git_ref: git_ref.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(raw: &str) -> Option<(String, Option<String>)> {
        normalise_source_uri(raw).map(|s| (s.repository, s.git_ref))
    }

    #[test]
    fn slsa_spellings_of_one_repository_normalise_alike() {
        let plain = Some(("https://github.com/Org/repo".to_owned(), None));
        for raw in [
            "https://github.com/Org/repo",
            "git+https://github.com/Org/repo",
            "git+https://GitHub.com/Org/repo.git",
            "HTTPS://github.com/Org/repo/",
            "https://x-access-token:secret@github.com/Org/repo",
            "https://github.com/Org/repo?ref=main#sub",
        ] {
            assert_eq!(repo(raw), plain, "{raw}");
        }
        assert_eq!(
            repo("git+https://github.com/Org/repo@refs/heads/main"),
            Some((
                "https://github.com/Org/repo".to_owned(),
                Some("refs/heads/main".to_owned())
            ))
        );
        assert_eq!(
            repo("git+ssh://git@gitlab.example:2222/group/sub/repo.git@v1.2"),
            Some((
                "ssh://gitlab.example:2222/group/sub/repo".to_owned(),
                Some("v1.2".to_owned())
            ))
        );
    }

    #[test]
    fn what_is_not_a_repository_uri_is_refused() {
        for raw in [
            "",
            "github.com/org/repo",
            "https://",
            "https://github.com",
            "https://github.com/",
            "https:///org/repo",
            "https://user@/org/repo",
            "1http://github.com/org/repo",
            "ht tp://github.com/org/repo",
            "https://github.com/org/repo\n",
            "https://github.com/org/\u{0}repo",
            "https://github.com/.git",
            "https://github.com/@refs/heads/main",
        ] {
            assert_eq!(repo(raw), None, "{raw:?}");
        }
        let huge = format!("https://github.com/{}", "a".repeat(MAX_SOURCE_URI_LEN));
        assert_eq!(repo(&huge), None);
    }
}
