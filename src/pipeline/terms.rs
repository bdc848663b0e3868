//! Pipeline, terms model: resolve the fields against the mapping, count pairs (composite
//! pages), evaluate the trigger, and with whitelists fetch the events of candidate pairs
//! (each pair once) and re-evaluate until no whitelisted event is left among the outliers
//! (SPEC section 5). within_aggregator counts once: the re-evaluation is the pure
//! [`whitelist::reevaluate_within`] on the flagged groups' kept observations.
//! across_aggregators counts again without the whitelisted events (an aggregator whose
//! events are all whitelisted stays with 0 targets). When placeholders
//! name event fields, the candidate events are fetched too (only the fields needed) and
//! each event's entries are built from them and tagged by id. With a baseline window,
//! only pairs with events in the detection window stay.
//!
//! Must not: build request bodies (`plan`, `tag`) or do trigger math (`evaluate`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::Value;

use super::{Context, Detection};
use crate::config::CountMethod;
use crate::config::UseCase;
use crate::evaluate::{self, event, whitelist, Evaluator, Finding, GroupOutcome};
use crate::execute::{Cluster, EsError};
use crate::plan::{self, SearchPlan};
use crate::report::{self, OutlierReport, UseCaseReport};
use crate::tag;

use super::shared::CountHub;

/// Identifies a finding: aggregator values and target values (`None` = all targets).
type FindingKey = (Vec<String>, Option<Vec<String>>);

fn key(f: &Finding) -> FindingKey {
    (f.aggregator.clone(), f.target.clone())
}

/// A fetched candidate event, kept when entries are filled per event.
struct Fetched {
    /// Every combination of its aggregator values and of its target values.
    aggs: Vec<Vec<String>>,
    targets: Vec<Vec<String>>,
    /// Its `_source`, pruned to the top-level keys placeholders can name.
    source: Value,
}

/// One fetched event of a candidate finding, as the whitelist checks it.
struct CandidateEvent {
    id: String,
    /// The event's target values joined (the entry's `term`).
    term: String,
    /// The whole hit's strings ([`whitelist::event_strings`]); empty without whitelists.
    strings: Vec<String>,
    /// The pruned `_source` when entries are filled per event, else null.
    fields: Value,
}

/// What the whitelist rounds learn about candidate events.
#[derive(Default)]
struct Candidates {
    /// Whitelisted event ids: left out of the counts and never tagged.
    excluded: BTreeSet<String>,
    /// The fetched events of each candidate finding (fetched once per finding); under
    /// across_aggregators one per (event, target combination) of the aggregator.
    fetched: BTreeMap<FindingKey, Vec<CandidateEvent>>,
    /// Events of candidate findings by id, when placeholders name event fields
    /// ([`tag::needs_event`]): their entries are built from them.
    events: BTreeMap<String, Fetched>,
}

impl Candidates {
    /// across_aggregators: aggregators all of whose fetched events are whitelisted.
    fn emptied(&self) -> Vec<Vec<String>> {
        self.fetched
            .iter()
            .filter(|((_, t), evs)| {
                t.is_none() && !evs.is_empty() && evs.iter().all(|e| self.excluded.contains(&e.id))
            })
            .map(|((a, _), _)| a.clone())
            .collect()
    }

    /// True when `ev`, fetched for finding `f`, is whitelisted: ee-outliers checks the
    /// whole hit (metadata and `_source`) and the outlier's own values, with this
    /// round's finding information.
    fn is_whitelisted(uc: &UseCase, f: &Finding, ev: &CandidateEvent) -> bool {
        if uc.whitelist.is_empty() {
            return false;
        }
        let entry = tag::entry(uc, f, Some(&ev.term), &ev.fields);
        let mut all = ev.strings.clone();
        all.extend(whitelist::entry_strings(&entry));
        whitelist::is_whitelisted(&uc.whitelist, &all)
    }

