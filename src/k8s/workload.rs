//! The images a workload would run: every container, init container and ephemeral container of
//! a Pod, or of the pod template of a Deployment, ReplicaSet, StatefulSet, DaemonSet, Job or
//! CronJob. Any other kind is unknown (refused), and an object without the shape its kind has
//! is malformed (refused): the webhook never guesses which images would start.

use serde_json::Value;

use super::image::{ImageReference, ImageReferenceError};
use super::review::GroupVersionKind;

/// One image named by the workload, with where it is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    /// e.g. `spec.template.spec.initContainers[0].image`.
    pub field: String,
    /// The reference as written.
    pub image: String,
    /// The reference read, or why it is not one (the image is refused with that reason).
    pub reference: Result<ImageReference, ImageReferenceError>,
}

/// Why the images of an object cannot be listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    /// A kind the webhook does not know how to read.
    #[error(
        "kind `{0}` is not one the webhook reviews (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob)"
    )]
    UnknownKind(String),
    /// The object lacks the shape of its kind.
    #[error("the object is malformed: {0}")]
    Malformed(String),
}

/// Where the pod spec sits in an object of `kind`.
fn pod_spec_path(kind: &GroupVersionKind) -> Option<&'static [&'static str]> {
    const TEMPLATE: &[&str] = &["spec", "template", "spec"];
    match (kind.group.as_str(), kind.version.as_str(), kind.kind.as_str()) {
        ("", "v1", "Pod") => Some(&["spec"]),
        ("apps", "v1", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "v1", "Job") => Some(TEMPLATE),
        ("batch", "v1", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// Every image `object` (of `kind`) names, in the order written.
pub fn images_of(kind: &GroupVersionKind, object: &Value) -> Result<Vec<ImageUse>, WorkloadError> {
    let path = pod_spec_path(kind).ok_or_else(|| WorkloadError::UnknownKind(kind.to_string()))?;
    let mut spec = object;
    for (depth, segment) in path.iter().enumerate() {
        spec = spec
            .get(segment)
            .filter(|v| v.is_object())
            .ok_or_else(|| WorkloadError::Malformed(format!("`{}` is missing", path[..=depth].join("."))))?;
    }
    let prefix = path.join(".");
    let mut images = Vec::new();
    for (list, required) in [
        ("containers", true),
        ("initContainers", false),
        ("ephemeralContainers", false),
    ] {
        let field = format!("{prefix}.{list}");
        let containers = match spec.get(list) {
            None | Some(Value::Null) if !required => continue,
            Some(Value::Array(items)) if !(required && items.is_empty()) => items,
            _ => {
                return Err(WorkloadError::Malformed(format!(
                    "`{field}` must be a{} list of containers",
                    if required { " non-empty" } else { "" }
                )));
            }
        };
        for (i, container) in containers.iter().enumerate() {
            let field = format!("{field}[{i}].image");
            match container.get("image") {
                Some(Value::String(image)) if !image.is_empty() => images.push(ImageUse {
                    field,
                    image: image.clone(),
                    reference: image.parse(),
                }),
                _ => {
                    return Err(WorkloadError::Malformed(format!(
                        "`{field}` must be a non-empty string"
                    )));
                }
            }
        }
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kind(group: &str, kind: &str) -> GroupVersionKind {
        GroupVersionKind {
            group: group.to_owned(),
            version: "v1".to_owned(),
            kind: kind.to_owned(),
        }
    }

    #[test]
    fn every_container_list_of_a_pod_is_read() {
        let pod = json!({"spec": {
            "containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}],
            "initContainers": [{"name": "i", "image": "i"}],
            "ephemeralContainers": [{"name": "e", "image": "e"}],
        }});
        let images = images_of(&kind("", "Pod"), &pod).unwrap();
        let fields: Vec<_> = images
            .iter()
            .map(|i| (i.field.as_str(), i.image.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("spec.containers[0].image", "a"),
                ("spec.containers[1].image", "b"),
                ("spec.initContainers[0].image", "i"),
                ("spec.ephemeralContainers[0].image", "e"),
            ]
        );
    }

    #[test]
    fn templates_are_read_for_each_workload_kind() {
        let template = json!({"template": {"spec": {"containers": [{"image": "x"}]}}});
        for (group, k) in [
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("batch", "Job"),
        ] {
            let images = images_of(&kind(group, k), &json!({ "spec": template })).unwrap();
            assert_eq!(images[0].field, "spec.template.spec.containers[0].image", "{k}");
        }
        let cron = json!({"spec": {"jobTemplate": {"spec": template}}});
        let images = images_of(&kind("batch", "CronJob"), &cron).unwrap();
        assert_eq!(
            images[0].field,
            "spec.jobTemplate.spec.template.spec.containers[0].image"
        );
    }

    #[test]
    fn unknown_kinds_and_malformed_objects_are_refused() {
        let err = images_of(&kind("example.com", "Deployment"), &json!({})).unwrap_err();
        assert!(matches!(err, WorkloadError::UnknownKind(_)), "{err}");
        for object in [
            json!({}),
            json!({"spec": {"containers": []}}),
            json!({"spec": {"containers": [{"name": "no-image"}]}}),
            json!({"spec": {"containers": [{"image": 3}]}}),
            json!({"spec": {"containers": [{"image": "a"}], "initContainers": {}}}),
        ] {
            let err = images_of(&kind("", "Pod"), &object).unwrap_err();
            assert!(matches!(err, WorkloadError::Malformed(_)), "{object}: {err}");
        }
    }
}
