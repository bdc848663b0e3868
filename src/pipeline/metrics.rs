//! Pipeline, metrics model (SPEC section 9), pushed down: Elasticsearch counts events per
//! distinct (aggregator values, target value), the target read from `_source` by a fixed
//! script (`plan::metrics`); each distinct value's metric is computed once per aggregator
//! in Rust and the aggregator's weighted list evaluated as soon as its last bucket has
//! arrived (buckets come sorted by aggregator): only aggregators with outliers are kept.
//! Then the events of the outlier pairs (only those) are fetched: to check whitelists, with
//! re-evaluation as `metrics.py` does it, and to tag exactly them by id.
//!
//! Must not: build request bodies (`plan`, `tag`) or do metric or trigger math
//! (`evaluate::metric`, `evaluate::weighted`).
//!
//! Where the target value comes from: the field's doc values where they stand for the
//! event's value (a keyword mapping without normalizer; exactly one indexed value), a
//! script over `_source` elsewhere (lists, values over a keyword's `ignore_above`, which are
//! not indexed, numeric fields; about 25 times slower: it parses the event), which
//! flattens lists as 0.2.17 does and gives numbers as written. One count decides: none
//! needs `_source` -> one doc-values pass; the mapping rules doc values out -> one `_source`
//! pass; else two passes, the `_source` one first (its buckets held aside, joined to their
//! aggregator during the doc-values pass). The mapping also tells which values a `term`
//! query can select when the events of outlier pairs are fetched.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::{Context, Detection};
use crate::config::{Metric, ModelSpec, UseCase};
use crate::es::Hit;
use crate::evaluate::metric::{self, Measure};
use crate::evaluate::weighted::{self, Evaluation, MetricCount};
use crate::evaluate::{self as ev, event};
use crate::execute::{Cluster, EsError};
use crate::plan::metrics::{self as plan, TargetItem, TargetMapping, TargetSource};
use crate::plan::{render, SearchPlan};
use crate::report::{OutlierReport, UseCaseReport};
use crate::tag::metrics::{self as tag, PairOutlier};

/// The distinct target values of one aggregator, as counted.
struct Group {
    aggregator: Vec<String>,
    /// Per distinct flattened value: its metric and events.
    values: Vec<MetricCount>,
    targets: Vec<String>,
    measures: Vec<Measure>,
    /// The script's encodings that flatten to each value (usually one).
    encodings: Vec<Vec<Vec<TargetItem>>>,
    position: HashMap<String, usize>,
}

impl Group {
    fn new(aggregator: Vec<String>) -> Group {
        Group {
            aggregator,
            values: Vec::new(),
            targets: Vec::new(),
            measures: Vec::new(),
            encodings: Vec::new(),
            position: HashMap::new(),
        }
    }

    /// Adds one bucket; false when ee-outliers skips its events (no metric).
    fn add(&mut self, metric: Metric, items: Vec<TargetItem>, doc_count: u64) -> bool {
        let flat = plan::flatten(&items);
        if let Some(&i) = self.position.get(&flat) {
            self.values[i].doc_count += doc_count;
            if !self.encodings[i].contains(&items) {
                self.encodings[i].push(items);
            }
            return true;
        }
        let Some(m) = metric::measure(metric, &flat) else {
            return false;
        };
        self.position.insert(flat.clone(), self.values.len());
        self.values.push(MetricCount {
            metric: m.value,
            integral: m.integral,
            doc_count,
        });
        self.targets.push(flat);
        self.measures.push(m);
        self.encodings.push(vec![items]);
        true
    }

    fn pair(&self, i: usize, e: &Evaluation, confidence: f64, doc_count: u64) -> PairOutlier {
        PairOutlier {
            aggregator: self.aggregator.clone(),
            target: self.targets[i].clone(),
            measure: self.measures[i].clone(),
            doc_count,
            decision_frontier: e.decision_frontier,
            confidence,
            sample: e.non_outlier_values_sample.clone(),
        }
    }

    /// The outlier pairs of an evaluation of `values` (this group's list, maybe with
    /// whitelisted events taken out).
    fn outliers(&self, e: &Evaluation, values: &[MetricCount]) -> Vec<(usize, PairOutlier)> {
        e.outliers
            .iter()
            .map(|o| {
                (
                    o.index,
                    self.pair(o.index, e, o.confidence, values[o.index].doc_count),
                )
            })
            .collect()
    }
}

