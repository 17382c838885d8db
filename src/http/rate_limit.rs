//! Per-caller rate limits: one token bucket per authenticated caller (the API), or per client
//! address (starting a console sign-in), so one caller's flood spends its own budget and not
//! the gateway's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before full (idle) ones are dropped; a full bucket holds no state worth keeping.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

/// Token buckets keyed by principal; `None` rate means the limit is off.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `per_second` requests on average with bursts of `burst` (0: the same as `per_second`);
    /// `per_second == 0` turns the limit off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let burst = if burst == 0 { per_second } else { burst };
        Self::with_rate(f64::from(per_second), f64::from(burst))
    }

    /// `per_minute` requests on average with bursts of `burst` (at least 1), for what is rare
    /// per caller (starting a sign-in); `per_minute == 0` turns the limit off.
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        Self::with_rate(f64::from(per_minute) / 60.0, f64::from(burst.max(1)))
    }

    fn with_rate(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `principal` (any caller key: a principal, a client address);
    /// `Err(seconds)` says how long until one is available.
    pub fn admit(&self, principal: &str) -> Result<(), u64> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        // A poisoned lock still holds usable buckets; limiting must not take requests down.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.refilled_at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(principal.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            refilled_at: now,
        });
        let elapsed = now.duration_since(bucket.refilled_at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.refilled_at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - bucket.tokens) / self.per_second;
        // Whole seconds, rounded up: `Retry-After` has no fractions.
        Err(wait.ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_gets_its_burst_then_waits_and_others_are_untouched() {
        let limiter = RateLimiter::new(1, 3);
        for _ in 0..3 {
            assert_eq!(limiter.admit("user:alice"), Ok(()));
        }
        assert_eq!(limiter.admit("user:alice"), Err(1));
        assert_eq!(limiter.admit("user:bob"), Ok(()));
    }

    #[test]
    fn a_per_minute_limit_waits_seconds_for_its_next_token() {
        let limiter = RateLimiter::per_minute(6, 2);
        assert_eq!(limiter.admit("client"), Ok(()));
        assert_eq!(limiter.admit("client"), Ok(()));
        // One token every ten seconds; a few microseconds have refilled almost nothing.
        assert_eq!(limiter.admit("client"), Err(10));
        assert_eq!(limiter.admit("another client"), Ok(()));
    }

    #[test]
    fn zero_rate_is_off() {
        let limiter = RateLimiter::new(0, 0);
        for _ in 0..10_000 {
            assert_eq!(limiter.admit("user:alice"), Ok(()));
        }
    }
}
