//! Stage `execute`: what one use case's requests cost, when use cases run concurrently.
//!
//! The cluster's own counters ([`super::Traffic`]) add up the whole run; a use case's
//! requests, retries and bytes are counted into the [`Meter`] its futures run under
//! ([`Meter::run`]), so concurrent use cases are never charged for each other's requests.
//!
//! Must not: send requests.

use std::future::Future;
use std::sync::{Arc, Mutex};

use super::Traffic;

tokio::task_local! {
    static METER: Meter;
}

/// One use case's traffic; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Mutex<Traffic>>);

impl Meter {
    /// Runs `fut`, counting the requests it sends into this meter.
    pub async fn run<F: Future>(&self, fut: F) -> F::Output {
        METER.scope(self.clone(), fut).await
    }

    /// The traffic counted so far.
    pub fn traffic(&self) -> Traffic {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Adds to the meter of the running use case, if any.
pub fn count(f: impl FnOnce(&mut Traffic)) {
    let _ = METER.try_with(|m| f(&mut m.0.lock().unwrap_or_else(|e| e.into_inner())));
}
