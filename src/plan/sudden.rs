//! Stage `plan` (PURE) for `[sudden_appearance_*]` (SPEC section 9): the counting pass
//! and the first-events request, as exact request bodies. No I/O and no clock: `now` is
//! an argument, so every body is deterministic.
//!
//! One aggregation pass serves every window position (0.2.17 sends one request per
//! position): a composite aggregation over the aggregator fields, the target fields and,
//! last, a `date_histogram` of the timestamp in buckets of g = gcd(step, window, history)
//! minutes aligned on the history start S (`offset`), each with the `min` of the
//! timestamp. The time source being last, each pair's buckets arrive together and in
//! time order, which `evaluate::sudden::SuddenEvaluator` relies on. The range is CLOSED,
//! [S, now] (`gte`/`lte`), as the windows are.
//!
//! Then, per batch of findings, ONE request gives each finding's event count in its
//! window (`num_target_value_in_window`) and the ids of its events at the earliest
//! timestamp (two keyed `filters` aggregations, bucket `i` for finding `i`: the pair in
//! its window; the pair at its earliest millisecond, with a small `top_hits`);
//! `evaluate::sudden::first_event` picks the smallest `_id`. Sorting `top_hits` by `_id` would do it in Elasticsearch, but it loads
//! the `_id` field data of every visited segment onto the heap, and Elasticsearch 8
//! refuses it by default (`indices.id_field_data.enabled`), so the tie-break is done here.
//!
//! Invariant: values that come from data (field values of pairs) only appear in `term`
//! queries, never inside a query string or a script.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::{rfc3339, term_filters, use_case_clauses, Source};
use crate::config::{SuddenAppearanceSpec, UseCase};
use crate::es::{AfterKey, CompositeBucket, FirstEventsResponse, PAIRS_AGG};
use crate::evaluate::sudden::{
    datetime_of_ms, first_event, FirstEvent, Pair, SuddenFinding, TimeBucket, Windows,
};

/// The name of the time source in the composite key.
pub const TIME_SOURCE: &str = "time";

/// Hits returned per finding at its earliest timestamp. When more events share that
/// millisecond ([`FirstEvent::Tied`]), the caller lists them with
/// [`SuddenPlan::tie_query`].
pub const TIE_HITS: u32 = 10;

/// Everything needed to count one sudden_appearance use case and fetch its first events.
#[derive(Debug, Clone, PartialEq)]
pub struct SuddenPlan {
    pub use_case: String,
    /// The index pattern, as configured.
    pub index: String,
    /// The filter: the closed range [S, now], `exists` on every aggregator and target
    /// field, and the use case's own query.
    pub query: Value,
    /// The composite sources `a0..` (aggregator fields) and `t0..` (target fields); the
    /// time source [`TIME_SOURCE`] comes after them.
    pub sources: Vec<Source>,
    pub aggregator_len: usize,
    pub timestamp_field: String,
    /// The windows of this run.
    pub windows: Windows,
    pub page_size: u32,
    /// A fixed `preference`, so pages hit the same shard copies (and their caches).
    pub preference: String,
}

/// The plan of one sudden_appearance use case at `now` (the window geometry comes from
/// `spec` and the use case's history window).
pub fn search(
    uc: &UseCase,
    spec: &SuddenAppearanceSpec,
    now: OffsetDateTime,
    page_size: u32,
) -> SuddenPlan {
    let windows = Windows::new(
        now,
        uc.history_window_hours * 60,
        spec.window_minutes,
        spec.step_minutes,
    );
    let (start, end) = windows.range_ms();
    let mut filters = vec![range(&uc.timestamp_field, start, end)];
    filters.extend(use_case_clauses(uc));
    let sources = uc
        .aggregator
        .iter()
        .enumerate()
        .map(|(i, f)| Source {
            name: format!("a{i}"),
            field: f.clone(),
            script: None,
        })
        .chain(uc.target.iter().enumerate().map(|(i, f)| Source {
            name: format!("t{i}"),
            field: f.clone(),
            script: None,
        }))
        .collect();
    SuddenPlan {
        use_case: uc.name.clone(),
        index: uc.index_pattern.clone(),
        query: json!({ "bool": { "filter": filters } }),
        sources,
        aggregator_len: uc.aggregator.len(),
        timestamp_field: uc.timestamp_field.clone(),
        windows,
        page_size,
        preference: format!("esoutliers-{}", uc.name),
    }
}

