//! Pipeline, sudden_appearance model (SPEC section 9): one aggregation pass serves every
//! window position; only the first events to tag cross the network.
//!
//! ```text
//! composite pages (pair x grid time bucket, min of the timestamp)  -> SuddenEvaluator
//!   -> findings (pair, window, earliest millisecond)
//!   -> first-event batches (count in window, ids at the earliest ms; ties listed by a scan)
//!   -> one finding per event (the smallest pair, as 0.2.17's first doc value)
//!   -> summary filled from the event, whitelists -> entries by document id
//! ```
//!
//! The number of requests depends on the buckets (pages), the findings (batches of
//! [`FIRST_EVENTS_BATCH`]) and the ties, never on the number of window positions.
//!
//! Must not: build request bodies (`plan::sudden`, `tag::sudden`) or decide suddenness
//! (`evaluate::sudden`).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;

use super::{count, fields, Context, Detection};
use crate::config::{SuddenAppearanceSpec, UseCase};
use crate::es::FirstEventsResponse;
use crate::evaluate::pystr::timedelta_str;
use crate::evaluate::sudden::{
    self as ev, datetime_of_ms, FirstEvent, Pair, SuddenEvaluator, SuddenFinding, TimeBucket,
    Truncation, Windows, COMPUTED_KEYS,
};
use crate::evaluate::{join, whitelist};
use crate::execute::{Cluster, EsError, SCAN_SIZE};
use crate::plan::sudden::{self as plan, SuddenPlan};
use crate::report::{FirstSeen, OutlierReport, SuddenReport, Timeline, UseCaseReport};
use crate::tag::sudden as tag;

/// Findings per first-events request (each is two `filters` buckets and up to
/// `plan::sudden::TIE_HITS` hits); also at most half a composite page, so the buckets
/// stay under `search.max_buckets`.
pub const FIRST_EVENTS_BATCH: usize = 500;

/// Timelines kept in the report (the first flagged aggregator values, in composite order).
const MAX_TIMELINES: usize = 100;

/// Non-sudden targets shown per timeline, besides every sudden one.
const TIMELINE_OTHERS: usize = 30;

/// The event chosen for a finding.
struct Chosen {
    finding: SuddenFinding,
    index: String,
    id: String,
    num_in_window: u64,
    /// `None` until fetched (a tie's winner).
    source: Option<Value>,
}

/// The chosen events by (index, id).
type ChosenEvents = BTreeMap<(String, String), Chosen>;

/// The `_source` path of field `f`: as the mapping spells it, else as written.
fn path_of(source_paths: &BTreeMap<String, String>, f: &str) -> String {
    source_paths
        .get(f)
        .cloned()
        .unwrap_or_else(|| f.to_string())
}

/// A response of `request` that could not be read.
fn decode(uc: &UseCase, request: &str, reason: String) -> EsError {
    EsError::Decode {
        request: request.to_string(),
        index: uc.index_pattern.clone(),
        reason,
    }
}

