//! Pipeline: composite paging shared by every counting model (terms, metrics,
//! sudden_appearance). Pages with `after_key`, halves a page the cluster refuses for
//! `search.max_buckets`, and waits out an outage longer than one request's retries,
//! resuming from the last `after_key` (the pages already read are kept).
//!
//! Must not: interpret buckets (the caller's `each` does) or decide retries of single
//! requests (`execute` does).

use crate::es::{AfterKey, CompositeBucket};
use crate::execute::{Cluster, EsError};
use crate::plan::PageRequest;
use crate::report::UseCaseReport;

/// Reads every page of `plan` (a terms or a sudden_appearance plan), passing each bucket
/// to `each` in composite order. Counts pages, buckets, `took` and the events in the
/// window into `rep`. The plan's page size is left at the size the cluster accepted.
pub async fn pages<C: Cluster, P: PageRequest>(
    cluster: &C,
    plan: &mut P,
    rep: &mut UseCaseReport,
    mut each: impl FnMut(&CompositeBucket),
) -> Result<(), EsError> {
    let policy = cluster.policy();
    let bar = super::progress_bar(&format!("counting {}", plan.use_case()));
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {msg}: {pos} buckets read")
    {
        bar.set_style(style);
    }
    let mut after: Option<AfterKey> = None;
    let mut outage_since: Option<std::time::Instant> = None;
    loop {
        policy.check("the next composite page")?;
        bar.tick();
        let page = match cluster.composite_page(&*plan, after.as_ref()).await {
            Ok(p) => {
                outage_since = None;
                p
            }
            Err(EsError::TooManyBuckets { .. }) if plan.page_size() > 1 => {
                plan.set_page_size(plan.page_size() / 2);
                tracing::warn!(
                    "{}: page too large for search.max_buckets; halving to {}",
                    plan.use_case(),
                    plan.page_size()
                );
                continue;
            }
            // The cluster went away for longer than the retries of one request (a node
            // restart, a network cut): wait for it and ask for the same page again, from
            // the last after_key, instead of losing the pages read so far.
            Err(
                e @ (EsError::Unreachable { .. }
                | EsError::Request {
                    status: 502..=504, ..
                }),
            ) => {
                let since = *outage_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > policy.outage {
                    return Err(e);
                }
                tracing::warn!(
                    "{}: {e}; waiting for the cluster, then resuming from the last after_key (page {})",
                    plan.use_case(),
                    rep.pages + 1
                );
                policy
                    .sleep(policy.outage_poll, "the next composite page")
                    .await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        rep.pages += 1;
        rep.es_took_ms += page.took;
        if after.is_none() {
            rep.events_in_window = page
                .hits
                .as_ref()
                .and_then(|h| h.total.as_ref())
                .map(|t| t.value)
                .or(Some(0));
        }
        let Some(agg) = page.pairs() else { break };
        rep.buckets_read += agg.buckets.len() as u64;
        bar.set_position(rep.buckets_read);
        for b in &agg.buckets {
            each(b);
        }
        match &agg.after_key {
            Some(k) if !agg.buckets.is_empty() && agg.buckets.len() as u32 >= plan.page_size() => {
                after = Some(k.clone())
            }
            _ => break,
        }
    }
    bar.finish_and_clear();
    Ok(())
}