    /// The summary of finding `f` filled from its first fetched event (for the report).
    fn sample_summary(&self, uc: &UseCase, f: &Finding) -> Option<String> {
        let ev = self.fetched.get(&key(f))?.first()?;
        Some(summary_of(&tag::entry(uc, f, Some(&ev.term), &ev.fields)))
    }
}

/// `source` keeping only the top-level keys that a placeholder of `names` can reach
/// (compared case-insensitively, as placeholders are filled), and flat dotted keys
/// equal to a name.
fn prune(source: &Value, names: &[String]) -> Value {
    let Some(map) = source.as_object() else {
        return Value::Null;
    };
    let firsts: BTreeSet<String> = names
        .iter()
        .map(|n| n.split('.').next().unwrap_or_default().to_lowercase())
        .collect();
    let kept: serde_json::Map<String, Value> = map
        .iter()
        .filter(|(k, _)| firsts.contains(&k.to_lowercase()) || names.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

/// Detects the outliers of a terms use case and builds its tagging requests.
pub async fn detect<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    rep: &mut UseCaseReport,
) -> Result<Detection, EsError> {
    let t0 = Instant::now();
    // With a baseline, counts and frontiers come from the longer window; only events of
    // the detection window are flagged and tagged.
    let counting = super::counting_window(cx.window, cx.baseline_hours);
    let fp = super::fields::check_fields(cx.cluster, uc, &plan::filter_query(uc, counting)).await?;
    // The report has no notices field yet (its constructor is in app.rs): the log says it.
    for n in &fp.notices {
        tracing::warn!("{}: {n}", uc.name);
    }
    let uc = &fp.uc;
    let source_paths = &fp.source_paths;
    let base = plan::search(uc, counting, cx.page_size);
    let detection_query = plan::filter_query(uc, cx.window);
    let mut cand = Candidates::default();
    let mut sp = base.clone();
    let findings = match uc.count_method {
        CountMethod::WithinAggregator => {
            within_findings(cx, uc, &mut sp, &fp, &mut cand, rep).await?
        }
        CountMethod::AcrossAggregators => {
            across_findings(cx, uc, &base, &fp, &mut cand, rep).await?
        }
    };
    let findings = if cx.baseline_hours.is_some() {
        in_detection_window(cx.cluster, uc, &detection_query, findings).await?
    } else {
        findings
    };
    rep.detection_ms = t0.elapsed().as_millis() as u64;
    rep.outliers = findings
        .iter()
        .map(|f| outlier_report(uc, f, &cand))
        .collect();
    if cx.dry_run || findings.is_empty() {
        return Ok(Detection::default());
    }
    if tag::needs_event(uc) {
        let by_id = entries_by_id(uc, &findings, &cand);
        return Ok(Detection {
            requests: tag::requests_by_id(uc, &detection_query, &by_id),
        });
    }
    let ids: Vec<String> = cand.excluded.into_iter().collect();
    let mut limits = cx.limits;
    if let Some(m) = cx.cluster.max_terms_count(&uc.index_pattern).await? {
        limits.max_terms = m;
    }
    Ok(Detection {
        requests: tag::requests(uc, &detection_query, &findings, &ids, source_paths, limits),
    })
}

/// The entries of every fetched, not whitelisted event of the `findings`, by document
/// id: one per (aggregator, target) combination of the event that is a finding (the
/// aggregator's finding under across_aggregators, with the event's target as `term`), in
/// the event's value order, the first of equal summaries only (ee-outliers writes one
/// entry per summary).
fn entries_by_id(
    uc: &UseCase,
    findings: &[Finding],
    cand: &Candidates,
) -> BTreeMap<String, Vec<serde_json::Map<String, Value>>> {
    let by_key: BTreeMap<FindingKey, &Finding> = findings.iter().map(|f| (key(f), f)).collect();
    let mut by_id = BTreeMap::new();
    for (id, ev) in &cand.events {
        if cand.excluded.contains(id) {
            continue;
        }
        let mut entries = Vec::new();
        let mut summaries = BTreeSet::new();
        for a in &ev.aggs {
            for t in &ev.targets {
                let f = by_key
                    .get(&(a.clone(), Some(t.clone())))
                    .or_else(|| by_key.get(&(a.clone(), None)));
                let Some(f) = f else { continue };
                let e = tag::entry(uc, f, Some(&evaluate::join(t)), &ev.source);
                let s = e["summary"].as_str().unwrap_or_default().to_string();
                if summaries.insert(s) {
                    entries.push(e);
                }
            }
        }
        if !entries.is_empty() {
            by_id.insert(id.clone(), entries);
        }
    }
    by_id
}

fn outlier_report(uc: &UseCase, f: &Finding, cand: &Candidates) -> OutlierReport {
    OutlierReport {
        aggregator: f.aggregator_joined(),
        target: f.target_joined(),
        term_count: f.term_count,
        average: f.stats.mean,
        decision_frontier: f.decision_frontier,
        values: f.stats.n,
        non_outlier_values_sample: f.non_outlier_values_sample.clone(),
        summary: if tag::needs_event(uc) {
            cand.sample_summary(uc, f)
                .unwrap_or_else(|| uc.outlier_summary.raw.clone())
        } else {
            summary_of(&tag::entry(
                uc,
                f,
                f.target_joined().as_deref(),
                &Value::Null,
            ))
        },
    }
}

fn summary_of(entry: &serde_json::Map<String, Value>) -> String {
    entry["summary"].as_str().unwrap_or_default().to_string()
}

/// whitelists or per-event entries need the events of the candidate findings.
fn needs_events(uc: &UseCase) -> bool {
    !uc.whitelist.is_empty() || tag::needs_event(uc)
}

/// within_aggregator: one counting pass, then the whitelist re-evaluation of every
/// flagged group from its kept observations ([`whitelist::reevaluate_within`], pure).
/// A finding's events are fetched once; a run of the rounds that meets findings whose
/// events are not fetched yet fetches them and runs again (the rounds are deterministic,
/// so the run repeats itself up to where it stopped). The charts show the final counts.
async fn within_findings<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    sp: &mut SearchPlan,
    fp: &super::fields::FieldPlan,
    cand: &mut Candidates,
    rep: &mut UseCaseReport,
) -> Result<Vec<Finding>, EsError> {
    let (groups, charts) = first_count(cx, uc, sp, fp.lead_splits(), rep).await?;
    rep.charts = charts;
    if !needs_events(uc) {
        return Ok(groups.into_iter().flat_map(|g| g.findings).collect());
    }
    loop {
        let mut missing: BTreeMap<FindingKey, Finding> = BTreeMap::new();
        let mut findings = Vec::new();
        let mut excluded = BTreeSet::new();
        let mut charts = Vec::new();
        let mut rounds = 1;
        for g in &groups {
            let r = whitelist::reevaluate_within(
                &uc.trigger,
                uc.min_target_buckets,
                &g.observations,
                |f| match cand.fetched.get(&key(f)) {
                    Some(evs) => evs
                        .iter()
                        .filter(|e| Candidates::is_whitelisted(uc, f, e))
                        .map(|e| e.id.clone())
                        .collect(),
                    None => {
                        missing.entry(key(f)).or_insert_with(|| f.clone());
                        BTreeSet::new()
                    }
                },
            );
            charts.extend(chart(&GroupOutcome {
                findings: r.findings.clone(),
                observations: r.observations,
            }));
            rounds = rounds.max(r.rounds);
            findings.extend(r.findings);
            excluded.extend(r.whitelisted.into_values().flatten());
        }
        if missing.is_empty() {
            // A recount per round would have cost `rounds - 1` more counting passes.
            tracing::debug!(
                "{}: whitelist re-evaluation in {rounds} round(s), {} whitelisted event(s), one counting pass",
                uc.name,
                excluded.len()
            );
            rep.whitelisted_events += excluded.len() as u64;
            rep.charts = charts;
            cand.excluded = excluded;
            return Ok(findings);
        }
        let new: Vec<Finding> = missing.into_values().collect();
        fetch_candidates(cx, uc, &sp.query, &new, fp, cand).await?;
    }
}