/// Detects the sudden appearances of a use case and builds its tagging requests.
pub async fn detect<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    spec: &SuddenAppearanceSpec,
    rep: &mut UseCaseReport,
) -> Result<Detection, EsError> {
    let t0 = Instant::now();
    // Fields as the mapping spells them (case-insensitive, a text field counted through its
    // keyword sub-field); summary placeholders that name computed values are not fields.
    let query = crate::plan::filter_query(uc, cx.window);
    let fp = fields::check_fields(cx.cluster, uc, &query).await?;
    for n in &fp.notices {
        tracing::warn!("{}: {n}", uc.name);
    }
    let uc = &fp.uc;
    let source_paths = &fp.source_paths;
    let mut sp = plan::search(uc, spec, cx.window.end, cx.page_size);
    let windows = sp.windows;
    let mut sr = SuddenReport {
        window: timedelta_str(time::Duration::minutes(spec.window_minutes as i64)),
        step: timedelta_str(time::Duration::minutes(spec.step_minutes as i64)),
        windows_evaluated: windows.count() as u64,
        detection_requests: 1, // the mapping check
        ..SuddenReport::default()
    };

    // 1. One aggregation pass over the history window.
    let (findings, truncation, timelines) =
        count_pass(cx, uc, spec, &mut sp, fp.lead_splits(), rep, &mut sr).await?;
    sr.warnings = truncation_warnings(&truncation, spec, &windows);
    if timelines.len() > MAX_TIMELINES {
        sr.warnings.push(format!(
            "{} aggregator values have a sudden appearance; the report shows the timelines of the first {MAX_TIMELINES}",
            timelines.len()
        ));
    }
    sr.timelines = timelines.into_iter().take(MAX_TIMELINES).collect();

    // 2. The first event of each finding, one request per batch. Whitelists look at the
    // whole event; otherwise only the summary's placeholders are read.
    let mut event_fields: Vec<String> = uc
        .outlier_summary
        .fields()
        .iter()
        .filter(|f| !COMPUTED_KEYS.contains(&f.to_lowercase().as_str()))
        .map(|f| path_of(source_paths, f))
        .collect();
    // `[assets]` are read from the event too.
    event_fields.extend(uc.assets.iter().map(|(f, _)| path_of(source_paths, f)));
    event_fields.sort();
    event_fields.dedup();
    let source: Option<&[String]> = uc.whitelist.is_empty().then_some(&event_fields[..]);
    let (mut chosen, order) = first_events(cx, uc, &sp, &findings, source, rep, &mut sr).await?;
    if sr.gone > 0 {
        sr.warnings.push(format!(
            "{} sudden pair(s) had no event left at their earliest timestamp when fetched (deleted or changed since counting); not tagged",
            sr.gone
        ));
    }

    // 3. The events of tie winners, when their contents are needed.
    fetch_tied_sources(cx, uc, &mut chosen, source, &mut sr).await?;

    // 4. Entries: summary from the event, then whitelists (the event and the outlier's
    // values, as ee-outliers checks them).
    let by_id = entries(uc, source_paths, windows, &chosen, &order, rep);
    rep.sudden = Some(sr);
    rep.detection_ms = t0.elapsed().as_millis() as u64;
    if cx.dry_run || by_id.is_empty() {
        return Ok(Detection::default());
    }
    Ok(Detection {
        requests: tag::requests(uc, &sp.query, &by_id),
    })
}

/// The aggregation pass: pages through the (pair, time bucket) counts, feeding the
/// evaluator and the timelines. Returns the findings in composite order, what the
/// evaluator had to leave out, and the timelines of the flagged aggregator values.
async fn count_pass<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    spec: &SuddenAppearanceSpec,
    sp: &mut SuddenPlan,
    split: bool,
    rep: &mut UseCaseReport,
    sr: &mut SuddenReport,
) -> Result<(Vec<SuddenFinding>, Truncation, Vec<Timeline>), EsError> {
    let windows = sp.windows;
    let reader = sp.clone();
    let mut evaluator = SuddenEvaluator::new(windows, spec);
    let mut timelines = Timelines::new(windows);
    let mut findings = Vec::new();
    let mut bad: Option<String> = None;
    let pages_before = rep.pages;
    count::pages(cx.cluster, sp, split, cx.hints, rep, |b| {
        match reader.bucket(b) {
            Ok((pair, bucket)) => {
                let found = evaluator.push(pair.clone(), bucket);
                timelines.sudden(&found);
                findings.extend(found);
                timelines.push(&pair, &bucket);
            }
            Err(e) => {
                bad.get_or_insert(e);
            }
        }
    })
    .await?;
    sr.detection_requests += rep.pages - pages_before;
    if let Some(reason) = bad {
        return Err(decode(uc, "composite page", reason));
    }
    let (rest, truncation) = evaluator.finish();
    timelines.sudden(&rest);
    findings.extend(rest);
    Ok((findings, truncation, timelines.finish()))
}

