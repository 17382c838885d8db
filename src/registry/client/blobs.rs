//! Blobs: a whole blob read into memory, and the GET (with its one same-host redirect) that
//! streaming shares.

use std::time::Duration;

use reqwest::header::LOCATION;
use reqwest::{Response, Url};

use super::checks::{check_digest, check_status, is_repository_name, read_capped};
use super::{RegistryClient, RegistryClientError};
use crate::domain::Digest;

impl RegistryClient {
    /// A blob's bytes, at most `max_bytes`, checked against `digest`.
    pub async fn get_blob(
        &self,
        repository: &str,
        digest: &Digest,
        token: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, RegistryClientError> {
        let response = self.blob_response(repository, digest, token, None).await?;
        let bytes = read_capped(check_status(response)?, max_bytes).await?;
        check_digest(digest, &bytes)?;
        Ok(bytes)
    }

    /// The answer to a blob GET, following one redirect back to the registry itself; `deadline`
    /// replaces the per-call one for the whole transfer.
    pub(super) async fn blob_response(
        &self,
        repository: &str,
        digest: &Digest,
        token: &str,
        deadline: Option<Duration>,
    ) -> Result<Response, RegistryClientError> {
        let get = |url: &str| {
            let request = self.http.get(url).bearer_auth(token);
            match deadline {
                Some(deadline) => request.timeout(deadline),
                None => request,
            }
        };
        if !is_repository_name(repository) {
            return Err(RegistryClientError::BadRepository(repository.to_owned()));
        }
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let mut response = get(&url).send().await.map_err(RegistryClientError::Unreachable)?;
        if response.status().is_redirection() {
            // One hop, and only back to the registry itself: the token must not travel further.
            let target = self.same_host_redirect(&url, &response)?;
            response = get(target.as_str())
                .send()
                .await
                .map_err(RegistryClientError::Unreachable)?;
        }
        Ok(response)
    }

    /// The redirect target when it is on the registry's own scheme, host and port.
    fn same_host_redirect(&self, from: &str, response: &Response) -> Result<Url, RegistryClientError> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(RegistryClientError::BadHeader("location"))?;
        let bad = || RegistryClientError::Redirect(location.to_owned());
        let base = Url::parse(&self.base).map_err(|_| bad())?;
        let target = Url::parse(from)
            .and_then(|u| u.join(location))
            .map_err(|_| bad())?;
        let same = target.scheme() == base.scheme()
            && target.host_str() == base.host_str()
            && target.port_or_known_default() == base.port_or_known_default();
        if same { Ok(target) } else { Err(bad()) }
    }
}