/// across_aggregators: count, fetch the events of new outlier aggregators, and count
/// again without the whitelisted ones until a round whitelists nothing new. (The pure
/// across building blocks would need every target's events of every outlier aggregator
/// to tell which targets a whitelist empties; the recount gets that from Elasticsearch.)
async fn across_findings<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    base: &SearchPlan,
    fp: &super::fields::FieldPlan,
    cand: &mut Candidates,
    rep: &mut UseCaseReport,
) -> Result<Vec<Finding>, EsError> {
    loop {
        let ids: Vec<String> = cand.excluded.iter().cloned().collect();
        let mut sp = base.clone();
        sp.query = plan::excluding(&base.query, &ids);
        let (groups, charts) = if cand.excluded.is_empty() {
            first_count(cx, uc, &mut sp, fp.lead_splits(), rep).await?
        } else {
            let emptied = cand.emptied();
            let split = fp.lead_splits();
            let mut all =
                count_groups(cx.cluster, &[uc], &mut sp, split, None, &emptied, rep).await?;
            all.remove(0)
        };
        rep.charts = charts;
        let findings: Vec<Finding> = groups.into_iter().flat_map(|g| g.findings).collect();
        let new: Vec<Finding> = findings
            .iter()
            .filter(|f| !cand.fetched.contains_key(&key(f)))
            .cloned()
            .collect();
        if !needs_events(uc) || new.is_empty() {
            return Ok(findings);
        }
        fetch_candidates(cx, uc, &sp.query, &new, fp, cand).await?;
        let mut newly = 0u64;
        for f in &new {
            for ev in cand.fetched.get(&key(f)).into_iter().flatten() {
                if !cand.excluded.contains(&ev.id) && Candidates::is_whitelisted(uc, f, ev) {
                    cand.excluded.insert(ev.id.clone());
                    newly += 1;
                }
            }
        }
        rep.whitelisted_events += newly;
        if newly == 0 {
            return Ok(findings);
        }
        tracing::debug!("{}: {newly} whitelisted event(s); counting again", uc.name);
    }
}

