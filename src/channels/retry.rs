//! Exponential backoff with full jitter for transient channel failures,
//! honouring Retry-After, with a bound on attempts.

use std::{future::Future, time::Duration};

use rand::Rng;

use super::ChannelError;

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (the first call included).
    pub attempts: u32,
    /// First backoff; doubles each time.
    pub base: Duration,
    /// Longest single wait (Retry-After is capped too).
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 4, base: Duration::from_millis(250), max_wait: Duration::from_secs(30) }
    }
}

impl RetryPolicy {
    /// The wait before attempt `n` (1-based retry count), jittered.
    pub fn backoff(&self, n: u32) -> Duration {
        let cap = self.base.saturating_mul(1 << n.min(16)).min(self.max_wait);
        let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX).max(1);
        Duration::from_millis(rand::rng().random_range(ms / 2..=ms))
    }
}

/// Runs `op` until it succeeds, fails permanently, or runs out of attempts;
/// every wait between attempts is added to `waited` (milliseconds), so a
/// client can say how long it held back (Retry-After included).
pub async fn with_retry<T, F, Fut>(policy: RetryPolicy, waited: &std::sync::atomic::AtomicU64, mut op: F) -> Result<T, ChannelError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ChannelError>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e @ ChannelError::Transient { .. }) if attempt < policy.attempts => {
                let wait = match &e {
                    ChannelError::Transient { retry_after: Some(ra), .. } => (*ra).min(policy.max_wait),
                    _ => policy.backoff(attempt),
                };
                tracing::warn!(error = %e, attempt, wait_ms = wait.as_millis() as u64, "transient channel failure; retrying");
                waited.fetch_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