/// The fetched events of one outlier pair.
type Events = Vec<Hit>;

/// An outlier pair: (index in the flagged groups, index of its value in the group).
type PairKey = (usize, usize);

/// Detects the outliers of a metrics use case and builds its tagging requests.
pub async fn detect<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    rep: &mut UseCaseReport,
) -> Result<Detection, EsError> {
    let t0 = Instant::now();
    let ModelSpec::Metrics(_) = &uc.model else {
        return Ok(Detection::default());
    };
    let fp = super::fields::check_fields_with(cx.cluster, uc, &plan::filter(uc, cx.window), true)
        .await?;
    for n in &fp.notices {
        tracing::info!("{}: {n}", uc.name);
    }
    let uc = &fp.uc;
    let source_paths = &fp.source_paths;
    let path_of = |f: &str| {
        source_paths
            .get(f)
            .cloned()
            .unwrap_or_else(|| f.to_string())
    };
    let target = &uc.target[0];
    let mapping = TargetMapping::parse(
        &cx.cluster.field_mapping(&uc.index_pattern, target).await?,
        target,
    );
    if let Some(n) = mapping.ignore_above {
        tracing::debug!(
            "{}: {target} does not index values over {n} characters (ignore_above); they are counted from _source",
            uc.name
        );
    }
    let query = plan::filter(uc, cx.window);
    let split = fp.lead_splits();
    let target_path = path_of(target);
    let count = async |members: Vec<UseCase>, rep: &mut UseCaseReport| {
        let passes = counting_passes(cx, uc, &mapping, &target_path).await?;
        let members: Vec<&UseCase> = members.iter().collect();
        count_and_evaluate(cx, &members, passes, split, rep).await
    };
    let flagged = super::shared::CountHub::count_once(cx.counts, uc, rep, count).await?;

    // The events of outlier pairs: whole events for whitelists, else only the fields the
    // summary and the pair matching need.
    let source: Option<Vec<String>> = uc.whitelist.is_empty().then(|| {
        let mut f: Vec<String> = uc.fields().map(|f| path_of(f)).collect();
        f.extend(fp.placeholder_paths.iter().cloned());
        f.sort();
        f.dedup();
        f
    });
    let fetcher = Fetcher {
        uc,
        query: &query,
        mapping: &mapping,
        source: source.as_deref(),
        agg_paths: uc.aggregator.iter().map(|f| path_of(f)).collect(),
        target_path: path_of(target),
    };
    // (group, value index) -> its events, fetched once.
    let mut cache: HashMap<PairKey, Events> = HashMap::new();
    let (pairs, whitelisted) = if uc.whitelist.is_empty() {
        let pairs: Vec<(PairKey, PairOutlier)> = flagged
            .iter()
            .enumerate()
            .flat_map(|(gi, (g, e))| {
                g.outliers(e, &g.values)
                    .into_iter()
                    .map(move |(vi, p)| ((gi, vi), p))
            })
            .collect();
        let wanted: Vec<PairKey> = pairs.iter().map(|(k, _)| *k).collect();
        fetcher.fetch(cx, &flagged, &wanted, &mut cache).await?;
        (pairs, BTreeSet::new())
    } else {
        reevaluated(cx, uc, &flagged, &fetcher, &mut cache).await?
    };
    rep.whitelisted_events = whitelisted.len() as u64;

    // One entry per (event, pair); the report keeps the first event's summary per pair.
    let mut by_id: BTreeMap<String, Vec<Map<String, Value>>> = BTreeMap::new();
    rep.outliers.clear();
    for (key, p) in &pairs {
        let keys = tag::model_keys(uc, p);
        let mut sample_summary = None;
        for h in cache.get(key).into_iter().flatten() {
            if whitelisted.contains(&h.id) {
                continue;
            }
            let e = tag::entry(uc, &keys, &h.source);
            if let Some(s) = e["summary"].as_str() {
                sample_summary.get_or_insert_with(|| s.to_string());
            }
            by_id.entry(h.id.clone()).or_default().push(e);
        }
        rep.outliers
            .push(outlier_report(uc, p, &flagged[key.0].0, sample_summary));
    }
    rep.detection_ms = t0.elapsed().as_millis() as u64;
    if cx.dry_run || by_id.is_empty() {
        return Ok(Detection::default());
    }
    Ok(Detection {
        requests: tag::requests(uc, &query, &by_id),
    })
}