/// The first count of `uc`: from the count it shares with other use cases
/// ([`super::shared::CountHub`]), else its own.
async fn first_count<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    sp: &mut SearchPlan,
    split: bool,
    rep: &mut UseCaseReport,
) -> Result<super::shared::Groups, EsError> {
    let count = async |members: Vec<UseCase>, rep: &mut UseCaseReport| {
        let members: Vec<&UseCase> = members.iter().collect();
        count_groups(cx.cluster, &members, sp, split, cx.hints, &[], rep).await
    };
    CountHub::count_once(cx.counts, uc, rep, count).await
}

/// Pages through the counts of `sp` once and evaluates them as they arrive with the
/// trigger of each of `members` (use cases with the same counts); `emptied`:
/// across_aggregators aggregators whose events are all whitelisted (counted with 0).
/// Returns, per member in order, the groups with findings (with their observations,
/// within_aggregator) and the charts.
pub async fn count_groups<C: Cluster>(
    cluster: &C,
    members: &[&UseCase],
    sp: &mut SearchPlan,
    split: bool,
    hints: Option<&super::hints::Hints>,
    emptied: &[Vec<String>],
    rep: &mut UseCaseReport,
) -> Result<Vec<super::shared::Groups>, EsError> {
    let mut evs: Vec<Evaluator> = members
        .iter()
        .map(|uc| {
            Evaluator::new(uc.count_method, uc.trigger, uc.min_target_buckets)
                .with_emptied(emptied.iter().cloned())
        })
        .collect();
    let mut out: Vec<super::shared::Groups> = vec![(Vec::new(), Vec::new()); members.len()];
    let keep = |out: &mut super::shared::Groups, outcome: GroupOutcome| {
        out.1.extend(chart(&outcome));
        if !outcome.findings.is_empty() {
            out.0.push(outcome);
        }
    };
    let observe = sp.clone();
    super::count::pages(cluster, sp, split, hints, rep, |b| {
        let o = observe.observation(b);
        for (ev, out) in evs.iter_mut().zip(out.iter_mut()) {
            for outcome in ev.push(o.clone()) {
                keep(out, outcome);
            }
        }
    })
    .await?;
    for (ev, out) in evs.into_iter().zip(out.iter_mut()) {
        for outcome in ev.finish() {
            keep(out, outcome);
        }
    }
    Ok(out)
}