/// A closed range [from, to] (epoch ms) on `field`, written as UTC timestamps.
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/query-dsl-range-query.html>
fn range(field: &str, from: i64, to: i64) -> Value {
    json!({ "range": { field: {
        "gte": rfc3339(datetime_of_ms(from)),
        "lte": rfc3339(datetime_of_ms(to)),
        "format": "strict_date_optional_time"
    } } })
}

impl SuddenPlan {
    /// Body of one composite page. The first page (`after = None`) also counts the events
    /// in the history window (`track_total_hits`), later pages do not.
    /// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-aggregations-bucket-composite-aggregation.html>
    pub fn page_body(&self, after: Option<&AfterKey>) -> Value {
        let mut sources: Vec<Value> = self
            .sources
            .iter()
            .map(|s| json!({ s.name.as_str(): { "terms": { "field": s.field } } }))
            .collect();
        // Buckets of g minutes starting at S + k*g: `offset` shifts the epoch-aligned
        // grid by S mod g.
        // <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-aggregations-bucket-composite-aggregation.html#_date_histogram>
        sources.push(json!({ TIME_SOURCE: { "date_histogram": {
            "field": self.timestamp_field,
            "fixed_interval": format!("{}m", self.windows.grid_minutes()),
            "offset": format!("+{}ms", self.windows.offset_ms()),
        } } }));
        let mut composite = json!({ "size": self.page_size, "sources": sources });
        if let Some(a) = after {
            composite["after"] = json!(a);
        }
        json!({
            "size": 0,
            "track_total_hits": after.is_none(),
            "query": self.query,
            "aggs": { PAIRS_AGG: {
                "composite": composite,
                "aggs": { "first": { "min": { "field": self.timestamp_field } } }
            } }
        })
    }

