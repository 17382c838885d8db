//! The action word an admission review asks about.

use std::str::FromStr;

/// Why a word is not a review action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action `{0}`")]
pub struct ReviewActionError(String);

/// What an admission review asks: `deploy` or `pull` (both the `admit` action, with that
/// `deploy_action`), `admit` itself (read as `deploy`), or another artifact action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewAction {
    /// `deploy`.
    Deploy,
    /// `pull`.
    Pull,
    /// `admit` (a deploy).
    Admit,
    /// `promote`.
    Promote,
    /// `verify`.
    Verify,
    /// `deprecate`.
    Deprecate,
    /// `retire`.
    Retire,
    /// `revoke`.
    Revoke,
    /// `read`.
    Read,
    /// `request_pull_intent`.
    RequestPullIntent,
}

impl ReviewAction {
    /// Every review action, in the order they are documented.
    pub const ALL: [Self; 10] = [
        Self::Deploy,
        Self::Pull,
        Self::Admit,
        Self::Promote,
        Self::Verify,
        Self::Deprecate,
        Self::Retire,
        Self::Revoke,
        Self::Read,
        Self::RequestPullIntent,
    ];

    /// The word as a request spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Pull => "pull",
            Self::Admit => "admit",
            Self::Promote => "promote",
            Self::Verify => "verify",
            Self::Deprecate => "deprecate",
            Self::Retire => "retire",
            Self::Revoke => "revoke",
            Self::Read => "read",
            Self::RequestPullIntent => "request_pull_intent",
        }
    }
}

impl FromStr for ReviewAction {
    type Err = ReviewActionError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == raw)
            .ok_or_else(|| ReviewActionError(raw.to_owned()))
    }
}

super::string_newtype_serde!(ReviewAction);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_round_trips_and_others_are_named() {
        for action in ReviewAction::ALL {
            assert_eq!(action.as_str().parse::<ReviewAction>(), Ok(action));
        }
        for bad in ["", "Deploy", "deploy ", "publish", "admin"] {
            let error = bad.parse::<ReviewAction>().unwrap_err();
            assert_eq!(error.to_string(), format!("unknown action `{bad}`"));
        }
    }
}
