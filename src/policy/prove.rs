//! `gatehouse policy prove`: properties of the policy set proved for every request the schema
//! allows, with the Cedar symbolic compiler and the cvc5 SMT solver.

use std::fmt;

use cedar_policy::{Policy, PolicyId, PolicySet, RequestEnv, Schema};
use cedar_policy_symcc::solver::LocalSolver;
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicy, CompiledPolicySet, Env};

use super::PolicyEngine;

/// The outcome of one property over every request environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofOutcome {
    /// Holds for every well-formed request and entity store.
    Proved,
    /// Fails; a counterexample in one line.
    Disproved(String),
    /// The check could not be run.
    Error(String),
}

/// One checked property and its outcome.
#[derive(Debug, Clone)]
pub struct ProofResult {
    /// What was checked.
    pub property: String,
    /// What the solver said.
    pub outcome: ProofOutcome,
}

impl fmt::Display for ProofResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            ProofOutcome::Proved => write!(f, "{}: proved", self.property),
            ProofOutcome::Disproved(cex) => {
                write!(f, "{}: DISPROVED (counterexample {cex})", self.property)
            }
            ProofOutcome::Error(e) => write!(f, "{}: error: {e}", self.property),
        }
    }
}

/// The property "only verified artifacts reach prod", as a policy set that allows exactly the
/// requests it accepts.
const TRUSTED_PROD: &str =
    r#"permit (principal, action, resource) when { resource.trust_state == "verified" };"#;
/// Narrows a set to `promote` requests whose channel is `prod`.
const PROD_PROMOTIONS_ONLY: &str = r#"forbid (principal, action, resource) unless { action == Gatehouse::Action::"promote" && context has channel && context.channel == "prod" };"#;

/// Starts cvc5 (from `CVC5`, or `cvc5` on `PATH`) and reports a clear error when it is missing.
fn start_solver() -> Result<CedarSymCompiler<LocalSolver>, String> {
    let solver = LocalSolver::cvc5().map_err(|e| {
        format!(
            "cannot start the SMT solver cvc5 ({e}); install it (e.g. `apt-get install cvc5`) or set the CVC5 environment variable to its path"
        )
    })?;
    CedarSymCompiler::new(solver).map_err(|e| format!("cannot start the symbolic compiler: {e}"))
}

fn one_line(env: &Env) -> String {
    env.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

fn env_name(env: &RequestEnv) -> String {
    format!("{} {} {}", env.principal(), env.action(), env.resource())
}

fn parse_set(src: &str, id: &str) -> Result<PolicySet, String> {
    let policy = Policy::parse(Some(PolicyId::new(id)), src).map_err(|e| format!("{e}"))?;
    let mut set = PolicySet::new();
    set.add(policy).map_err(|e| format!("{e}"))?;
    Ok(set)
}

fn is_promote(env: &RequestEnv) -> bool {
    env.action().id().unescaped() == "promote"
}

/// Proves the shipped properties of `current` (and, with `candidate`, that the candidate only
/// restricts it). An `Err` means the solver could not be started.
pub async fn prove(
    current: &PolicyEngine,
    candidate: Option<&PolicyEngine>,
) -> Result<Vec<ProofResult>, String> {
    let mut compiler = start_solver()?;
    let schema = current.schema();
    let envs: Vec<RequestEnv> = schema.request_envs().collect();
    let mut results = vec![ProofResult {
        property: "no policy can error".into(),
        outcome: never_errors(&mut compiler, current.policies(), &envs, schema).await,
    }];
    results.push(ProofResult {
        property: "nothing reaches prod unless trust is verified".into(),
        outcome: trusted_prod(&mut compiler, current.enforced(), &envs, schema).await,
    });
    if let Some(candidate) = candidate {
        results.push(ProofResult {
            property: "the candidate only restricts the current set".into(),
            outcome: only_restricts(
                &mut compiler,
                candidate.enforced(),
                current.enforced(),
                &envs,
                schema,
            )
            .await,
        });
    }
    Ok(results)
}

async fn never_errors(
    compiler: &mut CedarSymCompiler<LocalSolver>,
    set: &PolicySet,
    envs: &[RequestEnv],
    schema: &Schema,
) -> ProofOutcome {
    for env in envs {
        for policy in set.policies() {
            let compiled = match CompiledPolicy::compile(policy, env, schema) {
                Ok(c) => c,
                Err(e) => return ProofOutcome::Error(format!("{} in {}: {e}", policy.id(), env_name(env))),
            };
            match compiler
                .check_never_errors_with_counterexample_opt(&compiled)
                .await
            {
                Ok(None) => {}
                Ok(Some(cex)) => {
                    return ProofOutcome::Disproved(format!(
                        "policy {} errors on {}",
                        policy.id(),
                        one_line(&cex)
                    ));
                }
                Err(e) => return ProofOutcome::Error(format!("{} in {}: {e}", policy.id(), env_name(env))),
            }
        }
    }
    ProofOutcome::Proved
}

async fn trusted_prod(
    compiler: &mut CedarSymCompiler<LocalSolver>,
    set: &PolicySet,
    envs: &[RequestEnv],
    schema: &Schema,
) -> ProofOutcome {
    let (narrowed, property) = match (|| {
        let mut narrowed = set.clone();
        let forbid = Policy::parse(
            Some(PolicyId::new("gatehouse-prove-prod-promotions")),
            PROD_PROMOTIONS_ONLY,
        )
        .map_err(|e| format!("{e}"))?;
        narrowed.add(forbid).map_err(|e| format!("{e}"))?;
        Ok::<_, String>((narrowed, parse_set(TRUSTED_PROD, "gatehouse-prove-trusted")?))
    })() {
        Ok(sets) => sets,
        Err(e) => return ProofOutcome::Error(e),
    };
    for env in envs.iter().filter(|env| is_promote(env)) {
        let outcome = implies(compiler, &narrowed, &property, env, schema).await;
        if outcome != ProofOutcome::Proved {
            return outcome;
        }
    }
    ProofOutcome::Proved
}

async fn only_restricts(
    compiler: &mut CedarSymCompiler<LocalSolver>,
    candidate: &PolicySet,
    current: &PolicySet,
    envs: &[RequestEnv],
    schema: &Schema,
) -> ProofOutcome {
    for env in envs {
        let outcome = implies(compiler, candidate, current, env, schema).await;
        if outcome != ProofOutcome::Proved {
            return outcome;
        }
    }
    ProofOutcome::Proved
}

/// Whether everything `a` allows in `env`, `b` allows too.
async fn implies(
    compiler: &mut CedarSymCompiler<LocalSolver>,
    a: &PolicySet,
    b: &PolicySet,
    env: &RequestEnv,
    schema: &Schema,
) -> ProofOutcome {
    let compile = |set: &PolicySet| {
        CompiledPolicySet::compile(set, env, schema).map_err(|e| format!("{}: {e}", env_name(env)))
    };
    let (a, b) = match compile(a).and_then(|a| compile(b).map(|b| (a, b))) {
        Ok(sets) => sets,
        Err(e) => return ProofOutcome::Error(e),
    };
    match compiler.check_implies_with_counterexample_opt(&a, &b).await {
        Ok(None) => ProofOutcome::Proved,
        Ok(Some(cex)) => ProofOutcome::Disproved(one_line(&cex)),
        Err(e) => ProofOutcome::Error(format!("{}: {e}", env_name(env))),
    }
}
