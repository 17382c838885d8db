//! The audit trail: hash-chained records of every state change and the decision records. Pure:
//! the writer that commits decisions and the chain walk live with the store they drive
//! (`store::DecisionLogWriter`, `store::chain_status`).

mod chain;
mod json_string;
mod json_text;
mod record;

pub use chain::{ChainBreak, verify_chain};
pub(crate) use json_string::push_json_string;
pub use json_text::JsonText;

pub use record::{
    AuditDecision, AuditRecord, DecisionRecord, NewAuditRecord, PromotionFacts, Transition, UnsealedAudit,
    seal,
};