/// The events chosen for the findings, keyed by (index, id), and their keys in the order
/// chosen: one finding per event, the first in composite order (the smallest pair;
/// 0.2.17 sees only the first doc value of a list field). A tie at the earliest
/// millisecond goes to the smallest id ([`smallest_tied`]); its `_source` is fetched
/// later. Pairs with no event left are counted in `sr.gone`.
async fn first_events<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    sp: &SuddenPlan,
    findings: &[SuddenFinding],
    source: Option<&[String]>,
    rep: &mut UseCaseReport,
    sr: &mut SuddenReport,
) -> Result<(ChosenEvents, Vec<(String, String)>), EsError> {
    let batch = (cx.page_size as usize / 2).clamp(1, FIRST_EVENTS_BATCH);
    let mut chosen: ChosenEvents = BTreeMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    let what = "fetch the first events of sudden pairs";
    for chunk in findings.chunks(batch) {
        cx.cluster.policy().check("the next first-events request")?;
        let body = sp.first_events_body(chunk, source);
        let v = cx
            .cluster
            .search_with(&uc.index_pattern, &body, &sp.first_events_params(), what)
            .await?;
        sr.detection_requests += 1;
        sr.first_event_requests += 1;
        rep.es_took_ms += v["took"].as_u64().unwrap_or(0);
        let resp: FirstEventsResponse =
            serde_json::from_value(v).map_err(|e| decode(uc, what, e.to_string()))?;
        let firsts = sp
            .first_events(&resp, chunk.len())
            .map_err(|e| decode(uc, what, e))?;
        for (f, first) in chunk.iter().zip(firsts) {
            let (index, id, num_in_window, source) = match first {
                FirstEvent::Found {
                    index,
                    id,
                    num_in_window,
                    source,
                } => (index, id, num_in_window, Some(source)),
                FirstEvent::Tied { num_in_window, .. } => {
                    sr.ties += 1;
                    sr.detection_requests += 1;
                    match smallest_tied(cx.cluster, sp, uc, f).await? {
                        Some((index, id)) => (index, id, num_in_window, None),
                        None => {
                            sr.gone += 1;
                            continue;
                        }
                    }
                }
                FirstEvent::Gone { .. } => {
                    sr.gone += 1;
                    continue;
                }
            };
            let key = (index.clone(), id.clone());
            if chosen.contains_key(&key) {
                continue;
            }
            order.push(key.clone());
            chosen.insert(
                key,
                Chosen {
                    finding: f.clone(),
                    index,
                    id,
                    num_in_window,
                    source,
                },
            );
        }
    }
    Ok((chosen, order))
}

/// Fetches the `_source` of the tie winners (chosen without it), unless no field of the
/// event is needed.
async fn fetch_tied_sources<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    chosen: &mut ChosenEvents,
    source: Option<&[String]>,
    sr: &mut SuddenReport,
) -> Result<(), EsError> {
    let missing: Vec<String> = chosen
        .values()
        .filter(|c| c.source.is_none())
        .map(|c| c.id.clone())
        .collect();
    if missing.is_empty() || source.is_some_and(<[String]>::is_empty) {
        return Ok(());
    }
    for ids in missing.chunks(SCAN_SIZE as usize) {
        cx.cluster
            .policy()
            .check("the fetch of tied first events")?;
        let body = plan::events_by_id_body(ids, source, SCAN_SIZE);
        let mut each = |hit: crate::es::Hit| {
            if let Some(c) = chosen.get_mut(&(hit.index.clone(), hit.id.clone())) {
                c.source = Some(hit.source);
            }
        };
        cx.cluster
            .scan_body(
                &uc.index_pattern,
                &body,
                "fetch tied first events",
                &mut each,
            )
            .await?;
        sr.detection_requests += 1;
    }
    Ok(())
}

/// The entry of each chosen event that no whitelist covers, by document id, in `order`:
/// the summary filled from the event, then the whitelists checked with the event and the
/// outlier's values, as ee-outliers checks them. Each kept event is reported.
fn entries(
    uc: &UseCase,
    source_paths: &BTreeMap<String, String>,
    windows: Windows,
    chosen: &ChosenEvents,
    order: &[(String, String)],
    rep: &mut UseCaseReport,
) -> BTreeMap<String, Map<String, Value>> {
    let mut by_id: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for key in order {
        let c = &chosen[key];
        let extras = c.finding.extra_information(
            &uc.aggregator,
            &uc.target,
            windows.window_minutes(),
            c.num_in_window,
        );
        let src = c.source.clone().unwrap_or(Value::Null);
        let summary = ev::summary(
            &uc.outlier_summary,
            &extras,
            (&uc.model_name, tag::MODEL_TYPE),
            &src,
            |f| path_of(source_paths, f),
        );
        let assets = crate::evaluate::placeholder::assets(&src, &uc.assets);
        let entry = tag::entry(uc, &summary, &extras, &assets);
        if !uc.whitelist.is_empty() {
            let mut strings = whitelist::event_strings(
                &json!({ "_index": c.index, "_id": c.id, "_source": src }),
            );
            strings.extend(whitelist::event_strings(&Value::Object(entry.clone())));
            if whitelist::is_whitelisted(&uc.whitelist, &strings) {
                rep.whitelisted_events += 1;
                continue;
            }
        }
        rep.outliers.push(OutlierReport {
            aggregator: join(&c.finding.aggregator),
            target: Some(join(&c.finding.target)),
            term_count: c.num_in_window,
            average: 0.0,
            decision_frontier: 0.0,
            values: 0,
            non_outlier_values_sample: Vec::new(),
            summary,
        });
        by_id.insert(c.id.clone(), entry);
    }
    by_id
}