/// How the target is counted: from doc values when one count shows they stand for every
/// event's `_source` value; from `_source` when the mapping rules doc values out; else in
/// two passes, `_source` only for the events that need it (lists, values not indexed) and
/// doc values for the others. The `_source` pass comes first.
async fn counting_passes<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    mapping: &TargetMapping,
    target_path: &str,
) -> Result<Vec<(SearchPlan, TargetSource)>, EsError> {
    let field = &uc.target[0];
    let plan_of = |from| plan::search(uc, cx.window, cx.page_size, target_path, from);
    if !mapping.doc_values_may_serve() {
        return Ok(vec![(plan_of(TargetSource::Source), TargetSource::Source)]);
    }
    let ignore_above = mapping.ignore_above.is_some();
    let body = plan::single_value_check_body(&plan::filter(uc, cx.window), field, ignore_above);
    let what = "count events whose target doc values are not their value";
    let v = cx.cluster.search(&uc.index_pattern, &body, what).await?;
    let n = v["hits"]["total"]["value"].as_u64().unwrap_or(u64::MAX);
    tracing::debug!(
        "{}: {n} event(s) with a list, or a value not indexed, in {field}",
        uc.name
    );
    Ok(if n == 0 {
        vec![(plan_of(TargetSource::DocValues), TargetSource::DocValues)]
    } else {
        vec![
            (
                plan::restricted(
                    plan_of(TargetSource::Source),
                    plan::needs_source(field, ignore_above),
                ),
                TargetSource::Source,
            ),
            (
                plan::restricted(
                    plan_of(TargetSource::DocValues),
                    plan::doc_values_serve(field),
                ),
                TargetSource::DocValues,
            ),
        ]
    })
}

/// One member's evaluation while the buckets go by (several members when use cases with
/// the same counts count once): each aggregator is evaluated as soon as the next one
/// starts (buckets come sorted by aggregator), only aggregators with outliers are kept,
/// with their first evaluation. With two passes, the first one's buckets (the few events
/// read from `_source`) are held aside and join their aggregator in the second.
struct Member<'a> {
    uc: &'a UseCase,
    metric: Metric,
    flagged: Vec<(Group, Evaluation)>,
    aside: BTreeMap<Vec<String>, Vec<(Vec<TargetItem>, u64)>>,
    cur: Option<Group>,
    /// Events whose target gives no metric.
    skipped: u64,
}

