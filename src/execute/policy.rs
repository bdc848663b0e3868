//! Stage `execute`: the ONE recovery policy (how often, how long) and the cancellation
//! token, used by every retrying path: request retries, composite paging across an outage,
//! task resubmission and polling, tagging passes. What an answer *means* (retry or not) is
//! decided apart, in [`super::retry`].
//!
//! Invariant: every wait goes through [`Policy::sleep`], so a signal interrupts it at once
//! instead of after the wait.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::EsError;

/// Budgets and backoff for every retrying path, and the run's cancellation token.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Attempts per request for retryable answers (1 = no retry).
    pub max_attempts: u32,
    /// First backoff of a request retry; doubles per attempt, with up to 50% jitter,
    /// capped at [`Policy::max_backoff`]; a `Retry-After` header wins when longer.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// How long composite paging waits for a cluster that went away (longer than the
    /// retries of one request) before the use case fails; it then asks for the same page
    /// again from the last `after_key`.
    pub outage: Duration,
    /// Pause between two attempts while waiting out an outage.
    pub outage_poll: Duration,
    /// How often a lost `_update_by_query` task (node restart) or one ended by a transient
    /// error is submitted again.
    pub task_resubmits: u32,
    /// Tagging passes: the first, then re-checks while version conflicts or transient
    /// failures remain. Before pass `p + 1`, wait `p` s after conflicts, `2^p` s after
    /// transient failures (and until the primaries are assigned again).
    pub tag_passes: u64,
    /// How long to wait for the primaries of an index to be assigned again.
    pub recovery_wait_secs: u64,
    /// Requests in flight at once over the whole run (`--max-concurrent-requests`):
    /// partitions of a count and the detection of several use cases share this bound;
    /// 1 runs everything one request after the other.
    pub max_concurrent: usize,
    /// Cancelled by SIGINT/SIGTERM: the run stops between two requests.
    pub stop: CancellationToken,
}

/// Default of [`Policy::max_concurrent`]: small, so a nightly run never competes with the
/// cluster's own users for more than two search threads.
pub const DEFAULT_MAX_CONCURRENT: usize = 2;

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_attempts: 6,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            outage: Duration::from_secs(120),
            outage_poll: Duration::from_secs(5),
            task_resubmits: 3,
            tag_passes: 5,
            recovery_wait_secs: 30,
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            stop: CancellationToken::new(),
        }
    }
}

impl Policy {
    /// `Err(Interrupted)` once a stop was requested; `before` names what would come next.
    pub fn check(&self, before: &str) -> Result<(), EsError> {
        if self.stop.is_cancelled() {
            return Err(EsError::Interrupted {
                before: before.to_string(),
            });
        }
        Ok(())
    }

    /// Waits `d`, or less when a stop is requested meanwhile (then `Err(Interrupted)`).
    pub async fn sleep(&self, d: Duration, before: &str) -> Result<(), EsError> {
        tokio::select! {
            _ = self.stop.cancelled() => self.check(before),
            _ = tokio::time::sleep(d) => Ok(()),
        }
    }

    /// The wait before retry `attempt` (1-based): `backoff * 2^(attempt-1)` capped at
    /// `max_backoff`, plus up to 50% jitter (`jitter` in [0, 1)); a longer `retry_after`
    /// wins.
    pub fn retry_wait(&self, attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let base = self
            .backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(10))
            .min(self.max_backoff);
        let jittered = base + base.mul_f64(jitter.clamp(0.0, 1.0) * 0.5);
        retry_after.unwrap_or_default().max(jittered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_wait_doubles_then_caps() {
        let p = Policy::default();
        assert_eq!(p.retry_wait(1, None, 0.0), Duration::from_millis(250));
        assert_eq!(p.retry_wait(3, None, 0.0), Duration::from_millis(1000));
        assert_eq!(p.retry_wait(20, None, 0.0), Duration::from_secs(30));
    }

    #[test]
    fn retry_wait_adds_at_most_half_as_jitter() {
        let p = Policy::default();
        let base = Duration::from_millis(250);
        for jitter in [0.0, 0.25, 0.5, 0.999_999, 7.0] {
            let w = p.retry_wait(1, None, jitter);
            assert!(w >= base && w <= base * 3 / 2, "jitter {jitter}: {w:?}");
        }
        assert!(p.retry_wait(1, None, 0.5) > p.retry_wait(1, None, 0.25));
    }

    #[test]
    fn retry_after_header_wins_when_longer() {
        let p = Policy::default();
        assert_eq!(
            p.retry_wait(1, Some(Duration::from_secs(7)), 0.0),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.retry_wait(3, Some(Duration::from_millis(1)), 0.0),
            Duration::from_millis(1000)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_interrupts_a_wait() {
        let p = Policy::default();
        let stop = p.stop.clone();
        let wait = p.sleep(Duration::from_secs(3600), "the next page");
        stop.cancel();
        let e = wait.await.unwrap_err();
        assert!(e.to_string().contains("before the next page"), "{e}");
    }
}
