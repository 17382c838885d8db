//! Cedar authorization: the validated policy set, the per-request entity slice, decisions that
//! can be explained and replayed, and the data-file policy test runner.

mod coverage;
mod engine;
mod entities;
mod entity_cache;
#[cfg(test)]
mod fact_key_tests;
mod loader;
mod principal_permits;
mod prove;
mod read_facts;
mod reasons;
mod replay;
mod request;
mod request_check;
mod slice;
#[cfg(test)]
mod slice_props;
mod test_case;
mod testing;
mod verdict_cache;

pub use coverage::uncovered_consequence;
pub use engine::PolicyEngine;
pub use loader::{PolicyLoadError, PolicyProblem};
pub use prove::{ProofOutcome, ProofResult, prove};
pub use replay::{ReplayChange, ReplayReport, replay};
pub use request::{Action, Caller, Decision, PolicyRequest, RequestContext, Resource};
pub use testing::{CaseOutcome, PolicyTestError, TestFailure, TestReport, run_policy_tests};
pub use verdict_cache::{CacheUse, DEFAULT_ENTRIES as DEFAULT_DECISION_CACHE_ENTRIES};
