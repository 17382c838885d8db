//! Streaming a blob through to a download, its digest checked as it passes.

use std::time::Duration;

use reqwest::Response;

use super::checks::check_status;
use super::{RegistryClient, RegistryClientError};
use crate::domain::Digest;

/// A streamed blob gets this long, plus a second per [`STREAM_MIN_BYTES_PER_SECOND`] bytes it may carry.
const STREAM_DEADLINE_BASE: Duration = Duration::from_secs(30);
/// The slowest transfer a streamed blob is allowed (1 MiB/s).
const STREAM_MIN_BYTES_PER_SECOND: u64 = 1024 * 1024;

impl RegistryClient {
    /// A blob streamed chunk by chunk, at most `max_bytes`, checked against `digest` as it
    /// passes. The last chunk is held back until the digest matches, so a consumer never
    /// receives every byte of a wrong blob: a mismatch ends the stream with an error instead.
    /// Answers the declared length with the stream.
    pub async fn stream_blob(
        &self,
        repository: &str,
        digest: &Digest,
        token: &str,
        max_bytes: u64,
    ) -> Result<
        (
            Option<u64>,
            impl futures_util::Stream<Item = Result<bytes::Bytes, RegistryClientError>> + Send + 'static,
        ),
        RegistryClientError,
    > {
        // A stream of up to `max_bytes` may take longer than one small call: its own deadline.
        let deadline = STREAM_DEADLINE_BASE + Duration::from_secs(max_bytes / STREAM_MIN_BYTES_PER_SECOND);
        let response = check_status(
            self.blob_response(repository, digest, token, Some(deadline))
                .await?,
        )?;
        let declared = response.content_length();
        if declared.is_some_and(|n| n > max_bytes) {
            return Err(RegistryClientError::TooLarge(max_bytes));
        }
        let hasher: Box<dyn sha2::digest::DynDigest + Send> = match digest.algorithm() {
            "sha512" => Box::new(sha2::Sha512::default()),
            _ => Box::new(sha2::Sha256::default()),
        };
        let state = StreamState {
            response: Some(response),
            hasher,
            total: 0,
            held: None,
            digest: digest.clone(),
            max_bytes,
        };
        Ok((declared, futures_util::stream::unfold(state, StreamState::next)))
    }
}

/// A blob stream in progress; `response` is `None` once it has ended.
struct StreamState {
    response: Option<Response>,
    hasher: Box<dyn sha2::digest::DynDigest + Send>,
    total: u64,
    held: Option<bytes::Bytes>,
    digest: Digest,
    max_bytes: u64,
}

impl StreamState {
    /// The next chunk to hand out: each chunk is released when the one after it arrives, the
    /// last only once the whole blob hashed to the digest.
    async fn next(mut self) -> Option<(Result<bytes::Bytes, RegistryClientError>, Self)> {
        loop {
            let response = self.response.as_mut()?;
            match response.chunk().await {
                Err(e) => return self.fail(RegistryClientError::Unreachable(e)),
                Ok(Some(chunk)) => {
                    self.total += chunk.len() as u64;
                    if self.total > self.max_bytes {
                        let cap = self.max_bytes;
                        return self.fail(RegistryClientError::TooLarge(cap));
                    }
                    self.hasher.update(&chunk);
                    if let Some(previous) = self.held.replace(chunk) {
                        return Some((Ok(previous), self));
                    }
                }
                Ok(None) => {
                    self.response = None;
                    let hash = std::mem::replace(&mut self.hasher, Box::new(sha2::Sha256::default()));
                    let actual = format!("{}:{}", self.digest.algorithm(), hex::encode(hash.finalize()));
                    if actual != self.digest.as_str() {
                        return Some((Err(RegistryClientError::DigestMismatch(actual)), self));
                    }
                    let last = self.held.take()?;
                    return Some((Ok(last), self));
                }
            }
        }
    }

    fn fail(
        mut self,
        error: RegistryClientError,
    ) -> Option<(Result<bytes::Bytes, RegistryClientError>, Self)> {
        self.response = None;
        self.held = None;
        Some((Err(error), self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::client::checks::sha256_hex;

    /// Serves one blob GET with a chunked body (so no length is declared up front).
    async fn serve_chunked(body: Vec<u8>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let mut out =
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
            for chunk in body.chunks(1000) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            let _ = socket.write_all(&out).await;
        });
        format!("http://{addr}")
    }

    /// The bytes handed out before the stream ended, and how it ended.
    async fn drain(body: Vec<u8>, digest: &Digest, max_bytes: u64) -> (Vec<u8>, Option<RegistryClientError>) {
        use futures_util::StreamExt as _;
        let client = RegistryClient::new(&serve_chunked(body).await).unwrap();
        let (_, stream) = client
            .stream_blob("gpuaas/platform/cli", digest, "token", max_bytes)
            .await
            .unwrap();
        let mut stream = std::pin::pin!(stream);
        let mut got = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => got.extend_from_slice(&chunk),
                Err(e) => return (got, Some(e)),
            }
        }
        (got, None)
    }

    #[tokio::test]
    async fn a_streamed_blob_is_handed_out_whole_only_when_its_digest_matches() {
        let body: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let digest: Digest = sha256_hex(&body).parse().unwrap();
        let (got, error) = drain(body.clone(), &digest, 10_000).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(got, body);

        // Another digest: the last chunk is never released, and the stream ends in an error.
        let other: Digest = sha256_hex(b"other").parse().unwrap();
        let (got, error) = drain(body.clone(), &other, 10_000).await;
        assert!(
            matches!(error, Some(RegistryClientError::DigestMismatch(_))),
            "{error:?}"
        );
        assert!(got.len() < body.len() && body.starts_with(&got));

        // Past the cap while streaming (no declared length to refuse up front).
        let (got, error) = drain(body, &digest, 2500).await;
        assert!(
            matches!(error, Some(RegistryClientError::TooLarge(2500))),
            "{error:?}"
        );
        assert!(got.len() <= 2500);
    }
}
