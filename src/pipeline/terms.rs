//! Pipeline, terms model: count pairs (composite pages), evaluate the trigger, and with
//! whitelists fetch the events of new candidate pairs, drop the whitelisted ones from the
//! counts and count again until no whitelisted event is left among the outliers (SPEC
//! section 5). With a baseline window, only pairs with events in the detection window stay.
//!
//! Must not: build request bodies (`plan`, `tag`) or do trigger math (`evaluate`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::Value;

use super::{Context, Detection};
use crate::config::UseCase;
use crate::evaluate::{self, event, Evaluator, Finding};
use crate::execute::{Cluster, EsError};
use crate::plan::{self, SearchPlan};
use crate::report::{self, OutlierReport, UseCaseReport};
use crate::tag;

/// Identifies a finding: aggregator values and target values (`None` = all targets).
type FindingKey = (Vec<String>, Option<Vec<String>>);

fn key(f: &Finding) -> FindingKey {
    (f.aggregator.clone(), f.target.clone())
}

/// What the whitelist rounds learn about candidate events.
#[derive(Default)]
struct Candidates {
    /// Whitelisted event ids: left out of the counts and never tagged.
    excluded: BTreeSet<String>,
    /// Findings whose events were already fetched.
    checked: BTreeSet<FindingKey>,
    /// A summary per finding, filled from its first event (for the report).
    sample_summary: BTreeMap<FindingKey, String>,
}

/// Detects the outliers of a terms use case and builds its tagging requests.
pub async fn detect<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    rep: &mut UseCaseReport,
) -> Result<Detection, EsError> {
    let t0 = Instant::now();
    let source_paths = super::fields::check_fields(cx.cluster, uc).await?;
    // With a baseline, counts and frontiers come from the longer window; only events of
    // the detection window are flagged and tagged.
    let counting = super::counting_window(cx.window, cx.baseline_hours);
    let base = plan::search(uc, counting, cx.page_size);
    let detection_query = plan::filter_query(uc, cx.window);
    let mut cand = Candidates::default();
    let findings = loop {
        let ids: Vec<String> = cand.excluded.iter().cloned().collect();
        let mut sp = base.clone();
        sp.query = plan::excluding(&base.query, &ids);
        let findings = count_and_evaluate(cx.cluster, uc, &mut sp, rep).await?;
        let needs_events = !uc.whitelist.is_empty() || !tag::summary_is_per_pair(uc);
        let new: Vec<Finding> = findings
            .iter()
            .filter(|f| !cand.checked.contains(&key(f)))
            .cloned()
            .collect();
        if !needs_events || new.is_empty() {
            break findings;
        }
        let whitelisted =
            fetch_candidates(cx, uc, &sp.query, &new, &source_paths, &mut cand).await?;
        rep.whitelisted_events += whitelisted;
        if whitelisted == 0 {
            break findings;
        }
        tracing::debug!(
            "{}: {whitelisted} whitelisted event(s); evaluating again",
            uc.name
        );
    };
    let findings = if cx.baseline_hours.is_some() {
        in_detection_window(cx.cluster, uc, &detection_query, findings).await?
    } else {
        findings
    };
    rep.detection_ms = t0.elapsed().as_millis() as u64;
    rep.outliers = findings
        .iter()
        .map(|f| outlier_report(uc, f, &cand.sample_summary))
        .collect();
    if cx.dry_run || findings.is_empty() {
        return Ok(Detection::default());
    }
    let ids: Vec<String> = cand.excluded.into_iter().collect();
    let mut limits = cx.limits;
    if let Some(m) = cx.cluster.max_terms_count(&uc.index_pattern).await? {
        limits.max_terms = m;
    }
    Ok(Detection {
        requests: tag::requests(uc, &detection_query, &findings, &ids, &source_paths, limits),
    })
}

fn outlier_report(
    uc: &UseCase,
    f: &Finding,
    sample_summary: &BTreeMap<FindingKey, String>,
) -> OutlierReport {
    OutlierReport {
        aggregator: f.aggregator_joined(),
        target: f.target_joined(),
        term_count: f.term_count,
        average: f.stats.mean,
        decision_frontier: f.decision_frontier,
        values: f.stats.n,
        non_outlier_values_sample: f.non_outlier_values_sample.clone(),
        summary: tag::pair_summary(uc, f)
            .or_else(|| sample_summary.get(&key(f)).cloned())
            .unwrap_or_else(|| uc.outlier_summary.raw.clone()),
    }
}

/// Pages through the counts of `sp` and evaluates them as they arrive.
async fn count_and_evaluate<C: Cluster>(
    cluster: &C,
    uc: &UseCase,
    sp: &mut SearchPlan,
    rep: &mut UseCaseReport,
) -> Result<Vec<Finding>, EsError> {
    let mut ev = Evaluator::new(uc.count_method, uc.trigger, uc.min_target_buckets);
    let mut findings = Vec::new();
    let mut charts = Vec::new();
    let observe = sp.clone();
    super::count::pages(cluster, sp, rep, |b| {
        for outcome in ev.push(observe.observation(b)) {
            charts.extend(chart(&outcome));
            findings.extend(outcome.findings);
        }
    })
    .await?;
    for outcome in ev.finish() {
        charts.extend(chart(&outcome));
        findings.extend(outcome.findings);
    }
    rep.charts = charts;
    Ok(findings)
}