/// The smallest (`_id`, `_index`) among a tied finding's events, listed by one scan
/// with `_source` off; `None` when none is left.
async fn smallest_tied<C: Cluster>(
    cluster: &C,
    sp: &SuddenPlan,
    uc: &UseCase,
    f: &SuddenFinding,
) -> Result<Option<(String, String)>, EsError> {
    cluster.policy().check("the scan of tied first events")?;
    let mut best: Option<(String, String)> = None;
    let mut each = |hit: crate::es::Hit| {
        let k = (hit.id, hit.index);
        if best.as_ref().is_none_or(|b| k < *b) {
            best = Some(k);
        }
    };
    cluster
        .scan_body(
            &uc.index_pattern,
            &sp.tie_scan_body(f, SCAN_SIZE),
            "list tied first events",
            &mut each,
        )
        .await?;
    Ok(best.map(|(id, index)| (index, id)))
}

/// Where 0.2.17's per-window terms aggregations would have been cut, as sentences.
fn truncation_warnings(t: &Truncation, spec: &SuddenAppearanceSpec, w: &Windows) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((i, n)) = t.windows_over_aggregator_cap.iter().max_by_key(|(_, n)| *n) {
        let win = w.window(*i);
        out.push(format!(
            "{} window(s) hold more than max_num_aggregators={} aggregator values (up to {n} in [{}, {}]): \
             ee-outliers 0.2.17 would have kept only the most frequent ones there, and missed rare ones; esoutliers counted them all",
            t.windows_over_aggregator_cap.len(),
            spec.max_num_aggregators,
            utc(win.start_ms),
            utc(win.end_ms)
        ));
    }
    if !t.aggregators_over_target_cap.is_empty() {
        let named: Vec<String> = t
            .aggregators_over_target_cap
            .iter()
            .take(5)
            .map(|(a, _, n)| format!("{} ({n})", join(a)))
            .collect();
        out.push(format!(
            "{} aggregator value(s) have more than max_num_targets={} target values in a window ({}{}): \
             ee-outliers 0.2.17 would have kept only the most frequent ones, and missed rare ones; esoutliers counted them all",
            t.aggregators_over_target_cap.len(),
            spec.max_num_targets,
            named.join(", "),
            if t.aggregators_over_target_cap.len() > 5 { ", ..." } else { "" }
        ));
    }
    out
}

