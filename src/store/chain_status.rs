//! The audit chain's status, walked from the store one page at a time: how far it verifies,
//! its head, what is committed but not yet sealed, or where it breaks. `gatehouse audit
//! verify`, `GET /v1/audit/chain` and the console's audit page all answer from this walk.

use serde::Serialize;

use super::{Store, StoreError};
use crate::audit::verify_chain;

/// Records read per round trip.
const PAGE: u32 = 1000;

/// What the chain looks like now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainStatus {
    /// True when every sealed record verifies.
    pub intact: bool,
    /// Sealed records verified (the seq of the last one that verifies).
    pub records: i64,
    /// Hash of the last verified record; `None` for an empty chain.
    pub head_hash: Option<String>,
    /// Records committed but not yet sealed into the chain (neither verified nor broken).
    pub pending: i64,
    /// The first record where the chain does not hold, when it does not.
    pub broken: Option<String>,
}

/// Recomputes the whole chain from the first record.
pub async fn chain_status(store: &dyn Store) -> Result<ChainStatus, StoreError> {
    let (mut seq, mut hash) = (0_i64, String::new());
    let mut broken = None;
    loop {
        let page = store.audit_chain_page(seq, PAGE).await?;
        if page.is_empty() {
            break;
        }
        match verify_chain(&page, seq, hash.clone()) {
            Ok((last_seq, last_hash)) => (seq, hash) = (last_seq, last_hash),
            Err(at) => {
                broken = Some(at.to_string());
                break;
            }
        }
    }
    let pending = store.unsealed_audit_records().await?;
    Ok(ChainStatus {
        intact: broken.is_none(),
        records: seq,
        head_hash: (!hash.is_empty()).then_some(hash),
        pending,
        broken,
    })
}
