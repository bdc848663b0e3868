//! Pipeline: counting, shared by every counting model (terms, metrics,
//! sudden_appearance). A count whose lead field can be split first asks the cheap lead
//! request (`plan::partition::LeadPlan`), then reads the partitions it splits into, up to
//! [`crate::execute::Policy::max_concurrent`] at a time, each visiting only its own
//! events; a count that fits one page, or whose lead cannot be split, pages as before.
//! Every read pages with `after_key`, halves a page the cluster refuses for
//! `search.max_buckets`, and waits out an outage longer than one request's retries,
//! resuming from the last `after_key` (the pages already read are kept).
//!
//! Invariant: the caller's `each` receives the buckets in composite order, exactly as
//! plain paging would give them (partitions are consecutive ranges, passed on in order,
//! each bucket by the one partition holding its lead value), so evaluation cannot tell
//! how the count was read.
//!
//! Must not: interpret buckets (the caller's `each` does) or decide retries of single
//! requests (`execute` does).

use futures_util::StreamExt;

use crate::es::{AfterKey, CompositeBucket};
use crate::execute::{Cluster, EsError};
use crate::plan::partition::{self, LeadPlan, Partition};
use crate::plan::PageRequest;
use crate::report::UseCaseReport;

use super::hints::Hints;

/// What one read of a composite (all its pages) cost.
#[derive(Debug, Default, Clone, Copy)]
struct Read {
    pages: u64,
    buckets: u64,
    took: u64,
    /// `hits.total` of the first page: the events the read's query matches.
    events: Option<u64>,
    /// Final page size (after any halving).
    page_size: u32,
}

/// Reads every bucket of `plan` and passes each to `each` in composite order. `split`:
/// the lead field's type keeps the composite order in a `range` query
/// ([`partition::splittable`]), so the count may be partitioned; `hints`: what the last
/// run read ([`Hints`]: a count that fit half a page is not split), updated with this
/// count. Counts requests, pages,
/// partitions, buckets, `took`, the events in the window and the events visited
/// (`count_passes`) into `rep`. The plan's page size is left at the size the cluster
/// accepted.
pub async fn pages<C: Cluster, P: PageRequest + Clone>(
    cluster: &C,
    plan: &mut P,
    split: bool,
    hints: Option<&Hints>,
    rep: &mut UseCaseReport,
    mut each: impl FnMut(&CompositeBucket),
) -> Result<(), EsError> {
    // A count that read at most half a page last run is read by plain paging at once.
    let key = hints.map(|_| Hints::key(&*plan));
    let small = hints
        .zip(key.as_deref())
        .is_some_and(|(h, k)| h.small(k, u64::from(plan.page_size()) / 2));
    let split = split && !small;
    let buckets_before = rep.buckets_read;
    let bar = super::progress_bar(&format!("counting {}", plan.use_case()));
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {msg}: {pos} buckets read")
    {
        bar.set_style(style);
    }
    let lead_plan = if split { LeadPlan::of(&*plan) } else { None };
    // The lead source's name in the counting plan's keys, and its field.
    let lead = lead_plan
        .as_ref()
        .map(|lp| (lp.source.clone(), lp.field.clone()));
    let parts = match lead_plan {
        None => vec![Partition::whole()],
        Some(mut lp) => {
            let (n, factor) = (lp.cardinalities(), lp.factor);
            let mut leads = Vec::new();
            let r = read(
                cluster,
                &mut lp,
                &bar,
                |_| false,
                |b| {
                    leads.extend(partition::lead_value(&b, n, factor));
                    true
                },
            )
            .await?;
            rep.lead_requests += r.pages;
            rep.es_took_ms += r.took;
            rep.events_in_window = r.events.or(Some(0));
            partition::split(&leads, partition::capacity(plan.page_size()))
        }
    };
    rep.partitions += parts.len() as u64;
    if let (Some((name, field)), true) = (&lead, parts.len() > 1) {
        let limit = cluster.policy().max_concurrent.max(1);
        let template = plan.clone();
        let reads = futures_util::stream::iter(parts.into_iter().map(|p| {
            let mut part = template.clone();
            part.set_query(p.narrow(template.query(), field));
            let (name, bar) = (name.clone(), bar.clone());
            async move {
                let mut kept = Vec::new();
                // Buckets past the range (of events with several lead values) end it.
                let past = |k: &AfterKey| k.get(&name).is_some_and(|v| p.is_below(v));
                let r = read(cluster, &mut part, &bar, past, |b| {
                    let mine = b.key.get(&name).is_some_and(|k| p.holds(k));
                    if mine {
                        kept.push(b);
                    }
                    mine
                })
                .await?;
                Ok::<_, EsError>((kept, r))
            }
        }))
        .buffered(limit);
        futures_util::pin_mut!(reads);
        while let Some(done) = reads.next().await {
            let (kept, r) = done?;
            add(rep, &r);
            plan.set_page_size(plan.page_size().min(r.page_size));
            for b in &kept {
                each(b);
            }
        }
    } else {
        let r = read(
            cluster,
            plan,
            &bar,
            |_| false,
            |b| {
                each(&b);
                true
            },
        )
        .await?;
        if lead.is_none() {
            rep.events_in_window = r.events.or(Some(0));
        }
        add(rep, &r);
    }
    rep.set_count_passes();
    if let (Some(h), Some(k)) = (hints, key) {
        h.record(k, rep.buckets_read - buckets_before);
    }
    bar.finish_and_clear();
    Ok(())
}

/// Adds one read's pages, buckets, `took` and visited events to the report.
fn add(rep: &mut UseCaseReport, r: &Read) {
    rep.pages += r.pages;
    rep.buckets_read += r.buckets;
    rep.es_took_ms += r.took;
    // Every page visits every event its query matches again.
    rep.events_visited += r.events.unwrap_or(0) * r.pages;
}

/// Reads every page of `plan`, passing each bucket to `keep` (which says whether the
/// bucket was kept, for the progress bar); stops early after a page whose last key is
/// `past` what the caller wants.
async fn read<C: Cluster, P: PageRequest>(
    cluster: &C,
    plan: &mut P,
    bar: &indicatif::ProgressBar,
    past: impl Fn(&AfterKey) -> bool,
    mut keep: impl FnMut(CompositeBucket) -> bool,
) -> Result<Read, EsError> {
    let policy = cluster.policy();
    let mut r = Read::default();
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
                    r.pages + 1
                );
                policy
                    .sleep(policy.outage_poll, "the next composite page")
                    .await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        r.pages += 1;
        r.took += page.took;
        if after.is_none() {
            r.events = page
                .hits
                .as_ref()
                .and_then(|h| h.total.as_ref())
                .map(|t| t.value)
                .or(Some(0));
        }
        let Some(agg) = page.into_pairs() else { break };
        let n = agg.buckets.len();
        r.buckets += n as u64;
        for b in agg.buckets {
            if keep(b) {
                bar.inc(1);
            }
        }
        match agg.after_key {
            Some(k) if n > 0 && n as u32 >= plan.page_size() && !past(&k) => after = Some(k),
            _ => break,
        }
    }
    r.page_size = plan.page_size();
    Ok(r)
}
