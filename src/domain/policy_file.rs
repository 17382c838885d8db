//! A candidate policy set as a request sends it: plain `*.cedar` file names and their text.

use std::collections::BTreeMap;

/// Why a string is not a [`PolicyFileName`]; names the refused name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a plain `*.cedar` file name")]
pub struct PolicyFileNameError(String);

/// A name that is a file in a policy directory and nothing else: `*.cedar`, at most 128
/// characters of `A-Z a-z 0-9 - _ .`, no path, no dot file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyFileName(String);

impl PolicyFileName {
    /// The file name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for PolicyFileName {
    type Err = PolicyFileNameError;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let plain = name.len() <= 128
            && name.ends_with(".cedar")
            && name.len() > ".cedar".len()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if plain {
            Ok(Self(name.to_owned()))
        } else {
            Err(PolicyFileNameError(name.to_owned()))
        }
    }
}

super::string_newtype_serde!(PolicyFileName);

/// A policy file's text as sent; Cedar reads it when the candidate set is loaded (control
/// characters are refused with the rest of the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyText(String);

impl PolicyText {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for PolicyText {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl<'de> serde::Deserialize<'de> for PolicyText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

/// Reads a `files` object (name → text): a name that is not a plain `*.cedar` file name is
/// refused naming the object (`files`), the first such name in name order.
pub fn policy_files<'de, D>(d: D) -> Result<BTreeMap<PolicyFileName, PolicyText>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize as _;
    policy_file_set(BTreeMap::<String, String>::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// A candidate set read from name → text, refused at its first bad name in name order.
pub fn policy_file_set(
    files: BTreeMap<String, String>,
) -> Result<BTreeMap<PolicyFileName, PolicyText>, PolicyFileNameError> {
    files
        .into_iter()
        .map(|(name, text)| Ok((name.parse::<PolicyFileName>()?, PolicyText(text))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_cedar_names_are_policy_file_names() {
        for good in ["a.cedar", "team-a_1.v2.cedar"] {
            assert!(good.parse::<PolicyFileName>().is_ok(), "{good}");
        }
        let long = format!("{}.cedar", "a".repeat(123));
        for bad in [
            ".cedar",
            ".hidden.cedar",
            "../escape.cedar",
            "a/b.cedar",
            "a.txt",
            long.as_str(),
        ] {
            assert!(bad.parse::<PolicyFileName>().is_err(), "{bad}");
        }
        assert_eq!(
            "../x.cedar".parse::<PolicyFileName>().unwrap_err().to_string(),
            "`../x.cedar` is not a plain `*.cedar` file name"
        );
    }

    #[test]
    fn a_files_object_is_refused_at_its_first_bad_name() {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(deserialize_with = "policy_files")]
            #[expect(dead_code, reason = "only the error is looked at")]
            files: BTreeMap<PolicyFileName, PolicyText>,
        }
        let error = serde_json::from_str::<Body>(r#"{"files": {"z/.cedar": "", "b c.cedar": ""}}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.starts_with("`b c.cedar` is not a plain"), "{error}");
    }
}
