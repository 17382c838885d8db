//! The schema check of a live request, done once per request shape instead of once per request.
//!
//! `Request::new(.., Some(schema))` checks that the principal and resource types apply to the
//! action and that the context conforms to the action's context type; the context check clones
//! and typechecks the record, about a sixth of an uncached decision. For a request built from
//! typed values the answer depends only on its shape: the principal's and resource's entity
//! types, the action, and which context fields are set (every field is a string or a bool,
//! whatever its value). Entity ids matter only for enumerated entity types, so a schema that
//! declares any keeps checking every request.
//!
//! A shape the schema accepts is remembered and later requests of it are built without the
//! check; a shape it refuses is never remembered, so each such request is checked and denied
//! with Cedar's own error, as before. Debug builds (the test suite) check every request anyway.

use std::collections::HashSet;
use std::sync::RwLock;

use cedar_policy::{Context, EntityUid, Request, Schema, SchemaFragment};
use serde_json::Value;

use super::request::{Action, RequestContext};

/// What the schema check of a live request depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RequestShape {
    /// The principal's unqualified entity type.
    pub(crate) principal: &'static str,
    pub(crate) action: Action,
    /// The resource's unqualified entity type.
    pub(crate) resource: &'static str,
    /// One bit per context field that is set ([`context_fields`]).
    pub(crate) fields: u16,
}

/// The context fields that are set, one bit each.
pub(crate) fn context_fields(context: &RequestContext) -> u16 {
    let (strings, flags) = context.fields();
    let set = strings
        .iter()
        .map(|(_, value)| value.is_some())
        .chain(flags.iter().map(|(_, value)| value.is_some()));
    set.enumerate()
        .fold(0, |bits, (i, set)| bits | (u16::from(set) << i))
}

/// The request shapes one schema accepted.
#[derive(Debug)]
pub(crate) struct RequestChecks {
    /// Off when the schema declares an enumerated entity type (ids then matter).
    enabled: bool,
    accepted: RwLock<HashSet<RequestShape>>,
}

impl RequestChecks {
    /// Remembering shapes for the schema whose text is `schema_text`.
    pub(crate) fn new(schema_text: &str) -> Self {
        Self {
            enabled: !declares_enumerated_types(schema_text),
            accepted: RwLock::default(),
        }
    }

    /// Whether shapes are remembered at all.
    #[cfg(test)]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// The request, checked against `schema` unless a request of the same `shape` passed.
    pub(crate) fn request(
        &self,
        schema: &Schema,
        shape: RequestShape,
        (principal, action, resource): (EntityUid, EntityUid, EntityUid),
        context: Context,
    ) -> Result<Request, String> {
        self.request_checking(
            schema,
            shape,
            (principal, action, resource),
            context,
            cfg!(debug_assertions),
        )
    }

    /// [`Self::request`]; `always` checks even a shape that passed (what debug builds do).
    fn request_checking(
        &self,
        schema: &Schema,
        shape: RequestShape,
        (principal, action, resource): (EntityUid, EntityUid, EntityUid),
        context: Context,
        always: bool,
    ) -> Result<Request, String> {
        if self.enabled && !always && self.accepted(&shape) {
            return Request::new(principal, action, resource, context, None)
                .map_err(|e| format!("invalid request: {e}"));
        }
        let request = Request::new(principal, action, resource, context, Some(schema))
            .map_err(|e| format!("invalid request: {e}"))?;
        if self.enabled {
            // A poisoned lock only stops remembering: every request is then checked.
            if let Ok(mut accepted) = self.accepted.write() {
                accepted.insert(shape);
            }
        }
        Ok(request)
    }

    /// Whether a request of `shape` passed the check before.
    pub(crate) fn accepted(&self, shape: &RequestShape) -> bool {
        self.accepted
            .read()
            .is_ok_and(|accepted| accepted.contains(shape))
    }
}