    /// URL parameters of every page: never accept partial results, return only what is read.
    pub fn page_params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("allow_partial_search_results", "false".into()),
            ("preference", self.preference.clone()),
            (
                "filter_path",
                "took,timed_out,_shards,hits.total,aggregations.pairs.after_key,\
                 aggregations.pairs.buckets.key,aggregations.pairs.buckets.doc_count,\
                 aggregations.pairs.buckets.first.value"
                    .into(),
            ),
        ]
    }

    /// A page's bucket as its pair and time bucket. `Err` names what is missing: a key
    /// without a value for a source or the time, or a bucket without its `min` (a
    /// response this plan did not ask for).
    pub fn bucket(&self, bucket: &CompositeBucket) -> Result<(Pair, TimeBucket), String> {
        let value = |name: &str| {
            bucket
                .key
                .get(name)
                .map(super::render)
                .ok_or_else(|| format!("composite key without {name}"))
        };
        let (agg, tgt) = self.sources.split_at(self.aggregator_len);
        let pair = Pair {
            aggregator: agg
                .iter()
                .map(|s| value(&s.name))
                .collect::<Result<_, _>>()?,
            target: tgt
                .iter()
                .map(|s| value(&s.name))
                .collect::<Result<_, _>>()?,
        };
        let start_ms = bucket
            .key
            .get(TIME_SOURCE)
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("composite key without a {TIME_SOURCE} in milliseconds"))?;
        let first_ms = bucket
            .first
            .and_then(|m| m.value)
            .map(|v| v.round() as i64)
            .ok_or("composite bucket without the min of its timestamps")?;
        Ok((
            pair,
            TimeBucket {
                start_ms,
                doc_count: bucket.doc_count,
                first_ms,
            },
        ))
    }

    /// The clause selecting the events of a finding's pair.
    fn pair_clause(&self, f: &SuddenFinding) -> Vec<Value> {
        let (agg, tgt) = self.sources.split_at(self.aggregator_len);
        let fields = |s: &[Source]| s.iter().map(|s| s.field.clone()).collect::<Vec<_>>();
        let mut clauses = term_filters(&fields(agg), &f.aggregator);
        clauses.extend(term_filters(&fields(tgt), &f.target));
        clauses
    }

    /// The range of one millisecond [t, t + 1 ms): the events at the earliest timestamp
    /// (a `date_nanos` field keeps its sub-millisecond events in it too).
    fn first_millisecond(&self, t: i64) -> Value {
        json!({ "range": { self.timestamp_field.as_str(): {
            "gte": rfc3339(datetime_of_ms(t)),
            "lt": rfc3339(datetime_of_ms(t + 1)),
            "format": "strict_date_optional_time"
        } } })
    }

    /// ONE request for a batch of findings, two keyed `filters` aggregations: bucket
    /// `"i"` of `window` counts finding `i`'s pair in its closed window (its `doc_count`
    /// is `num_target_value_in_window`); bucket `"i"` of `first` holds the pair's events
    /// at the finding's earliest millisecond, up to [`TIE_HITS`] of them as hits.
    /// `source`: the `_source` of those hits: `None` the whole event (whitelists need
    /// it), `Some(&[])` none, `Some(fields)` those fields (summary placeholders). Callers
    /// chunk the findings (each is two small clauses and up to [`TIE_HITS`] hits).
    /// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-aggregations-bucket-filters-aggregation.html>
    pub fn first_events_body(
        &self,
        findings: &[SuddenFinding],
        source: Option<&[String]>,
    ) -> Value {
        let keyed = |clause: &dyn Fn(&SuddenFinding) -> Value| -> Map<String, Value> {
            findings
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let mut clauses = self.pair_clause(f);
                    clauses.push(clause(f));
                    (i.to_string(), json!({ "bool": { "filter": clauses } }))
                })
                .collect()
        };
        let in_window =
            keyed(&|f| range(&self.timestamp_field, f.window.start_ms, f.window.end_ms));
        let at_first = keyed(&|f| self.first_millisecond(f.first_ms));
        // <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-aggregations-metrics-top-hits-aggregation.html>
        let mut top_hits = json!({ "size": TIE_HITS, "sort": ["_doc"] });
        match source {
            None => {}
            Some([]) => top_hits["_source"] = json!(false),
            Some(fields) => top_hits["_source"] = json!({ "includes": fields }),
        }
        json!({
            "size": 0,
            "track_total_hits": false,
            "query": self.query,
            "aggs": {
                "window": { "filters": { "filters": in_window } },
                "first": {
                    "filters": { "filters": at_first },
                    "aggs": { "event": { "top_hits": top_hits } }
                }
            }
        })
    }

    /// URL parameters of the first-events request.
    pub fn first_events_params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("allow_partial_search_results", "false".into()),
            ("preference", self.preference.clone()),
            (
                "filter_path",
                "took,timed_out,_shards,aggregations.window.buckets.*.doc_count,\
                 aggregations.first.buckets.*.doc_count,\
                 aggregations.first.buckets.*.event.hits.hits._index,\
                 aggregations.first.buckets.*.event.hits.hits._id,\
                 aggregations.first.buckets.*.event.hits.hits._source"
                    .into(),
            ),
        ]
    }

    /// What the first-events response says about each of the `n` findings of its batch,
    /// in order. `Err` names a missing bucket (a response to another request).
    pub fn first_events(
        &self,
        response: &FirstEventsResponse,
        n: usize,
    ) -> Result<Vec<FirstEvent>, String> {
        (0..n)
            .map(|i| {
                let key = i.to_string();
                let aggs = response.aggregations.as_ref();
                // No aggregations at all: nothing matched the query any more.
                let in_window = aggs
                    .map(|a| a.window.buckets.get(&key).map(|b| b.doc_count))
                    .unwrap_or(Some(0))
                    .ok_or_else(|| format!("no bucket {i} in the window counts"))?;
                let tied = aggs.and_then(|a| a.first.buckets.get(&key));
                let hits: Vec<(String, String, Value)> = tied
                    .and_then(|t| t.event.as_ref())
                    .map(|e| {
                        e.hits
                            .hits
                            .iter()
                            .map(|h| (h.index.clone(), h.id.clone(), h.source.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(first_event(
                    in_window,
                    tied.map_or(0, |t| t.doc_count),
                    &hits,
                ))
            })
            .collect()
    }

    /// The events of a [`FirstEvent::Tied`] finding: its pair at its earliest
    /// millisecond, inside the plan's filter. The caller lists their ids (`_source`
    /// off) and keeps the smallest.
    pub fn tie_query(&self, f: &SuddenFinding) -> Value {
        let mut clauses = vec![self.query.clone()];
        clauses.extend(self.pair_clause(f));
        clauses.push(self.first_millisecond(f.first_ms));
        json!({ "bool": { "filter": clauses } })
    }
}

impl SuddenPlan {
    /// The scan listing a [`FirstEvent::Tied`] finding's events: [`SuddenPlan::tie_query`],
    /// `size` per page, ids only (`_source` off).
    pub fn tie_scan_body(&self, f: &SuddenFinding, size: u32) -> Value {
        json!({ "size": size, "query": self.tie_query(f), "sort": ["_doc"], "_source": false })
    }
}

/// The scan fetching the events `ids` (the winners of ties), `_source` as in
/// [`SuddenPlan::first_events_body`]: `None` whole, `Some(&[])` none, `Some(fields)` those.
pub fn events_by_id_body(ids: &[String], source: Option<&[String]>, size: u32) -> Value {
    let mut body = json!({ "size": size, "query": { "ids": { "values": ids } }, "sort": ["_doc"] });
    match source {
        None => {}
        Some([]) => body["_source"] = json!(false),
        Some(fields) => body["_source"] = json!({ "includes": fields }),
    }
    body
}

impl super::PageRequest for SuddenPlan {
    fn use_case(&self) -> &str {
        &self.use_case
    }
    fn index(&self) -> &str {
        &self.index
    }
    fn page_size(&self) -> u32 {
        self.page_size
    }
    fn set_page_size(&mut self, size: u32) {
        self.page_size = size;
    }
    fn query(&self) -> &Value {
        &self.query
    }
    fn set_query(&mut self, query: Value) {
        self.query = query;
    }
    /// The pair sources, then the time buckets (a date histogram: no field).
    fn source_fields(&self) -> Vec<(String, Option<String>)> {
        let mut f: Vec<(String, Option<String>)> = self
            .sources
            .iter()
            .map(|s| (s.name.clone(), Some(s.field.clone())))
            .collect();
        f.push((TIME_SOURCE.to_string(), None));
        f
    }
    /// The grid buckets of the counting range (one more for a range not on the grid).
    fn time_buckets(&self) -> Option<u64> {
        let (start, end) = self.windows.range_ms();
        let g = (self.windows.grid_minutes() * 60_000).max(1) as i64;
        Some(((end - start).max(0) / g) as u64 + 2)
    }
    fn page_body(&self, after: Option<&AfterKey>) -> Value {
        SuddenPlan::page_body(self, after)
    }
    fn page_params(&self) -> Vec<(&'static str, String)> {
        SuddenPlan::page_params(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelSpec;
    use crate::es::CompositePage;
    use crate::evaluate::sudden::SuddenEvaluator;
    use time::macros::datetime;

    /// now 01:02, history 2 h, windows of 60 min moving by 30 min: S = 23:02, windows
    /// [23:02, 00:02], [23:32, 00:32], then the last [00:02, 01:02]; buckets of 30 min.
    const NOW: OffsetDateTime = datetime!(2026-11-28 01:02:00 UTC);
    const SPEC: SuddenAppearanceSpec = SuddenAppearanceSpec {
        window_minutes: 60,
        step_minutes: 30,
        max_num_aggregators: 100_000,
        max_num_targets: 100_000,
    };

    fn plan() -> SuddenPlan {
        let text = "[general]\nes_index_pattern=sudden-test\ntimestamp_field=@timestamp\n\
            history_window_days=0\nhistory_window_hours=2\n[terms_x]\n\
            es_query_filter=user:u1 OR user:u2\naggregator=host\ntarget=proc\n\
            target_count_method=within_aggregator\ntrigger_on=low\n\
            trigger_method=pct_of_avg_value\ntrigger_sensitivity=1\noutlier_type=t\n\
            outlier_reason=r\noutlier_summary=s {proc}\nrun_model=1\ntest_model=0\n";
        let cfg = crate::config::parse(std::path::Path::new("t.conf"), text).unwrap();
        let mut uc = cfg.use_cases[0].clone();
        uc.model = ModelSpec::SuddenAppearance(SPEC);
        search(&uc, &SPEC, NOW, 3)
    }

    /// The pages Elasticsearch 7.10.2 answered to `page_body` (size 3, four pages, the
    /// buckets put together) over these events (host, proc, user):
    /// e1 00:00 h1 a u1; e2 00:10 h1 a u1; e0, e3 00:30 h1 b u1; e4 00:30 h1 b u2;
    /// e5 00:45:00.250 h2 [a, c] u1; e6 01:00 h2 a u1; e7 00:32 h3 x u1;
    /// e8 00:02 h4 y u1; e9 01:02 h4 y u1; e10 01:02 h5 z u1;
    /// e11 00:01:59.999 h5 z u3 (not matched by the query); e12 23:01:59.999 h6 z u1
    /// (before S).
    const PAGE: &str = r#"{"took":1,"timed_out":false,"_shards":{"total":2,"successful":2,"failed":0},"aggregations":{"pairs":{"buckets":[{"key":{"a0":"h1","t0":"a","time":1795822320000},"doc_count":1,"first":{"value":1795824000000}},{"key":{"a0":"h1","t0":"a","time":1795824120000},"doc_count":1,"first":{"value":1795824600000}},{"key":{"a0":"h1","t0":"b","time":1795824120000},"doc_count":3,"first":{"value":1795825800000}},{"key":{"a0":"h2","t0":"a","time":1795825920000},"doc_count":2,"first":{"value":1795826700250}},{"key":{"a0":"h2","t0":"c","time":1795825920000},"doc_count":1,"first":{"value":1795826700250}},{"key":{"a0":"h3","t0":"x","time":1795825920000},"doc_count":1,"first":{"value":1795825920000}},{"key":{"a0":"h4","t0":"y","time":1795824120000},"doc_count":1,"first":{"value":1795824120000}},{"key":{"a0":"h4","t0":"y","time":1795827720000},"doc_count":1,"first":{"value":1795827720000}},{"key":{"a0":"h5","t0":"z","time":1795827720000},"doc_count":1,"first":{"value":1795827720000}}]}}}"#;

    /// Elasticsearch 7.10.2's answer to `first_events_body(findings of PAGE,
    /// Some(["user"]))` with `first_events_params`.
    const FIRST: &str = r#"{"took":82,"timed_out":false,"_shards":{"total":2,"successful":2,"skipped":0,"failed":0},"aggregations":{"window":{"buckets":{"0":{"doc_count":1},"1":{"doc_count":3},"2":{"doc_count":2},"3":{"doc_count":1},"4":{"doc_count":1},"5":{"doc_count":1},"6":{"doc_count":1}}},"first":{"buckets":{"0":{"doc_count":1,"event":{"hits":{"hits":[{"_index":"sudden-test","_id":"e1","_source":{"user":"u1"}}]}}},"1":{"doc_count":3,"event":{"hits":{"hits":[{"_index":"sudden-test","_id":"e3","_source":{"user":"u1"}},{"_index":"sudden-test","_id":"e0","_source":{"user":"u1"}},{"_index":"sudden-test","_id":"e4","_source":{"user":"u2"}}]}}},"2":{"doc_count":1,"event":{"hits":{"hits":[{"_index":"sudden-test","_id":"e5","_source":{"user":"u1"}}]}}},"3":{"doc_count":1,"event":{"hits":{"hits":[{"_index":"sudden-test","_id":"e5","_source":{"user":"u1"}}]}}},"4":{"doc_count":1,"event":{"hits":{"hits":[{"_index":"sudden-test","_id":"e7","_source":{"user":"u1"}}]}}},"5":{"doc_count":1,"event":{"hits":{"hits":[{"_index":"sudden-test","_id":"e8","_source":{"user":"u1"}}]}}},"6":{"doc_count":1,"event":{"hits":{"hits":[{"_index":"sudden-test","_id":"e10","_source":{"user":"u1"}}]}}}}}}}"#;

    fn ms(t: OffsetDateTime) -> i64 {
        (t.unix_timestamp_nanos() / 1_000_000) as i64
    }

    fn findings_of_page(p: &SuddenPlan) -> Vec<SuddenFinding> {
        let page: CompositePage = serde_json::from_str(PAGE).unwrap();
        let mut e = SuddenEvaluator::new(p.windows, &SPEC);
        let mut out = Vec::new();
        for b in &page.pairs().unwrap().buckets {
            let (pair, bucket) = p.bucket(b).unwrap();
            out.extend(e.push(pair, bucket));
        }
        out.extend(e.finish().0);
        out
    }

    #[test]
    fn page_counts_pairs_in_grid_buckets_aligned_on_the_history_start() {
        let p = plan();
        assert_eq!(p.windows.count(), 3);
        assert_eq!(
            p.page_body(None),
            json!({
                "size": 0,
                "track_total_hits": true,
                "query": { "bool": { "filter": [
                    { "range": { "@timestamp": {
                        "gte": "2026-11-27T23:02:00Z", "lte": "2026-11-28T01:02:00Z",
                        "format": "strict_date_optional_time" } } },
                    { "exists": { "field": "host" } },
                    { "exists": { "field": "proc" } },
                    { "query_string": { "query": "user:u1 OR user:u2" } }
                ] } },
                "aggs": { "pairs": {
                    "composite": { "size": 3, "sources": [
                        { "a0": { "terms": { "field": "host" } } },
                        { "t0": { "terms": { "field": "proc" } } },
                        // 23:02 is 2 minutes after a 30-minute edge of the epoch.
                        { "time": { "date_histogram": {
                            "field": "@timestamp", "fixed_interval": "30m", "offset": "+120000ms" } } }
                    ] },
                    "aggs": { "first": { "min": { "field": "@timestamp" } } }
                } }
            })
        );
    }

    #[test]
    fn second_page_sends_after_key_and_does_not_count_hits() {
        let p = plan();
        let after: AfterKey = [
            ("a0".to_string(), json!("h1")),
            ("t0".to_string(), json!("b")),
            (TIME_SOURCE.to_string(), json!(1795824120000i64)),
        ]
        .into_iter()
        .collect();
        let body = p.page_body(Some(&after));
        assert_eq!(body["track_total_hits"], json!(false));
        assert_eq!(
            body["aggs"]["pairs"]["composite"]["after"],
            json!({ "a0": "h1", "t0": "b", "time": 1795824120000i64 })
        );
    }

    #[test]
    fn bucket_reads_pair_time_and_earliest_timestamp() {
        let p = plan();
        let page: CompositePage = serde_json::from_str(PAGE).unwrap();
        let b = &page.pairs().unwrap().buckets[3];
        let (pair, bucket) = p.bucket(b).unwrap();
        assert_eq!(
            pair,
            Pair {
                aggregator: vec!["h2".into()],
                target: vec!["a".into()]
            }
        );
        assert_eq!(
            bucket,
            TimeBucket {
                start_ms: ms(datetime!(2026-11-28 00:32:00 UTC)),
                doc_count: 2,
                first_ms: ms(datetime!(2026-11-28 00:45:00.250 UTC)),
            }
        );
    }

    #[test]
    fn bucket_without_its_min_is_an_error() {
        let p = plan();
        let b: CompositeBucket = serde_json::from_value(
            json!({ "key": { "a0": "h", "t0": "t", "time": 0 }, "doc_count": 1 }),
        )
        .unwrap();
        assert!(p.bucket(&b).unwrap_err().contains("min"));
        let b: CompositeBucket = serde_json::from_value(
            json!({ "key": { "a0": "h", "time": 0 }, "doc_count": 1, "first": { "value": 0.0 } }),
        )
        .unwrap();
        assert!(p.bucket(&b).unwrap_err().contains("t0"));
    }

    #[test]
    fn real_page_gives_the_findings_worked_out_by_hand() {
        let p = plan();
        let w = |i| p.windows.window(i);
        let f = |a: &str, t: &str, i, first| SuddenFinding {
            aggregator: vec![a.into()],
            target: vec![t.into()],
            window: w(i),
            first_ms: ms(first),
        };
        assert_eq!(
            findings_of_page(&p),
            vec![
                // 00:00 > cut 23:32 of [23:02, 00:02].
                f("h1", "a", 0, datetime!(2026-11-28 00:00:00 UTC)),
                // 00:30 > cut 00:02 of [23:32, 00:32]; in [00:02, 01:02] it is early.
                f("h1", "b", 1, datetime!(2026-11-28 00:30:00 UTC)),
                // A list field: one finding per value, the same event.
                f("h2", "a", 2, datetime!(2026-11-28 00:45:00.250 UTC)),
                f("h2", "c", 2, datetime!(2026-11-28 00:45:00.250 UTC)),
                // Exactly at the end of [23:32, 00:32] (sudden there), exactly at the
                // cut of [00:02, 01:02] (not sudden there).
                f("h3", "x", 1, datetime!(2026-11-28 00:32:00 UTC)),
                // Exactly at the end of the first window; the start of the last.
                f("h4", "y", 0, datetime!(2026-11-28 00:02:00 UTC)),
                // Exactly at now. (e11 does not match the query, e12 is before S.)
                f("h5", "z", 2, datetime!(2026-11-28 01:02:00 UTC)),
            ]
        );
    }

    #[test]
    fn first_events_body_counts_each_window_and_lists_the_earliest_millisecond() {
        let p = plan();
        let f = &findings_of_page(&p)[2..3];
        let body = p.first_events_body(f, Some(&["user".to_string()]));
        assert_eq!(
            body,
            json!({
                "size": 0,
                "track_total_hits": false,
                "query": p.query,
                "aggs": {
                    "window": { "filters": { "filters": { "0": { "bool": { "filter": [
                        { "term": { "host": "h2" } },
                        { "term": { "proc": "a" } },
                        { "range": { "@timestamp": {
                            "gte": "2026-11-28T00:02:00Z", "lte": "2026-11-28T01:02:00Z",
                            "format": "strict_date_optional_time" } } }
                    ] } } } } },
                    "first": {
                        "filters": { "filters": { "0": { "bool": { "filter": [
                            { "term": { "host": "h2" } },
                            { "term": { "proc": "a" } },
                            { "range": { "@timestamp": {
                                "gte": "2026-11-28T00:45:00.25Z", "lt": "2026-11-28T00:45:00.251Z",
                                "format": "strict_date_optional_time" } } }
                        ] } } } },
                        "aggs": { "event": { "top_hits": {
                            "size": TIE_HITS, "sort": ["_doc"], "_source": { "includes": ["user"] } } } }
                    }
                }
            })
        );
    }

    #[test]
    fn first_events_source_is_whole_none_or_some_fields() {
        let p = plan();
        let f = &findings_of_page(&p)[..1];
        let hits = |source| {
            p.first_events_body(f, source)["aggs"]["first"]["aggs"]["event"]["top_hits"].clone()
        };
        assert_eq!(hits(None).get("_source"), None);
        assert_eq!(hits(Some(&[])).get("_source"), Some(&json!(false)));
    }

    #[test]
    fn first_events_of_the_real_response_take_the_smallest_id_of_a_tie() {
        let p = plan();
        let findings = findings_of_page(&p);
        let r: FirstEventsResponse = serde_json::from_str(FIRST).unwrap();
        let got = p.first_events(&r, findings.len()).unwrap();
        let ids: Vec<(&str, u64)> = got
            .iter()
            .map(|e| match e {
                FirstEvent::Found {
                    id, num_in_window, ..
                } => (id.as_str(), *num_in_window),
                other => panic!("{other:?}"),
            })
            .collect();
        // h1 b: e0, e3 and e4 at 00:30, returned e3, e0, e4: e0. h2 a: e5 and e6 in the
        // last window.
        assert_eq!(
            ids,
            vec![
                ("e1", 1),
                ("e0", 3),
                ("e5", 2),
                ("e5", 1),
                ("e7", 1),
                ("e8", 1),
                ("e10", 1)
            ]
        );
        match &got[1] {
            FirstEvent::Found { index, source, .. } => {
                assert_eq!(index, "sudden-test");
                assert_eq!(source, &json!({ "user": "u1" }));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn first_events_without_any_match_are_gone_and_a_missing_bucket_is_an_error() {
        let p = plan();
        let empty: FirstEventsResponse =
            serde_json::from_value(json!({ "_shards": { "total": 1, "failed": 0 } })).unwrap();
        assert_eq!(
            p.first_events(&empty, 1).unwrap(),
            vec![FirstEvent::Gone { num_in_window: 0 }]
        );
        let r: FirstEventsResponse = serde_json::from_str(FIRST).unwrap();
        assert!(p.first_events(&r, 8).unwrap_err().contains("bucket 7"));
    }

    #[test]
    fn tie_scan_lists_ids_only_and_events_by_id_take_the_source_asked() {
        let p = plan();
        let f = &findings_of_page(&p)[1];
        let b = p.tie_scan_body(f, 1000);
        assert_eq!(b["_source"], json!(false));
        assert_eq!(b["query"], p.tie_query(f));
        let ids = vec!["e0".to_string()];
        assert_eq!(
            events_by_id_body(&ids, Some(&["user".to_string()]), 10),
            json!({ "size": 10, "query": { "ids": { "values": ["e0"] } }, "sort": ["_doc"],
                    "_source": { "includes": ["user"] } })
        );
        assert_eq!(
            events_by_id_body(&ids, Some(&[]), 10)["_source"],
            json!(false)
        );
        assert_eq!(events_by_id_body(&ids, None, 10).get("_source"), None);
    }

    #[test]
    fn tie_query_is_the_plan_filter_the_pair_and_the_earliest_millisecond() {
        let p = plan();
        let f = &findings_of_page(&p)[1];
        assert_eq!(
            p.tie_query(f),
            json!({ "bool": { "filter": [
                p.query,
                { "term": { "host": "h1" } },
                { "term": { "proc": "b" } },
                { "range": { "@timestamp": {
                    "gte": "2026-11-28T00:30:00Z", "lt": "2026-11-28T00:30:00.001Z",
                    "format": "strict_date_optional_time" } } }
            ] } })
        );
    }
}
