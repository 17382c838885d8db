//! The Kubernetes validating admission webhook's vocabulary, pure: the `AdmissionReview` in and
//! out, the images of a workload, image references, and the `[kubernetes]` configuration. The
//! admission service decides; the http layer authenticates and answers.

mod config;
mod image;
mod review;
mod workload;

pub use config::{KubernetesConfig, NamespaceMapping};
pub use image::{ImageReference, ImageReferenceError};
pub use review::{
    API_VERSION, AdmissionResponse, AdmissionReview, AdmissionReviewAnswer, GroupVersionKind, Operation,
    Review, ReviewError, Status, Verdict,
};
pub use workload::{ImageUse, WorkloadError, images_of};
