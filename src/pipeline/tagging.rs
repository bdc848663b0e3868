//! Pipeline: tagging, shared by every model. Runs the `_update_by_query` requests that
//! `tag` built, in passes: events a concurrent writer changed meanwhile (version
//! conflicts) and events a transient failure left out (a node that left with the scroll
//! over its shards) are tagged by another pass; the script makes passes idempotent. Then
//! checks that every event the requests select carries the use case's entry.
//! Also `es_wipe_all_whitelisted_outliers`.
//!
//! Must not: decide what to tag (models did) or build bodies (`tag` does).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Context;
use crate::config::UseCase;
use crate::evaluate;
use crate::execute::{Cluster, EsError, UpdateOptions};
use crate::plan::TimeWindow;
use crate::report::{TaggingReport, UseCaseReport};
use crate::tag::{self, UpdateByQuery};

/// How many events without the entry the report names one by one.
const NAMED: usize = 20;

/// Tags with `requests` in passes, then checks the result; fills `rep.tagging`.
pub async fn tag_and_check<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    requests: &[UpdateByQuery],
    rep: &mut UseCaseReport,
) -> Result<(), EsError> {
    let t1 = Instant::now();
    let mut tr = passes(cx, uc, requests).await?;
    // Check: every event the requests select now carries this use case's entry. Events
    // left as they were (an `outliers` field of another shape) or missed are named.
    let (checked, missing) = untagged_events(cx.cluster, requests).await?;
    tr.checked = checked;
    tr.verified = checked - missing.len() as u64;
    if !missing.is_empty() {
        tracing::warn!(
            "{}: {} of {checked} outlier event(s) do not carry the entry after tagging",
            uc.name,
            missing.len()
        );
        let more = missing.len().saturating_sub(NAMED);
        tr.failures.extend(missing.into_iter().take(NAMED));
        if more > 0 {
            tr.failures
                .push(format!("... and {more} more event(s) not tagged"));
        }
    }
    rep.tagging_ms = t1.elapsed().as_millis() as u64;
    rep.tagging = Some(tr);
    Ok(())
}

/// The tagging passes: the first, then re-checks while version conflicts or transient
/// failures remain, at most `policy.tag_passes`.
async fn passes<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    requests: &[UpdateByQuery],
) -> Result<TaggingReport, EsError> {
    let policy = cx.cluster.policy();
    let bar = super::progress_bar(&format!("tagging {}", uc.name));
    let mut tr = TaggingReport::default();
    // Per request: events counted so far (updated by any pass, plus pass 1's noops).
    let mut counted = vec![0u64; requests.len()];
    for pass in 1..=policy.tag_passes {
        let mut conflicts = 0;
        let mut transient: Vec<String> = Vec::new();
        tr.passes = pass;
        for (r, counted) in requests.iter().zip(counted.iter_mut()) {
            policy.check("the next tagging request")?;
            tr.requests += 1;
            let mut progress = |s: &crate::es::TaskStatus| {
                bar.set_length(s.total);
                bar.set_position(s.updated + s.noops + s.version_conflicts);
            };
            let resp = cx
                .cluster
                .update_by_query(&r.index, &r.body, &cx.update, &mut progress)
                .await?;
            if pass == 1 {
                tr.matched += resp.total;
                tr.noops += resp.noops;
                *counted += resp.noops;
            }
            // A re-check pass finds every event counted so far already tagged (noops);
            // noops beyond those are events an earlier pass wrote but reported as a
            // version conflict (a bulk retried after its primary moved to another node
            // meets its own first write), so they were updated by this run:
            //   written_earlier = max(0, noops - counted)
            // 0 in pass 1 (nothing counted before it but its own noops) and whenever the
            // conflicts came from another writer (the re-check updates those itself).
            let written_earlier = if pass > 1 {
                resp.noops.saturating_sub(*counted)
            } else {
                0
            };
            tr.updated += resp.updated + written_earlier;
            *counted += resp.updated + written_earlier;
            tr.retried_failures += resp.resubmits;
            conflicts += resp.version_conflicts;
            for f in resp.failures.iter().map(tag::TaskFailure::parse) {
                if f.is_transient() {
                    transient.push(f.describe());
                } else {
                    tr.failures.push(f.describe());
                }
            }
        }
        tr.version_conflicts = conflicts;
        let again = conflicts > 0 || !transient.is_empty();
        if !again || !tr.failures.is_empty() || pass == policy.tag_passes {
            // Transient failures still there after the last pass are failures.
            tr.failures.extend(transient);
            break;
        }
        if !transient.is_empty() {
            tr.retried_failures += transient.len() as u64;
            tracing::warn!(
                "{}: tagging pass {pass} met {} transient failure(s) (first: {}); waiting for the cluster, then tagging again (pass {})",
                uc.name,
                transient.len(),
                transient[0],
                pass + 1
            );
            policy
                .sleep(Duration::from_secs(1 << pass), "the next tagging pass")
                .await?;
            if !cx
                .cluster
                .wait_for_yellow(&uc.index_pattern, policy.recovery_wait_secs)
                .await
            {
                tracing::warn!(
                    "{}: primaries of {} still unassigned after {} s",
                    uc.name,
                    uc.index_pattern,
                    policy.recovery_wait_secs
                );
            }
        } else {
            tracing::warn!(
                "{}: {conflicts} event(s) changed by another writer during tagging; tagging them again (pass {})",
                uc.name,
                pass + 1
            );
            policy
                .sleep(Duration::from_secs(pass), "the next tagging pass")
                .await?;
        }
    }
    bar.finish_and_clear();
    Ok(tr)
}

