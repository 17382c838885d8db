//! The audit trail (hash-chained records of every state change) and the decision log.

mod chain;
mod decision_log;
mod record;
mod status;

pub use chain::{ChainBreak, verify_chain};
pub use decision_log::{DecisionLogError, DecisionLogWriter};
pub use status::{ChainStatus, chain_status};

pub use record::{
    AuditDecision, AuditRecord, DecisionRecord, NewAuditRecord, PromotionFacts, Transition, UnsealedAudit,
    seal,
};
