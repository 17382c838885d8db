//! What a request's access line reports that only the code serving it knows: who the caller
//! authenticated as and what the policy decided. Noted on the request's task; a note made
//! outside a request (the worker, signals) goes nowhere.

use std::cell::RefCell;
use std::future::Future;

use crate::domain::ActorType;

/// Who called and what was decided, as far as the request got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessNote {
    /// `<actor type>:<id>` of the authenticated caller.
    pub principal: Option<String>,
    /// `allow`, `deny` or `break_glass`, when the request made a decision.
    pub decision: Option<&'static str>,
}

#[derive(Default)]
struct Noting {
    note: AccessNote,
    /// Set while evaluating for a listing filter or a piece of evidence: those decisions are not
    /// the request's answer.
    paused: bool,
}

tokio::task_local! {
    static NOTE: RefCell<Noting>;
}

/// Runs `serve` (one request) and answers its output with what was noted while it ran.
pub async fn noting<F: Future>(serve: F) -> (F::Output, AccessNote) {
    NOTE.scope(RefCell::new(Noting::default()), async move {
        let output = serve.await;
        // Taken, not cloned: the scope ends here.
        let note = NOTE.with(|n| std::mem::take(&mut n.borrow_mut().note));
        (output, note)
    })
    .await
}

/// Notes the authenticated caller as `<actor type>:<id>`.
pub fn note_principal(actor: &crate::domain::Actor) {
    let kind = match actor.actor_type {
        ActorType::User => "user",
        ActorType::ServiceAccount => "service_account",
        ActorType::Registry => "registry",
        ActorType::KubernetesApiServer => "kubernetes_api_server",
    };
    let _ = NOTE.try_with(|n| {
        // Pushed, not `format!`ed: this runs on every authenticated request.
        let mut principal = String::with_capacity(kind.len() + 1 + actor.id.len());
        for part in [kind, ":", &actor.id] {
            principal.push_str(part);
        }
        n.borrow_mut().note.principal = Some(principal);
    });
}

/// Notes a decision. A deny outweighs any allow of the same request; a break-glass override
/// replaces the deny it overrode.
pub fn note_decision(effect: &'static str) {
    let _ = NOTE.try_with(|n| {
        let mut n = n.borrow_mut();
        if n.paused {
            return;
        }
        let keep_earlier = effect == "allow" && n.note.decision.is_some();
        if !keep_earlier {
            n.note.decision = Some(effect);
        }
    });
}

/// Runs `evaluate` without noting its decisions (filters and evidence, not the answer).
pub fn unnoted<R>(evaluate: impl FnOnce() -> R) -> R {
    let was = NOTE.try_with(|n| std::mem::replace(&mut n.borrow_mut().paused, true));
    let result = evaluate();
    if let Ok(was) = was {
        let _ = NOTE.try_with(|n| n.borrow_mut().paused = was);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_deny_outweighs_allows_and_filters_are_not_the_answer() {
        let ((), note) = noting(async {
            note_principal(&crate::domain::Actor {
                actor_type: ActorType::User,
                id: "alice".to_owned(),
            });
            note_decision("allow");
            unnoted(|| note_decision("deny"));
            note_decision("allow");
        })
        .await;
        assert_eq!(note.principal.as_deref(), Some("user:alice"));
        assert_eq!(note.decision, Some("allow"));

        let ((), note) = noting(async {
            note_decision("deny");
            note_decision("allow");
        })
        .await;
        assert_eq!(note.decision, Some("deny"));

        let ((), note) = noting(async {
            note_decision("deny");
            note_decision("break_glass");
        })
        .await;
        assert_eq!(note.decision, Some("break_glass"));
        // Outside a request nothing is noted and nothing fails.
        note_decision("deny");
    }
}
