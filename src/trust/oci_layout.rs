//! An OCI image layout directory (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) as a source
//! of cosign's tags, so `gatehouse verify` checks signatures saved by `skopeo copy … oci:DIR`
//! or `oras` without a registry. Every blob read is size-capped and checked against its digest.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::content::Hasher;
use super::cosign::{CosignError, ManifestSource};
use crate::domain::Digest;

/// The annotation naming a manifest of the index (its tag).
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Largest manifest or index read.
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// An opened layout: its root and its index.
pub struct OciLayout {
    root: PathBuf,
    index: Vec<IndexEntry>,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<IndexEntry>,
}

#[derive(Deserialize)]
struct IndexEntry {
    digest: String,
    #[serde(default)]
    annotations: std::collections::HashMap<String, String>,
}

impl OciLayout {
    /// Opens the layout at `root`, reading its `index.json`.
    pub fn open(root: &Path) -> Result<Self, CosignError> {
        let bad = |reason: String| {
            CosignError::Layout(format!(
                "`{}` is not an OCI image layout: {reason}",
                root.display()
            ))
        };
        if !root.join("oci-layout").is_file() {
            return Err(bad("it has no `oci-layout` file".to_owned()));
        }
        let index = read_capped(&root.join("index.json"), MAX_MANIFEST_BYTES).map_err(&bad)?;
        let index: Index =
            serde_json::from_slice(&index).map_err(|e| bad(format!("`index.json` is unreadable: {e}")))?;
        Ok(Self {
            root: root.to_path_buf(),
            index: index.manifests,
        })
    }

    /// The digest of the manifest the index names `tag`, if any.
    pub fn resolve(&self, tag: &str) -> Option<Digest> {
        self.index
            .iter()
            .find(|e| e.annotations.get(REF_NAME).is_some_and(|name| name == tag))
            .and_then(|e| e.digest.parse().ok())
    }

    /// The one manifest of a layout holding a single image (what `skopeo copy` to a new
    /// directory writes), skipping cosign's own tags.
    pub fn only_image(&self) -> Option<Digest> {
        let images: Vec<&IndexEntry> = self
            .index
            .iter()
            .filter(|e| {
                e.annotations
                    .get(REF_NAME)
                    .is_none_or(|name| !is_cosign_tag(name))
            })
            .collect();
        match images.as_slice() {
            [one] => one.digest.parse().ok(),
            _ => None,
        }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    fn read_blob(&self, digest: &Digest, max_bytes: u64) -> Result<Vec<u8>, CosignError> {
        let path = self.blob_path(digest);
        let bytes = read_capped(&path, max_bytes).map_err(CosignError::Layout)?;
        let mut hasher = Hasher::for_digest(digest).ok_or_else(|| {
            CosignError::Layout(format!("digest algorithm of `{digest}` cannot be checked"))
        })?;
        hasher.update(&bytes);
        if hasher.hex() != digest.hex() {
            return Err(CosignError::Layout(format!(
                "blob `{}` does not hash to `{digest}`",
                path.display()
            )));
        }
        Ok(bytes)
    }
}

/// Whether a tag is one of cosign's (`sha256-<hex>.sig|.att|.sbom`) or a referrers tag index.
fn is_cosign_tag(tag: &str) -> bool {
    tag.starts_with("sha256-") || tag.starts_with("sha512-")
}

#[async_trait::async_trait]
impl ManifestSource for OciLayout {
    async fn manifest(&self, reference: &str) -> Result<Option<Vec<u8>>, CosignError> {
        let digest = match reference.parse::<Digest>() {
            Ok(digest) => Some(digest),
            Err(_) => self.resolve(reference),
        };
        match digest {
            Some(digest) if self.blob_path(&digest).is_file() => {
                self.read_blob(&digest, MAX_MANIFEST_BYTES).map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn blob(&self, digest: &Digest, max_bytes: u64) -> Result<Vec<u8>, CosignError> {
        self.read_blob(digest, max_bytes)
    }
}

/// At most `max` bytes of `path`; a longer file is an error, not a truncation.
fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!("`{}` is larger than {max} bytes", path.display()));
    }
    Ok(bytes)
}
