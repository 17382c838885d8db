//! Keyset pagination for every listing, on both backends. Cursors are the base64url of
//! the last key returned (artifact or decision id, audit seq); values are always bound, never
//! interpolated.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use super::{Page, StoreError};

/// The largest page the store answers, whatever the caller asks.
const MAX_LIMIT: u32 = 500;

/// Clamps a requested page size to 1..=500.
pub(super) fn clamp(limit: u32) -> u32 {
    limit.clamp(1, MAX_LIMIT)
}

fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode(cursor: &str) -> Result<String, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::BadCursor)?;
    String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)
}

/// The key a string-keyed cursor points after (e.g. an app slug).
pub(super) fn decode_key(cursor: &str) -> Result<String, StoreError> {
    decode(cursor)
}

/// The id a uuid-keyed cursor points after.
pub(super) fn uuid_after(cursor: &str) -> Result<Uuid, StoreError> {
    decode(cursor)?.parse().map_err(|_| StoreError::BadCursor)
}

/// The seq a seq-keyed cursor points after.
pub(super) fn seq_after(cursor: &str) -> Result<i64, StoreError> {
    decode(cursor)?.parse().map_err(|_| StoreError::BadCursor)
}

/// Cuts the `limit + 1` rows fetched down to a page; the extra row only proves there is more.
pub(super) fn paginate<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| encode(&key(last)))
    } else {
        None
    };
    Page { items, next_cursor }
}
