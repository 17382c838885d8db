//! Verifying the audit hash chain.

use super::AuditRecord;

/// The first record where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// The record's stored hash does not match its fields (the record was edited).
    #[error("audit record seq {seq} (id {id}) was altered: its hash does not match its contents")]
    Altered {
        /// Position.
        seq: i64,
        /// Record id.
        id: String,
    },
    /// The record does not point at the hash of the one before it.
    #[error("audit record seq {seq} (id {id}) does not chain to the record before it")]
    Unlinked {
        /// Position.
        seq: i64,
        /// Record id.
        id: String,
    },
    /// A sequence number is missing or repeated (a record was deleted or inserted).
    #[error("audit record seq {seq} (id {id}) is out of sequence: expected seq {expected}")]
    Gap {
        /// Position found.
        seq: i64,
        /// Position expected.
        expected: i64,
        /// Record id.
        id: String,
    },
}

/// Checks one page of records in seq order, continuing from `(prev_seq, prev_hash)`; answers
/// where the chain now ends, or the first break.
pub fn verify_chain<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    mut prev_seq: i64,
    mut prev_hash: String,
) -> Result<(i64, String), ChainBreak> {
    for record in records {
        let id = record.id.to_string();
        if record.seq != prev_seq + 1 {
            return Err(ChainBreak::Gap {
                seq: record.seq,
                expected: prev_seq + 1,
                id,
            });
        }
        if record.compute_hash() != record.hash {
            return Err(ChainBreak::Altered { seq: record.seq, id });
        }
        if record.prev_hash != prev_hash {
            return Err(ChainBreak::Unlinked { seq: record.seq, id });
        }
        prev_seq = record.seq;
        prev_hash = record.hash.clone();
    }
    Ok((prev_seq, prev_hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{NewAuditRecord, seal};
    use crate::domain::{Actor, ActorType};

    fn body(action: &str) -> NewAuditRecord {
        let alice = Actor {
            actor_type: ActorType::User,
            id: "alice".into(),
        };
        NewAuditRecord {
            project: Some("team-a".into()),
            ..NewAuditRecord::new(alice, action, "req-1")
        }
    }

    fn chain_of(n: usize) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let (seq, hash) = out.last().map_or((0, String::new()), |r| (r.seq, r.hash.clone()));
            out.push(seal(body(&format!("a{i}")), seq, &hash, chrono::Utc::now()));
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies() {
        let records = chain_of(4);
        let (seq, hash) = verify_chain(&records, 0, String::new()).unwrap();
        assert_eq!(seq, 4);
        assert_eq!(hash, records[3].hash);
        assert_eq!(verify_chain(&[], 0, String::new()), Ok((0, String::new())));
    }

    #[test]
    fn an_edited_record_is_named() {
        let mut records = chain_of(4);
        records[2].body.project = Some("team-b".into());
        let err = verify_chain(&records, 0, String::new()).unwrap_err();
        assert!(matches!(err, ChainBreak::Altered { seq: 3, .. }), "{err}");
    }

    #[test]
    fn a_deleted_record_is_a_gap() {
        let mut records = chain_of(4);
        records.remove(1);
        let err = verify_chain(&records, 0, String::new()).unwrap_err();
        assert!(
            matches!(
                err,
                ChainBreak::Gap {
                    seq: 3,
                    expected: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_rehashed_forgery_breaks_the_link() {
        let mut records = chain_of(3);
        records[1].body.action = "forged".into();
        records[1].hash = records[1].compute_hash();
        let err = verify_chain(&records, 0, String::new()).unwrap_err();
        assert!(matches!(err, ChainBreak::Unlinked { seq: 3, .. }), "{err}");
    }
}