/// Fetches the events of the `new` findings (only those), fills a sample summary per
/// finding and adds whitelisted events to `cand.excluded`. Returns how many were newly
/// whitelisted.
async fn fetch_candidates<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    query: &Value,
    new: &[Finding],
    source_paths: &BTreeMap<String, String>,
    cand: &mut Candidates,
) -> Result<u64, EsError> {
    let path_of = |f: &str| {
        source_paths
            .get(f)
            .cloned()
            .unwrap_or_else(|| f.to_string())
    };
    let agg_paths: Vec<String> = uc.aggregator.iter().map(|f| path_of(f)).collect();
    let target_paths: Vec<String> = uc.target.iter().map(|f| path_of(f)).collect();
    let source = candidate_source(uc, source_paths);
    let by_key: BTreeMap<FindingKey, &Finding> = new.iter().map(|f| (key(f), f)).collect();
    let clauses = plan::pair_clauses(uc, new);
    let mut newly = 0u64;
    for chunk in clauses.chunks((cx.limits.max_clauses / 4).max(1)) {
        let q = plan::restrict(query, chunk, &[]);
        let mut each = |hit: crate::es::Hit| {
            let aggs = event::combos(&hit.source, &agg_paths);
            let tgts = event::combos(&hit.source, &target_paths);
            let mut strings: Option<Vec<String>> = None;
            for a in &aggs {
                let mut keys: Vec<FindingKey> =
                    tgts.iter().map(|t| (a.clone(), Some(t.clone()))).collect();
                keys.push((a.clone(), None));
                for k in keys {
                    let Some(f) = by_key.get(&k) else { continue };
                    let summary = tag::pair_summary(uc, f).unwrap_or_else(|| {
                        event::fill_summary(&uc.outlier_summary, &hit.source, path_of)
                    });
                    cand.sample_summary
                        .entry(k.clone())
                        .or_insert_with(|| summary.clone());
                    if uc.whitelist.is_empty() || cand.excluded.contains(&hit.id) {
                        continue;
                    }
                    // ee-outliers checks the whole hit: metadata and _source.
                    let ev = strings.get_or_insert_with(|| {
                        evaluate::whitelist::event_strings(&serde_json::json!({
                            "_index": hit.index, "_id": hit.id, "_source": hit.source
                        }))
                    });
                    let mut all = ev.clone();
                    // across_aggregators: the event's own target is the term.
                    let term =
                        k.1.clone()
                            .or_else(|| tgts.first().cloned())
                            .unwrap_or_default();
                    all.extend(evaluate::whitelist::outlier_strings(uc, f, &summary, &term));
                    if evaluate::whitelist::is_whitelisted(&uc.whitelist, &all) {
                        cand.excluded.insert(hit.id.clone());
                        newly += 1;
                    }
                }
            }
        };
        cx.cluster
            .scan(
                &uc.index_pattern,
                &q,
                source.as_deref(),
                "fetch candidate events",
                &mut each,
            )
            .await?;
    }
    cand.checked.extend(new.iter().map(key));
    Ok(newly)
}

/// The `_source` fields of candidate events: whitelists look at every value of an event
/// (`None`: whole events); filling per-event summaries needs only the aggregator, target
/// and placeholder fields (at their `_source` paths).
pub fn candidate_source(
    uc: &UseCase,
    source_paths: &BTreeMap<String, String>,
) -> Option<Vec<String>> {
    let path_of = |f: &str| {
        source_paths
            .get(f)
            .cloned()
            .unwrap_or_else(|| f.to_string())
    };
    uc.whitelist.is_empty().then(|| {
        let mut f: Vec<String> = uc.fields().map(|p| path_of(p)).collect();
        f.extend(uc.outlier_summary.fields().iter().map(|p| path_of(p)));
        f.sort();
        f.dedup();
        f
    })
}

/// The bar chart of a flagged within_aggregator group: the 30 largest targets and every
/// outlier. `None` for groups without findings or without per-target counts.
fn chart(outcome: &evaluate::GroupOutcome) -> Option<report::Chart> {
    let first = outcome.findings.first()?;
    if outcome.observations.is_empty() || first.target.is_none() {
        return None;
    }
    let outliers: BTreeSet<&Vec<String>> = outcome
        .findings
        .iter()
        .filter_map(|f| f.target.as_ref())
        .collect();
    let mut obs: Vec<&evaluate::Observation> = outcome.observations.iter().collect();
    obs.sort_by(|a, b| {
        b.doc_count
            .cmp(&a.doc_count)
            .then_with(|| a.target.cmp(&b.target))
    });
    let mut bars: Vec<report::Bar> = Vec::new();
    for (i, o) in obs.iter().enumerate() {
        let outlier = outliers.contains(&o.target);
        if i < 30 || outlier {
            bars.push(report::Bar {
                target: evaluate::join(&o.target),
                count: o.doc_count,
                outlier,
            });
        }
    }
    Some(report::Chart {
        aggregator: first.aggregator_joined(),
        frontier: first.decision_frontier,
        bars,
    })
}

/// Keeps the findings that have events inside the detection window: one `filters`
/// aggregation per 500 findings (`plan::findings_count_body`).
async fn in_detection_window<C: Cluster>(
    cluster: &C,
    uc: &UseCase,
    detection_query: &Value,
    findings: Vec<Finding>,
) -> Result<Vec<Finding>, EsError> {
    let what = "count findings in the detection window";
    let mut kept = Vec::new();
    for chunk in findings.chunks(500) {
        let body = plan::findings_count_body(uc, detection_query, chunk);
        let v = cluster.search(&uc.index_pattern, &body, what).await?;
        let buckets = &v["aggregations"]["recent"]["buckets"];
        for (i, f) in chunk.iter().enumerate() {
            let n = buckets[i.to_string()]["doc_count"]
                .as_u64()
                .ok_or_else(|| EsError::Decode {
                    request: what.into(),
                    index: uc.index_pattern.clone(),
                    reason: format!("no bucket {i} in the filters aggregation"),
                })?;
            if n > 0 {
                kept.push(f.clone());
            }
        }
    }
    Ok(kept)
}
