//! Stage `execute`: the run's bound on requests in flight, and back-pressure.
//!
//! Every request of the run (every use case, every partition) takes a permit of one
//! [`Throttle`] before it is sent, so at most [`super::Policy::max_concurrent`] are in
//! flight, whatever runs concurrently above. When the cluster pushes back (HTTP 429, or a
//! rejected execution), the whole run slows down, not just the request that met it: every
//! request waits out the pause before it is sent, and the bound is halved (never below
//! one) for the rest of the run.
//!
//! Must not: decide whether an answer is retried (`retry::classify`), or refuse a request
//! after a stop (callers check for a stop before each new request; a pause ends early).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use super::Policy;

/// Permits for requests in flight, and the pause after back-pressure.
#[derive(Debug)]
pub struct Throttle {
    permits: Semaphore,
    /// The bound now.
    limit: AtomicUsize,
    /// Permits still to withdraw: held when the bound was halved, forgotten when next
    /// acquired.
    debt: AtomicUsize,
    /// No request is sent before this instant (set by back-pressure).
    paused_until: Mutex<Option<Instant>>,
}

impl Throttle {
    /// A bound of `max_concurrent` requests in flight (at least one).
    pub fn new(max_concurrent: usize) -> Throttle {
        let n = max_concurrent.max(1);
        Throttle {
            permits: Semaphore::new(n),
            limit: AtomicUsize::new(n),
            debt: AtomicUsize::new(0),
            paused_until: Mutex::new(None),
        }
    }

    /// The bound now (halved by each push-back, at least 1).
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Waits out a pause, then for a permit; the permit is held while the request is in
    /// flight. A stop ends the pause early but lets the request through: callers check
    /// for a stop before each new request, and a request already decided (the poll of a
    /// task that was sent) must go on.
    pub async fn acquire(&self, policy: &Policy) -> SemaphorePermit<'_> {
        loop {
            let until = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            match until {
                Some(t) if t > Instant::now() && !policy.stop.is_cancelled() => {
                    tokio::select! {
                        _ = policy.stop.cancelled() => {}
                        _ = tokio::time::sleep_until(t) => {}
                    }
                }
                _ => break,
            }
        }
        loop {
            let permit = self
                .permits
                .acquire()
                .await
                .expect("the semaphore is never closed");
            let owed = self
                .debt
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| d.checked_sub(1));
            if owed.is_ok() {
                permit.forget();
                continue;
            }
            return permit;
        }
    }

    /// The cluster pushed back: no request of the run is sent for `wait`, and the bound is
    /// halved (free permits are withdrawn now, held ones when next acquired; at least one
    /// stays).
    pub fn push_back(&self, wait: Duration) {
        let until = Instant::now() + wait;
        {
            let mut p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            if p.is_none_or(|t| t < until) {
                *p = Some(until);
            }
        }
        let limit = self.limit();
        let drop = limit - limit.div_ceil(2);
        if drop > 0 {
            self.limit.fetch_sub(drop, Ordering::Relaxed);
            let gone = self.permits.forget_permits(drop);
            self.debt.fetch_add(drop - gone, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn push_back_pauses_every_request_and_halves_the_bound() {
        let t = Throttle::new(4);
        let policy = Policy::default();
        t.push_back(Duration::from_secs(3));
        assert_eq!(t.limit(), 2);
        let start = Instant::now();
        let a = t.acquire(&policy).await;
        assert!(
            start.elapsed() >= Duration::from_secs(3),
            "waited out the pause"
        );
        let _b = t.acquire(&policy).await;
        // The bound is two now: a third request waits for a permit.
        assert!(t.permits.try_acquire().is_err());
        drop(a);
        assert!(t.permits.try_acquire().is_ok());
        // Halving while both permits are held: the next acquire gives one back.
        let c = t.acquire(&policy).await;
        t.push_back(Duration::ZERO);
        assert_eq!(t.limit(), 1);
        drop(c);
        drop(_b);
        let _d = t.acquire(&policy).await;
        assert!(t.permits.try_acquire().is_err(), "one in flight at most");
        t.push_back(Duration::ZERO);
        assert_eq!(t.limit(), 1, "never below one");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_the_pause_and_lets_a_request_already_decided_through() {
        let t = Throttle::new(2);
        let policy = Policy::default();
        t.push_back(Duration::from_secs(30));
        let stop = policy.stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            stop.cancel();
        });
        let start = Instant::now();
        let _p = t.acquire(&policy).await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(1) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
    }
}
