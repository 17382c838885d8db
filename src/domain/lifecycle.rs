//! The lifecycle state machine: what may be done with an artifact.

use std::str::FromStr;

use super::{KindError, TrustState};

/// Lifecycle state: `published` → `promoted` → `deprecated` → `retired` (terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleState {
    /// Registered, not promoted anywhere yet.
    Published,
    /// Promoted to at least one channel.
    Promoted,
    /// No new use.
    Deprecated,
    /// Terminal: stays auditable, accepts no lifecycle action.
    Retired,
}

/// An explicit lifecycle action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleMove {
    /// Promote to a channel.
    Promote,
    /// Mark as no longer for new use.
    Deprecate,
    /// End of life.
    Retire,
}

/// A forbidden lifecycle move, named so a caller can read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// Retired is terminal.
    #[error("artifact is retired: no lifecycle action is accepted")]
    Retired,
    /// Deprecated artifacts are never promoted.
    #[error("artifact is deprecated and cannot be promoted")]
    PromoteDeprecated,
    /// Revoked artifacts are never promoted.
    #[error("artifact trust is revoked and it cannot be promoted")]
    PromoteRevoked,
    /// Deprecating twice is refused so the audit trail stays meaningful.
    #[error("artifact is already deprecated")]
    AlreadyDeprecated,
}

impl LifecycleState {
    /// The wire form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Promoted => "promoted",
            Self::Deprecated => "deprecated",
            Self::Retired => "retired",
        }
    }

    /// Whether the state allows a promotion (trust aside).
    pub fn is_promotable(&self) -> bool {
        matches!(self, Self::Published | Self::Promoted)
    }

    /// Applies `mv` given the artifact's trust state; total over every pair.
    pub fn apply(self, mv: LifecycleMove, trust: TrustState) -> Result<Self, LifecycleError> {
        use LifecycleMove as M;
        match (self, mv) {
            (Self::Retired, _) => Err(LifecycleError::Retired),
            (Self::Deprecated, M::Promote) => Err(LifecycleError::PromoteDeprecated),
            (_, M::Promote) if trust == TrustState::Revoked => Err(LifecycleError::PromoteRevoked),
            (_, M::Promote) => Ok(Self::Promoted),
            (Self::Deprecated, M::Deprecate) => Err(LifecycleError::AlreadyDeprecated),
            (_, M::Deprecate) => Ok(Self::Deprecated),
            (_, M::Retire) => Ok(Self::Retired),
        }
    }
}

impl FromStr for LifecycleState {
    type Err = KindError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "published" => Ok(Self::Published),
            "promoted" => Ok(Self::Promoted),
            "deprecated" => Ok(Self::Deprecated),
            "retired" => Ok(Self::Retired),
            other => Err(KindError::UnknownKind(other.to_owned())),
        }
    }
}

super::string_newtype_serde!(LifecycleState);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_move() -> impl Strategy<Value = LifecycleMove> {
        prop_oneof![
            Just(LifecycleMove::Promote),
            Just(LifecycleMove::Deprecate),
            Just(LifecycleMove::Retire)
        ]
    }

    fn any_trust() -> impl Strategy<Value = TrustState> {
        prop_oneof![
            Just(TrustState::Unverified),
            Just(TrustState::Verified),
            Just(TrustState::FailedVerification),
            Just(TrustState::Revoked)
        ]
    }

    #[test]
    fn the_documented_path_works() {
        let s = LifecycleState::Published;
        let s = s.apply(LifecycleMove::Promote, TrustState::Verified).unwrap();
        assert_eq!(s, LifecycleState::Promoted);
        let s = s.apply(LifecycleMove::Promote, TrustState::Verified).unwrap();
        let s = s.apply(LifecycleMove::Deprecate, TrustState::Verified).unwrap();
        assert_eq!(
            s.apply(LifecycleMove::Promote, TrustState::Verified),
            Err(LifecycleError::PromoteDeprecated)
        );
        let s = s.apply(LifecycleMove::Retire, TrustState::Verified).unwrap();
        assert_eq!(s, LifecycleState::Retired);
    }

    proptest! {
        #[test]
        fn no_sequence_escapes_retired(moves in proptest::collection::vec((any_move(), any_trust()), 0..20)) {
            let mut state = LifecycleState::Retired;
            for (mv, trust) in moves {
                prop_assert_eq!(state.apply(mv, trust), Err(LifecycleError::Retired));
                state = state.apply(mv, trust).unwrap_or(state);
                prop_assert_eq!(state, LifecycleState::Retired);
            }
        }

        #[test]
        fn once_retired_always_retired(moves in proptest::collection::vec((any_move(), any_trust()), 0..30)) {
            let mut state = LifecycleState::Published;
            let mut retired = false;
            for (mv, trust) in moves {
                state = state.apply(mv, trust).unwrap_or(state);
                retired |= state == LifecycleState::Retired;
                prop_assert!(!retired || state == LifecycleState::Retired);
            }
        }

        #[test]
        fn deprecated_retired_and_revoked_are_never_promotable(
            start in prop_oneof![Just(LifecycleState::Deprecated), Just(LifecycleState::Retired)],
            trust in any_trust(),
            other in prop_oneof![Just(LifecycleState::Published), Just(LifecycleState::Promoted)],
        ) {
            prop_assert!(start.apply(LifecycleMove::Promote, trust).is_err());
            prop_assert!(!start.is_promotable());
            prop_assert_eq!(other.apply(LifecycleMove::Promote, TrustState::Revoked), Err(LifecycleError::PromoteRevoked));
        }
    }
}