/// Fetches the events of the `new` findings (only those) into `cand.fetched`, with
/// their whitelist strings, and keeps the events when entries are filled per event.
async fn fetch_candidates<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    query: &Value,
    new: &[Finding],
    fp: &super::fields::FieldPlan,
    cand: &mut Candidates,
) -> Result<(), EsError> {
    let path_of = |f: &str| {
        fp.source_paths
            .get(f)
            .cloned()
            .unwrap_or_else(|| f.to_string())
    };
    let agg_paths: Vec<String> = uc.aggregator.iter().map(|f| path_of(f)).collect();
    let target_paths: Vec<String> = uc.target.iter().map(|f| path_of(f)).collect();
    let per_event = tag::needs_event(uc);
    let placeholders = tag::event_placeholders(uc);
    let source = candidate_source(uc, &fp.source_paths, &fp.placeholder_paths);
    let keys: BTreeSet<FindingKey> = new.iter().map(key).collect();
    for k in &keys {
        cand.fetched.entry(k.clone()).or_default();
    }
    let clauses = plan::pair_clauses(uc, new);
    for chunk in clauses.chunks((cx.limits.max_clauses / 4).max(1)) {
        let q = plan::restrict(query, chunk, &[]);
        let mut each = |hit: crate::es::Hit| {
            let aggs = event::combos(&hit.source, &agg_paths);
            let tgts = event::combos(&hit.source, &target_paths);
            let pruned = per_event.then(|| prune(&hit.source, &placeholders));
            let fields = pruned.clone().unwrap_or(Value::Null);
            let strings = if uc.whitelist.is_empty() {
                Vec::new()
            } else {
                whitelist::event_strings(&serde_json::json!({
                    "_index": hit.index, "_id": hit.id, "_source": hit.source
                }))
            };
            for a in &aggs {
                for t in &tgts {
                    let k = (a.clone(), Some(t.clone()));
                    let k = if keys.contains(&k) {
                        k
                    } else {
                        (a.clone(), None)
                    };
                    let Some(evs) = keys
                        .contains(&k)
                        .then(|| cand.fetched.get_mut(&k))
                        .flatten()
                    else {
                        continue;
                    };
                    evs.push(CandidateEvent {
                        id: hit.id.clone(),
                        term: evaluate::join(t),
                        strings: strings.clone(),
                        fields: fields.clone(),
                    });
                }
            }
            if let Some(source) = pruned {
                cand.events.entry(hit.id.clone()).or_insert(Fetched {
                    aggs,
                    targets: tgts,
                    source,
                });
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
    Ok(())
}

/// The `_source` fields of candidate events: whitelists look at every value of an event
/// (`None`: whole events); filling per-event summaries needs only the aggregator, target
/// and placeholder fields (at their `_source` paths).
pub fn candidate_source(
    uc: &UseCase,
    source_paths: &BTreeMap<String, String>,
    placeholder_paths: &[String],
) -> Option<Vec<String>> {
    let path_of = |f: &str| {
        source_paths
            .get(f)
            .cloned()
            .unwrap_or_else(|| f.to_string())
    };
    uc.whitelist.is_empty().then(|| {
        let mut f: Vec<String> = uc.fields().map(|p| path_of(p)).collect();
        f.extend(placeholder_paths.iter().cloned());
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
