//! The trust state machine: whether an artifact may be believed.

use std::str::FromStr;

use super::KindError;

/// Trust state: `unverified` → `verified` | `failed_verification`; any → `revoked` (terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrustState {
    /// No verification has run yet.
    Unverified,
    /// Every required trust input passed.
    Verified,
    /// An attempted check failed.
    FailedVerification,
    /// Terminal: no new use, pull intents or promotions.
    Revoked,
}

/// A trust transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrustMove {
    /// Verification ran and every required input passed.
    VerificationPassed,
    /// Verification ran and an attempted check failed.
    VerificationFailed,
    /// An explicit revocation.
    Revoke,
}

/// A forbidden trust move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// Revoked is terminal.
    #[error("artifact trust is revoked: it cannot be verified again")]
    Revoked,
    /// Revoking twice is refused.
    #[error("artifact is already revoked")]
    AlreadyRevoked,
}

impl TrustState {
    /// The wire form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Unverified => "unverified",
            Self::Verified => "verified",
            Self::FailedVerification => "failed_verification",
            Self::Revoked => "revoked",
        }
    }

    /// Applies `mv`; total over every pair.
    pub fn apply(self, mv: TrustMove) -> Result<Self, TrustError> {
        match (self, mv) {
            (Self::Revoked, TrustMove::Revoke) => Err(TrustError::AlreadyRevoked),
            (Self::Revoked, _) => Err(TrustError::Revoked),
            (_, TrustMove::VerificationPassed) => Ok(Self::Verified),
            (_, TrustMove::VerificationFailed) => Ok(Self::FailedVerification),
            (_, TrustMove::Revoke) => Ok(Self::Revoked),
        }
    }
}

impl FromStr for TrustState {
    type Err = KindError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "unverified" => Ok(Self::Unverified),
            "verified" => Ok(Self::Verified),
            "failed_verification" => Ok(Self::FailedVerification),
            "revoked" => Ok(Self::Revoked),
            other => Err(KindError::UnknownKind(other.to_owned())),
        }
    }
}

super::string_newtype_serde!(TrustState);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_move() -> impl Strategy<Value = TrustMove> {
        prop_oneof![
            Just(TrustMove::VerificationPassed),
            Just(TrustMove::VerificationFailed),
            Just(TrustMove::Revoke)
        ]
    }

    #[test]
    fn verification_moves_between_verified_and_failed() {
        let s = TrustState::Unverified
            .apply(TrustMove::VerificationFailed)
            .unwrap();
        assert_eq!(s, TrustState::FailedVerification);
        let s = s.apply(TrustMove::VerificationPassed).unwrap();
        assert_eq!(s, TrustState::Verified);
        assert_eq!(s.apply(TrustMove::Revoke), Ok(TrustState::Revoked));
    }

    proptest! {
        #[test]
        fn no_sequence_escapes_revoked(start in prop_oneof![
            Just(TrustState::Unverified), Just(TrustState::Verified), Just(TrustState::FailedVerification)
        ], before in proptest::collection::vec(any_move(), 0..10), after in proptest::collection::vec(any_move(), 0..20)) {
            let mut state = start;
            for mv in before {
                state = state.apply(mv).unwrap_or(state);
            }
            state = state.apply(TrustMove::Revoke).unwrap_or(state);
            prop_assert_eq!(state, TrustState::Revoked);
            for mv in after {
                prop_assert!(state.apply(mv).is_err());
                state = state.apply(mv).unwrap_or(state);
                prop_assert_eq!(state, TrustState::Revoked);
            }
        }
    }
}