/// Whether the schema declares an enumerated entity type (or cannot be read back, to be safe).
fn declares_enumerated_types(schema_text: &str) -> bool {
    let Ok(json) = SchemaFragment::from_cedarschema_str(schema_text)
        .map_err(|_| ())
        .and_then(|(fragment, _warnings)| fragment.to_json_value().map_err(|_| ()))
    else {
        return true;
    };
    let Some(namespaces) = json.as_object() else {
        return true;
    };
    namespaces.values().any(|namespace| {
        namespace
            .get("entityTypes")
            .and_then(Value::as_object)
            .is_some_and(|types| types.values().any(|ty| ty.get("enum").is_some()))
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::str::FromStr;

    use cedar_policy::{EntityId, EntityTypeName};

    use super::*;

    fn shipped() -> (String, Schema) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/gatehouse.cedarschema");
        let text = std::fs::read_to_string(path).unwrap();
        let (schema, _) = Schema::from_cedarschema_str(&text).unwrap();
        (text, schema)
    }

    fn uid(ty: &str, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(
            EntityTypeName::from_str(&format!("Gatehouse::{ty}")).unwrap(),
            EntityId::new(id),
        )
    }

    /// The context with the fields of `bits` set (to values no policy expects).
    fn context_with(bits: u16) -> RequestContext {
        let text = |i: u16| (bits & (1 << i) != 0).then(|| format!("value-{i}"));
        let flag = |i: u16| (bits & (1 << i) != 0).then_some(i.is_multiple_of(2));
        RequestContext {
            artifact_kind: text(0),
            source_type: text(1),
            channel: text(2),
            target_environment: text(3),
            previous_channel: text(4),
            deploy_action: text(5),
            runtime_class: text(6),
            via_registry_notification: flag(7),
            break_glass: flag(8),
        }
    }

    /// The context as the engine builds it, checked to be what Cedar evaluates its fields'
    /// expressions to.
    fn cedar_context(context: &RequestContext) -> Context {
        let evaluated = Context::from_pairs(context.cedar_pairs()).unwrap();
        let built = context.cedar_context();
        assert_eq!(built.as_ref(), evaluated.as_ref(), "{context:?}");
        built
    }

    /// The skipped check is safe only because the context cannot fail it: every context the
    /// gateway can build (any set of fields, any values) conforms for every action, with every
    /// principal and resource type the action applies to.
    #[test]
    fn every_context_the_gateway_builds_conforms_for_every_action() {
        let (_, schema) = shipped();
        for action in Action::ALL {
            let action_uid = uid("Action", action.as_str());
            let principals: Vec<_> = schema
                .principals_for_action(&action_uid)
                .unwrap()
                .cloned()
                .collect();
            let resources: Vec<_> = schema
                .resources_for_action(&action_uid)
                .unwrap()
                .cloned()
                .collect();
            assert!(!principals.is_empty() && !resources.is_empty(), "{action}");
            for bits in 0..(1 << 9) {
                let context = context_with(bits);
                assert_eq!(context_fields(&context), bits);
                for principal in &principals {
                    for resource in &resources {
                        let principal =
                            EntityUid::from_type_name_and_id(principal.clone(), EntityId::new("p"));
                        let resource = EntityUid::from_type_name_and_id(resource.clone(), EntityId::new("r"));
                        Request::new(
                            principal,
                            action_uid.clone(),
                            resource,
                            cedar_context(&context),
                            Some(&schema),
                        )
                        .unwrap_or_else(|e| panic!("{action} with context fields {bits:#b}: {e}"));
                    }
                }
            }
        }
    }

    fn shape(principal: &'static str, action: Action, resource: &'static str) -> RequestShape {
        RequestShape {
            principal,
            action,
            resource,
            fields: 0b100,
        }
    }

    #[test]
    fn an_accepted_shape_skips_the_check_and_builds_the_same_request() {
        let (text, schema) = shipped();
        let checks = RequestChecks::new(&text);
        let promote = shape("User", Action::Promote, "Artifact");
        let context = context_with(0b100);
        let uids = || {
            (
                uid("User", "alice"),
                uid("Action", "promote"),
                uid("Artifact", "a1"),
            )
        };
        assert!(!checks.accepted(&promote));
        let checked = checks
            .request_checking(&schema, promote, uids(), cedar_context(&context), false)
            .unwrap();
        assert!(
            checks.accepted(&promote),
            "a request that passed remembers its shape"
        );
        let unchecked = checks
            .request_checking(&schema, promote, uids(), cedar_context(&context), false)
            .unwrap();
        assert_eq!(format!("{checked:?}"), format!("{unchecked:?}"));
    }

    #[test]
    fn a_refused_shape_is_not_remembered_and_fails_closed_every_time() {
        let (text, schema) = shipped();
        let checks = RequestChecks::new(&text);
        // A registry may notify about a repository, not promote an artifact.
        let wrong = shape("Registry", Action::Promote, "Artifact");
        let uids = || {
            (
                uid("Registry", "zot"),
                uid("Action", "promote"),
                uid("Artifact", "a1"),
            )
        };
        let context = context_with(0b100);
        let first = checks
            .request_checking(&schema, wrong, uids(), cedar_context(&context), false)
            .unwrap_err();
        assert!(first.starts_with("invalid request:"), "{first}");
        assert!(!checks.accepted(&wrong));
        let again = checks
            .request_checking(&schema, wrong, uids(), cedar_context(&context), false)
            .unwrap_err();
        assert_eq!(first, again, "the same error, from the same check");
        // The same types once accepted for another action do not carry over.
        let notify = shape("Registry", Action::Notify, "Repository");
        checks
            .request_checking(
                &schema,
                notify,
                (
                    uid("Registry", "zot"),
                    uid("Action", "notify"),
                    uid("Repository", "team-a/x"),
                ),
                cedar_context(&context),
                false,
            )
            .unwrap();
        assert!(checks.accepted(&notify));
        assert!(!checks.accepted(&wrong));
        assert!(
            checks
                .request_checking(&schema, wrong, uids(), cedar_context(&context), false)
                .is_err()
        );
    }

    #[test]
    fn a_context_the_schema_refuses_is_denied_even_after_its_shape_passed_elsewhere() {
        // A schema whose action takes a narrower context than the gateway can build.
        let text = "namespace Gatehouse { entity User; entity Artifact; \
                    action promote appliesTo { principal: User, resource: Artifact, context: { channel: String } }; }";
        let (schema, _) = Schema::from_cedarschema_str(text).unwrap();
        let checks = RequestChecks::new(text);
        let uids = || {
            (
                uid("User", "alice"),
                uid("Action", "promote"),
                uid("Artifact", "a1"),
            )
        };
        let ok = shape("User", Action::Promote, "Artifact");
        checks
            .request_checking(&schema, ok, uids(), cedar_context(&context_with(0b100)), false)
            .unwrap();
        let extra = RequestShape {
            fields: 0b1_0000_0100,
            ..ok
        };
        let refused = checks
            .request_checking(
                &schema,
                extra,
                uids(),
                cedar_context(&context_with(0b1_0000_0100)),
                false,
            )
            .unwrap_err();
        assert!(refused.contains("invalid request"), "{refused}");
        assert!(!checks.accepted(&extra));
    }

    #[test]
    fn every_context_field_has_its_own_bit() {
        let all = RequestContext {
            artifact_kind: Some("oci".into()),
            source_type: Some("oci_registry".into()),
            channel: Some("dev".into()),
            target_environment: Some("prod".into()),
            previous_channel: Some("test".into()),
            deploy_action: Some("deploy".into()),
            runtime_class: Some("k8s".into()),
            via_registry_notification: Some(true),
            break_glass: Some(false),
        };
        assert_eq!(context_fields(&RequestContext::default()), 0);
        assert_eq!(context_fields(&all), 0b1_1111_1111);
        let channel_only = RequestContext {
            channel: Some("dev".into()),
            ..RequestContext::default()
        };
        assert_eq!(context_fields(&channel_only), 0b100);
    }

    #[test]
    fn a_schema_with_an_enumerated_type_checks_every_request() {
        let plain = "namespace N { entity User; action a appliesTo { principal: User, resource: User }; }";
        let enumerated = "namespace N { entity User; entity Color enum [\"red\", \"blue\"]; \
                          action a appliesTo { principal: User, resource: User }; }";
        assert!(RequestChecks::new(plain).enabled());
        assert!(!RequestChecks::new(enumerated).enabled());
        assert!(!RequestChecks::new("not a schema").enabled());
    }
}