/// The events the tagging `requests` select (each once), and of them those that do not
/// carry the entry each request expects (its [`tag::EntryCheck`]: by summary where known,
/// so an event another use case tagged with the same summary counts), as
/// `index (document id): why`. Reads only `outliers`.
async fn untagged_events<C: Cluster>(
    cluster: &C,
    requests: &[UpdateByQuery],
) -> Result<(u64, Vec<String>), EsError> {
    let fields = ["outliers".to_string()];
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut missing = Vec::new();
    for r in requests {
        cluster.policy().check("the check after tagging")?;
        let mut each = |hit: crate::es::Hit| {
            if !seen.insert((hit.index.clone(), hit.id.clone())) {
                return; // selected by an earlier request too
            }
            if let Some(why) = tag::missing_entry(&hit.source, &hit.id, &r.check) {
                missing.push(format!("{} (document {}): {why}", hit.index, hit.id));
            }
        };
        cluster
            .scan(
                &r.index,
                &r.query,
                Some(&fields),
                "check the tagged events",
                &mut each,
            )
            .await?;
    }
    Ok((seen.len() as u64, missing))
}

/// `es_wipe_all_existing_outliers`: removes every entry (whatever its model) from the
/// events of each `(index, timestamp field, window)`, before the use cases run.
pub async fn wipe_existing<C: Cluster>(
    cluster: &C,
    targets: &BTreeSet<(&str, &str, TimeWindow)>,
    update: &UpdateOptions,
) -> Result<(), EsError> {
    for (index, ts, window) in targets {
        let (gte, lt) = window.bounds();
        let q = tag::tagged_events_query(Some((ts, &gte, &lt)));
        let req = tag::untag_request(index, &q, &tag::Removal::All);
        let r = cluster
            .update_by_query(&req.index, &req.body, update, &mut |_| {})
            .await?;
        tracing::info!(
            "es_wipe_all_existing_outliers: {} event(s) of {index} cleared in the window",
            r.updated
        );
    }
    Ok(())
}

/// `es_wipe_all_whitelisted_outliers`: removes this use case's entries that its
/// whitelists now cover, from events in the window. Only tagged events are read.
pub async fn wipe_whitelisted<C: Cluster>(
    cluster: &C,
    uc: &UseCase,
    window: TimeWindow,
    update: &UpdateOptions,
) -> Result<(), EsError> {
    let (gte, lt) = window.bounds();
    let q = tag::tagged_events_query(Some((&uc.timestamp_field, &gte, &lt)));
    let mut entries: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut each = |hit: crate::es::Hit| {
        for summary in whitelisted_entries(uc, &hit.source) {
            entries.entry(hit.id.clone()).or_default().push(summary);
        }
    };
    cluster
        .scan(&uc.index_pattern, &q, None, "read tagged events", &mut each)
        .await?;
    if entries.is_empty() {
        return Ok(());
    }
    let n = entries.len();
    for chunk in entries.into_iter().collect::<Vec<_>>().chunks(10_000) {
        let req = tag::untag_request(
            &uc.index_pattern,
            &q,
            &tag::Removal::Entries(chunk.iter().cloned().collect()),
        );
        cluster
            .update_by_query(&req.index, &req.body, update, &mut |_| {})
            .await?;
    }
    tracing::info!(
        "{}: es_wipe_all_whitelisted_outliers removed entries from {n} event(s)",
        uc.name
    );
    Ok(())
}

/// The summaries of the entries of `uc` on an event that `uc`'s whitelists now cover.
fn whitelisted_entries(uc: &UseCase, source: &Value) -> Vec<String> {
    let Some(outliers) = source.get("outliers") else {
        return Vec::new();
    };
    let arr = |k: &str| {
        outliers
            .get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut own = source.clone();
    if let Some(m) = own.as_object_mut() {
        m.remove("outliers");
    }
    let event_strings = evaluate::whitelist::event_strings(&own);
    // With one element per entry in every array, entry i is the i-th element of each;
    // otherwise (ee-outliers extends arrays with list values) only type, reason and
    // summary are read at i, as ee-outliers' housekeeping rebuilds an outlier.
    let n = arr("summary").len();
    let aligned = outliers.as_object().is_some_and(|m| {
        m.values()
            .all(|v| v.as_array().is_none_or(|a| a.len() == n))
    });
    let keys: Vec<String> = if aligned {
        outliers
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    } else {
        ["type", "reason", "summary"].map(String::from).to_vec()
    };
    let mut out = Vec::new();
    for (i, name) in arr("model_name").iter().enumerate() {
        if name.as_str() != Some(uc.model_name.as_str()) {
            continue;
        }
        let mut strings = event_strings.clone();
        for k in &keys {
            if let Some(v) = arr(k).get(i) {
                strings.extend(evaluate::whitelist::event_strings(v));
            }
        }
        if evaluate::whitelist::is_whitelisted(&uc.whitelist, &strings) {
            if let Some(summary) = arr("summary").get(i).and_then(Value::as_str) {
                out.push(summary.to_string());
            }
        }
    }
    out
}