impl<'a> Member<'a> {
    fn new(uc: &'a UseCase) -> Option<Member<'a>> {
        let ModelSpec::Metrics(spec) = &uc.model else {
            return None;
        };
        Some(Member {
            uc,
            metric: spec.metric,
            flagged: Vec::new(),
            aside: BTreeMap::new(),
            cur: None,
            skipped: 0,
        })
    }

    fn finish(&mut self, g: Group) {
        if let Some(e) = weighted::evaluate(&self.uc.trigger, &g.values) {
            if !e.outliers.is_empty() {
                self.flagged.push((g, e));
            }
        }
    }

    /// A group of `agg` with the buckets held aside for it.
    fn group(&mut self, agg: Vec<String>) -> Group {
        let mut g = Group::new(agg.clone());
        for (items, n) in self.aside.remove(&agg).unwrap_or_default() {
            if !g.add(self.metric, items, n) {
                self.skipped += n;
            }
        }
        g
    }

    /// One bucket of pass `aside` (held for later) or of the last pass.
    fn push(&mut self, agg: &[String], items: Vec<TargetItem>, n: u64, aside: bool) {
        if aside {
            self.aside.entry(agg.to_vec()).or_default().push((items, n));
            return;
        }
        if self.cur.as_ref().is_some_and(|g| g.aggregator != agg) {
            if let Some(g) = self.cur.take() {
                self.finish(g);
            }
        }
        if self.cur.is_none() {
            self.cur = Some(self.group(agg.to_vec()));
        }
        let metric = self.metric;
        if let Some(g) = self.cur.as_mut() {
            if !g.add(metric, items, n) {
                self.skipped += n;
            }
        }
    }

    /// After the last pass: the open group, then aggregators whose every event was read
    /// from `_source`.
    fn end(&mut self) -> Vec<(Group, Evaluation)> {
        if let Some(g) = self.cur.take() {
            self.finish(g);
        }
        let aggs: Vec<Vec<String>> = self.aside.keys().cloned().collect();
        for agg in aggs {
            let g = self.group(agg);
            self.finish(g);
        }
        if self.skipped > 0 {
            tracing::debug!(
                "{}: {} event(s) skipped: {} gives no metric for their target value",
                self.uc.name,
                self.skipped,
                self.metric.as_str()
            );
        }
        std::mem::take(&mut self.flagged)
    }
}

/// Pages through the counts of `passes` once and evaluates them for each of `members`
/// (use cases with the same counts; one result each, in order).
async fn count_and_evaluate<C: Cluster>(
    cx: &Context<'_, C>,
    members: &[&UseCase],
    mut passes: Vec<(SearchPlan, TargetSource)>,
    split: bool,
    rep: &mut UseCaseReport,
) -> Result<Vec<Vec<(Group, Evaluation)>>, EsError> {
    let mut evs: Vec<Member> = members.iter().filter_map(|uc| Member::new(uc)).collect();
    let mut events = 0u64;
    let last = passes.len() - 1;
    for (i, (sp, from)) in passes.iter_mut().enumerate() {
        let from = *from;
        let agg_names: Vec<String> = sp.sources[..sp.aggregator_len]
            .iter()
            .map(|s| s.name.clone())
            .collect();
        super::count::pages(cx.cluster, sp, split, cx.hints, rep, |b| {
            let agg: Vec<String> = agg_names
                .iter()
                .map(|n| b.key.get(n).map(render).unwrap_or_default())
                .collect();
            let items = b.key.get("t0").and_then(|k| plan::target_items(k, from));
            for m in evs.iter_mut() {
                match &items {
                    Some(items) => m.push(&agg, items.clone(), b.doc_count, i < last),
                    None => m.skipped += b.doc_count,
                }
            }
        })
        .await?;
        events += rep.events_in_window.unwrap_or(0);
    }
    // Two passes count disjoint events: the window holds both.
    rep.events_in_window = Some(events);
    rep.set_count_passes();
    Ok(evs.iter_mut().map(Member::end).collect())
}

/// Whitelist re-evaluation of every flagged aggregator (`weighted::reevaluate`). Each round
/// needs the events of its outlier values; a round that meets a value not fetched yet is
/// run again once its events are here (each such pass fetches at least one new value).
/// Returns the last rounds' outlier pairs and the whitelisted event ids.
async fn reevaluated<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    flagged: &[(Group, Evaluation)],
    fetcher: &Fetcher<'_>,
    cache: &mut HashMap<PairKey, Events>,
) -> Result<(Vec<(PairKey, PairOutlier)>, BTreeSet<String>), EsError> {
    let results = loop {
        let mut missing: BTreeSet<PairKey> = BTreeSet::new();
        let results: Vec<weighted::Reevaluation<String>> = flagged
            .iter()
            .enumerate()
            .map(|(gi, (g, _))| {
                weighted::reevaluate(&uc.trigger, &g.values, |vi, e| {
                    let Some(hits) = cache.get(&(gi, vi)) else {
                        missing.insert((gi, vi));
                        return BTreeSet::new();
                    };
                    let o = e.outliers.iter().find(|o| o.index == vi);
                    let p = g.pair(vi, e, o.map_or(0.0, |o| o.confidence), 0);
                    hits.iter()
                        .filter(|h| is_whitelisted(uc, &p, h))
                        .map(|h| h.id.clone())
                        .collect()
                })
            })
            .collect();
        if missing.is_empty() {
            break results;
        }
        let wanted: Vec<PairKey> = missing.into_iter().collect();
        fetcher.fetch(cx, flagged, &wanted, cache).await?;
    };
    let mut pairs = Vec::new();
    let mut whitelisted = BTreeSet::new();
    for (gi, r) in results.iter().enumerate() {
        whitelisted.extend(r.whitelisted.values().flatten().cloned());
        if let Some(e) = &r.evaluation {
            let g = &flagged[gi].0;
            pairs.extend(
                g.outliers(e, &r.values)
                    .into_iter()
                    .map(|(vi, p)| ((gi, vi), p)),
            );
        }
    }
    Ok((pairs, whitelisted))
}