/// An epoch-millisecond timestamp as RFC 3339 (UTC).
fn utc(ms: i64) -> String {
    let t = datetime_of_ms(ms);
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// One target value of the aggregator being read: first timestamp, events, and the
/// timestamps of its sudden appearances.
struct TargetSeen {
    target: Vec<String>,
    first_ms: i64,
    events: u64,
    sudden_ms: Vec<i64>,
}

/// Collects the timelines of the report from the composite buckets as they stream by:
/// the targets of the current aggregator value (its pairs are consecutive in composite
/// order), kept when one of them appeared suddenly.
struct Timelines {
    windows: Windows,
    aggregator: Option<Vec<String>>,
    targets: Vec<TargetSeen>,
    out: Vec<Timeline>,
}

impl Timelines {
    fn new(windows: Windows) -> Timelines {
        Timelines {
            windows,
            aggregator: None,
            targets: Vec::new(),
            out: Vec::new(),
        }
    }

    /// The next bucket, in composite order.
    fn push(&mut self, pair: &Pair, b: &TimeBucket) {
        if self.aggregator.as_ref() != Some(&pair.aggregator) {
            self.close();
            self.aggregator = Some(pair.aggregator.clone());
        }
        match self.targets.last_mut() {
            Some(t) if t.target == pair.target => {
                t.events += b.doc_count;
                t.first_ms = t.first_ms.min(b.first_ms);
            }
            _ => self.targets.push(TargetSeen {
                target: pair.target.clone(),
                first_ms: b.first_ms,
                events: b.doc_count,
                sudden_ms: Vec::new(),
            }),
        }
    }

    /// Findings of the current aggregator value (the evaluator returns a pair's findings
    /// before the next pair's bucket is pushed here).
    fn sudden(&mut self, found: &[SuddenFinding]) {
        for f in found {
            if self.aggregator.as_ref() != Some(&f.aggregator) {
                continue;
            }
            if let Some(t) = self.targets.iter_mut().find(|t| t.target == f.target) {
                t.sudden_ms.push(f.first_ms);
            }
        }
    }

    fn close(&mut self) {
        let mut targets = std::mem::take(&mut self.targets);
        let Some(aggregator) = self.aggregator.take() else {
            return;
        };
        if targets.iter().all(|t| t.sudden_ms.is_empty()) {
            return;
        }
        targets.sort_by(|a, b| (a.first_ms, &a.target).cmp(&(b.first_ms, &b.target)));
        let total = targets.len();
        let mut others = 0;
        let kept: Vec<FirstSeen> = targets
            .into_iter()
            .filter(|t| {
                let keep = !t.sudden_ms.is_empty() || others < TIMELINE_OTHERS;
                if t.sudden_ms.is_empty() && keep {
                    others += 1;
                }
                keep
            })
            .map(|t| FirstSeen {
                target: join(&t.target),
                first_seen: utc(t.first_ms),
                events: t.events,
                sudden_at: t.sudden_ms.iter().map(|m| utc(*m)).collect(),
            })
            .collect();
        let (start, end) = self.windows.range_ms();
        self.out.push(Timeline {
            aggregator: join(&aggregator),
            start: utc(start),
            end: utc(end),
            more_targets: (total - kept.len()) as u64,
            targets: kept,
        });
    }

    fn finish(mut self) -> Vec<Timeline> {
        self.close();
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn windows() -> Windows {
        Windows::new(datetime!(2026-11-28 00:00 UTC), 600, 240, 120)
    }

    fn pair(a: &str, t: &str) -> Pair {
        Pair {
            aggregator: vec![a.into()],
            target: vec![t.into()],
        }
    }

    fn bucket(start_ms: i64, n: u64, first_ms: i64) -> TimeBucket {
        TimeBucket {
            start_ms,
            doc_count: n,
            first_ms,
        }
    }

    #[test]
    fn timelines_keep_flagged_aggregators_with_each_target_first_seen() {
        let w = windows();
        let (s, _) = w.range_ms();
        let h = 3_600_000;
        let mut t = Timelines::new(w);
        t.push(&pair("h1", "usual"), &bucket(s, 3, s + h));
        t.push(&pair("h1", "usual"), &bucket(s + 2 * h, 2, s + 2 * h));
        t.push(&pair("h1", "new"), &bucket(s + 4 * h, 1, s + 5 * h));
        let finding = SuddenFinding {
            aggregator: vec!["h1".into()],
            target: vec!["new".into()],
            window: w.window(1),
            first_ms: s + 5 * h,
        };
        t.sudden(std::slice::from_ref(&finding));
        // h2 has nothing sudden: no timeline.
        t.push(&pair("h2", "x"), &bucket(s, 1, s));
        let out = t.finish();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].aggregator, "h1");
        assert_eq!(out[0].start, "2026-11-27T14:00:00Z");
        let seen: Vec<(&str, &str, u64, usize)> = out[0]
            .targets
            .iter()
            .map(|f| {
                (
                    f.target.as_str(),
                    f.first_seen.as_str(),
                    f.events,
                    f.sudden_at.len(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("usual", "2026-11-27T15:00:00Z", 5, 0),
                ("new", "2026-11-27T19:00:00Z", 1, 1)
            ]
        );
    }

    #[test]
    fn timelines_show_every_sudden_target_and_thirty_others() {
        let w = windows();
        let (s, _) = w.range_ms();
        let mut t = Timelines::new(w);
        for i in 0..40 {
            t.push(&pair("h", &format!("t{i:02}")), &bucket(s, 1, s + i));
        }
        t.sudden(&[SuddenFinding {
            aggregator: vec!["h".into()],
            target: vec!["t39".into()],
            window: w.window(0),
            first_ms: s + 39,
        }]);
        let out = t.finish();
        assert_eq!(out[0].targets.len(), 31);
        assert_eq!(out[0].more_targets, 9);
        assert_eq!(out[0].targets[30].target, "t39");
    }
}