/// The report line of one outlier pair; `average` and `values` over the aggregator's
/// events as counted.
fn outlier_report(
    uc: &UseCase,
    p: &PairOutlier,
    g: &Group,
    sample_summary: Option<String>,
) -> OutlierReport {
    let weighted: Vec<(f64, u64)> = g.values.iter().map(|v| (v.metric, v.doc_count)).collect();
    OutlierReport {
        aggregator: p.aggregator.join(" - "),
        target: Some(p.target.clone()),
        term_count: p.doc_count,
        average: weighted::mean(&weighted),
        decision_frontier: p.decision_frontier,
        values: g.values.iter().map(|v| v.doc_count as usize).sum(),
        non_outlier_values_sample: p.sample.clone(),
        summary: sample_summary.unwrap_or_else(|| uc.outlier_summary.raw.clone()),
    }
}

/// What fetching the events of outlier pairs needs.
struct Fetcher<'a> {
    uc: &'a UseCase,
    query: &'a Value,
    mapping: &'a TargetMapping,
    source: Option<&'a [String]>,
    agg_paths: Vec<String>,
    target_path: String,
}

impl Fetcher<'_> {
    /// Fetches the events of the `wanted` (group, value) pairs into `cache` (an empty list
    /// for a pair without events), matching each event to its pairs exactly: the query
    /// only narrows (see `plan::metrics::pair_clause`).
    async fn fetch<C: Cluster>(
        &self,
        cx: &Context<'_, C>,
        flagged: &[(Group, Evaluation)],
        wanted: &[PairKey],
        cache: &mut HashMap<PairKey, Events>,
    ) -> Result<(), EsError> {
        let wanted: Vec<PairKey> = wanted
            .iter()
            .filter(|k| !cache.contains_key(k))
            .copied()
            .collect();
        // (aggregator values, flattened target) -> pair keys.
        let mut lookup: HashMap<(Vec<String>, String), PairKey> = HashMap::new();
        let mut clauses = Vec::new();
        for &(gi, vi) in &wanted {
            let g = &flagged[gi].0;
            lookup.insert((g.aggregator.clone(), g.targets[vi].clone()), (gi, vi));
            clauses.push(plan::pair_clause(
                self.uc,
                &g.aggregator,
                &g.encodings[vi],
                self.mapping,
            ));
            cache.insert((gi, vi), Vec::new());
        }
        // Requests stay under the clause limit, counted as Lucene 9 does (every query of
        // the tree; a list target adds a term per element), a quarter kept for the filter.
        let budget = (cx.limits.max_clauses * 3 / 4).max(1);
        let mut chunks: Vec<(usize, Vec<Value>)> = Vec::new();
        for c in clauses {
            let n = plan::query_count(&c);
            match chunks.last_mut() {
                Some((cost, chunk)) if *cost + n <= budget => {
                    *cost += n;
                    chunk.push(c);
                }
                _ => chunks.push((n, vec![c])),
            }
        }
        for (_, chunk) in &chunks {
            let q = crate::plan::restrict(self.query, chunk, &[]);
            let mut each = |hit: Hit| {
                let Some(t) =
                    event::value(&hit.source, &self.target_path).and_then(metric::flatten)
                else {
                    return;
                };
                for a in event::combos(&hit.source, &self.agg_paths) {
                    if let Some(k) = lookup.get(&(a, t.clone())) {
                        let list = cache.entry(*k).or_default();
                        if !list.iter().any(|h| h.id == hit.id && h.index == hit.index) {
                            list.push(hit.clone());
                        }
                    }
                }
            };
            cx.cluster
                .scan(
                    &self.uc.index_pattern,
                    &q,
                    self.source,
                    "fetch events of outlier pairs",
                    &mut each,
                )
                .await?;
        }
        Ok(())
    }
}

/// ee-outliers checks the whole hit (metadata and `_source`) plus the outlier's own values
/// (this round's frontier, confidence and sample) against the whitelists.
fn is_whitelisted(uc: &UseCase, p: &PairOutlier, hit: &Hit) -> bool {
    let mut strings = ev::whitelist::event_strings(&json!({
        "_index": hit.index, "_id": hit.id, "_source": hit.source
    }));
    let keys = tag::model_keys(uc, p);
    for v in tag::entry(uc, &keys, &hit.source).values() {
        strings.extend(ev::whitelist::event_strings(v));
    }
    ev::whitelist::is_whitelisted(&uc.whitelist, &strings)
}
