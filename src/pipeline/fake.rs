//! Unit tests of the orchestration on an in-memory cluster: composite paging, page
//! halving, resume after an outage, whitelist rounds, tagging passes, the check after
//! tagging and a stop between requests. The real node proves the requests themselves
//! (tests/it); this fake proves what the pipeline does with the answers.
//!
//! The fake holds events (id + `_source`), counts pairs from them the way a composite
//! aggregation would (sorted keys, `after_key`), honours `must_not ids` exclusions (the
//! only part of a query the pipeline changes between rounds) and ignores the rest of the
//! query (every event is in the window). Faults are scripted per call.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use serde_json::{json, Value};
use time::macros::datetime;

use super::{run_use_case, Context};
use crate::config::{self, UseCase};
use crate::es::{AfterKey, CompositePage, FieldCapsResponse, Hit, UpdateByQueryResponse};
use crate::evaluate::event;
use crate::execute::{Cluster, EsError, Policy, Traffic, UpdateOptions};
use crate::plan::{SearchPlan, TimeWindow};
use crate::report::{Status, UseCaseReport};
use crate::tag::Limits;

/// A scripted answer to one `_update_by_query`.
enum Update {
    /// Tags every selected event, except `version_conflicts` of them left for later.
    Conflicts(u64),
    /// Tags nothing; one transient failure (a node that left).
    Transient,
}

#[derive(Default)]
struct Fake {
    policy: Policy,
    events: Vec<(String, Value)>,
    max_buckets: u32,
    /// Composite page number (1-based) -> how many times it fails as unreachable first.
    outages: RefCell<BTreeMap<u64, u32>>,
    updates: RefCell<VecDeque<Update>>,
    /// Events the script leaves as they are (an `outliers` field of another shape).
    untaggable: BTreeSet<String>,
    tagged: RefCell<BTreeSet<String>>,
    /// Every request, in order: `page <n> after <key>`, `scan`, `update`, `yellow`.
    log: RefCell<Vec<String>>,
    pages_served: RefCell<u64>,
    /// What `index_states` answers (empty: the pattern matches no index by name).
    index_states: BTreeMap<String, String>,
}

fn fake_policy() -> Policy {
    Policy {
        outage: Duration::from_secs(60),
        outage_poll: Duration::from_millis(1),
        ..Policy::default()
    }
}

/// The values a query's `term` / `terms` clauses name for `field`, anywhere in it.
fn named(q: &Value, field: &str, out: &mut BTreeSet<String>) {
    match q {
        Value::Object(m) => {
            if let Some(v) = m.get("term").and_then(|t| t.get(field)) {
                out.insert(v.as_str().unwrap_or_default().to_string());
            }
            for v in m
                .get("terms")
                .and_then(|t| t.get(field))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.insert(v.as_str().unwrap_or_default().to_string());
            }
            m.values().for_each(|v| named(v, field, out));
        }
        Value::Array(a) => a.iter().for_each(|v| named(v, field, out)),
        _ => {}
    }
}

/// Ids in every `must_not: [{ids: {values}}]` of a query.
fn excluded_ids(q: &Value, out: &mut BTreeSet<String>) {
    match q {
        Value::Object(m) => {
            if let Some(vals) = m.get("ids").and_then(|i| i.get("values")) {
                for v in vals.as_array().into_iter().flatten() {
                    out.insert(v.as_str().unwrap_or_default().to_string());
                }
            }
            m.values().for_each(|v| excluded_ids(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| excluded_ids(v, out)),
        _ => {}
    }
}

impl Fake {
    fn new(events: &[(&str, &str, &str)]) -> Fake {
        Fake {
            policy: fake_policy(),
            max_buckets: 65_536,
            events: events
                .iter()
                .map(|(id, p, c)| (id.to_string(), json!({ "parent": p, "child": c })))
                .collect(),
            ..Fake::default()
        }
    }

    fn visible(&self, query: &Value) -> Vec<&(String, Value)> {
        let mut ex = BTreeSet::new();
        // Only exclusions count; a tagging query's `ids` are a restriction, not used here.
        if let Some(m) = query.get("bool").and_then(|b| b.get("must_not")) {
            excluded_ids(m, &mut ex);
        }
        // A query restricted to outlier pairs (candidate fetch, tagging, the check after
        // tagging) names their parents and children.
        let (mut parents, mut children) = (BTreeSet::new(), BTreeSet::new());
        named(query, "parent", &mut parents);
        named(query, "child", &mut children);
        let named_ok = |src: &Value, set: &BTreeSet<String>, f: &str| {
            set.is_empty() || set.contains(src[f].as_str().unwrap_or_default())
        };
        self.events
            .iter()
            .filter(|(id, src)| {
                !ex.contains(id)
                    && named_ok(src, &parents, "parent")
                    && named_ok(src, &children, "child")
            })
            .collect()
    }

    fn log(&self) -> Vec<String> {
        self.log.borrow().clone()
    }
}

impl Cluster for Fake {
    fn policy(&self) -> &Policy {
        &self.policy
    }
    fn traffic(&self) -> Traffic {
        Traffic::default()
    }
    async fn limits(&self) -> Result<(Option<u32>, Option<usize>), EsError> {
        Ok((Some(self.max_buckets), Some(1024)))
    }
    async fn wait_for_yellow(&self, _index: &str, _secs: u64) -> bool {
        self.log.borrow_mut().push("yellow".into());
        true
    }
    async fn max_terms_count(&self, _index: &str) -> Result<Option<usize>, EsError> {
        Ok(None)
    }
    async fn field_caps(
        &self,
        _index: &str,
        fields: &[String],
    ) -> Result<FieldCapsResponse, EsError> {
        let caps: serde_json::Map<String, Value> = fields
            .iter()
            .filter_map(|f| match f.as_str() {
                "parent" | "child" => Some((
                    f.clone(),
                    json!({ "keyword": { "type": "keyword", "aggregatable": true } }),
                )),
                "@timestamp" => Some((
                    f.clone(),
                    json!({ "date": { "type": "date", "aggregatable": true } }),
                )),
                _ => None,
            })
            .collect();
        Ok(serde_json::from_value(json!({ "indices": ["fake"], "fields": caps })).unwrap())
    }
    async fn index_states(&self, _pattern: &str) -> Result<BTreeMap<String, String>, EsError> {
        Ok(self.index_states.clone())
    }
    async fn composite_page(
        &self,
        plan: &SearchPlan,
        after: Option<&AfterKey>,
    ) -> Result<CompositePage, EsError> {
        let n = *self.pages_served.borrow() + 1;
        self.log.borrow_mut().push(format!(
            "page {n} size {} after {:?}",
            plan.page_size,
            after.map(|a| a.values().cloned().collect::<Vec<_>>())
        ));
        if let Some(left) = self.outages.borrow_mut().get_mut(&n).filter(|l| **l > 0) {
            *left -= 1;
            return Err(EsError::Unreachable {
                url: "fake".into(),
                reason: "connection refused".into(),
            });
        }
        if plan.page_size > self.max_buckets {
            return Err(EsError::TooManyBuckets {
                request: "page".into(),
                index: "fake".into(),
                page_size: plan.page_size,
            });
        }
        *self.pages_served.borrow_mut() = n;
        let fields: Vec<String> = plan.sources.iter().map(|s| s.field.clone()).collect();
        let mut counts: BTreeMap<Vec<String>, u64> = BTreeMap::new();
        for (_, src) in self.visible(&plan.query) {
            for key in event::combos(src, &fields) {
                *counts.entry(key).or_default() += 1;
            }
        }
        let start: Option<Vec<String>> = after.map(|a| {
            plan.sources
                .iter()
                .map(|s| a[&s.name].as_str().unwrap().to_string())
                .collect()
        });
        let page: Vec<(Vec<String>, u64)> = counts
            .into_iter()
            .filter(|(k, _)| start.as_ref().is_none_or(|s| k > s))
            .take(plan.page_size as usize)
            .collect();
        let key = |k: &[String]| -> Value {
            plan.sources
                .iter()
                .zip(k)
                .map(|(s, v)| (s.name.clone(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let buckets: Vec<Value> = page
            .iter()
            .map(|(k, c)| json!({ "key": key(k), "doc_count": c }))
            .collect();
        let after_key = page.last().map(|(k, _)| key(k));
        Ok(serde_json::from_value(json!({
            "took": 1,
            "_shards": { "total": 1, "successful": 1, "failed": 0 },
            "hits": { "total": { "value": self.events.len(), "relation": "eq" } },
            "aggregations": { "pairs": { "after_key": after_key, "buckets": buckets } }
        }))
        .unwrap())
    }
    async fn search(&self, _index: &str, _body: &Value, _what: &str) -> Result<Value, EsError> {
        unimplemented!("no test of the fake sends a plain search")
    }
    async fn scan(
        &self,
        _index: &str,
        query: &Value,
        _source: Option<&[String]>,
        what: &str,
        each: &mut dyn FnMut(Hit),
    ) -> Result<u64, EsError> {
        self.log.borrow_mut().push(format!("scan {what}"));
        let tagged = self.tagged.borrow();
        let hits: Vec<Hit> = self
            .visible(query)
            .into_iter()
            .map(|(id, src)| {
                let mut src = src.clone();
                if tagged.contains(id) {
                    src["outliers"] = json!({ "model_name": ["rare"], "summary": ["s"] });
                }
                serde_json::from_value(json!({ "_index": "fake", "_id": id, "_source": src }))
                    .unwrap()
            })
            .collect();
        let n = hits.len() as u64;
        hits.into_iter().for_each(each);
        Ok(n)
    }
    async fn scan_body(
        &self,
        index: &str,
        body: &Value,
        what: &str,
        each: &mut dyn FnMut(Hit),
    ) -> Result<u64, EsError> {
        self.scan(index, &body["query"], None, what, each).await
    }
    async fn update_by_query(
        &self,
        _index: &str,
        body: &Value,
        _opts: &UpdateOptions,
        _progress: &mut dyn FnMut(&crate::es::TaskStatus),
    ) -> Result<UpdateByQueryResponse, EsError> {
        self.log.borrow_mut().push("update".into());
        let selected: Vec<String> = self
            .visible(&body["query"])
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        // Only the events of outlier pairs are selected by the real query; here: those
        // whose child the entries name.
        let entries = &body["script"]["params"]["entries"];
        let selected: Vec<String> = selected
            .into_iter()
            .filter(|id| {
                let src = &self.events.iter().find(|(i, _)| i == id).unwrap().1;
                entries[src["parent"].as_str().unwrap()]
                    .get(src["child"].as_str().unwrap())
                    .is_some()
            })
            .collect();
        let script = self
            .updates
            .borrow_mut()
            .pop_front()
            .unwrap_or(Update::Conflicts(0));
        let mut r = UpdateByQueryResponse {
            total: selected.len() as u64,
            ..Default::default()
        };
        match script {
            Update::Transient => {
                r.failures
                    .push(json!({ "index": "fake", "id": selected[0], "status": 503,
                    "cause": { "type": "node_not_connected_exception", "reason": "node left" } }));
            }
            Update::Conflicts(c) => {
                let mut tagged = self.tagged.borrow_mut();
                for id in selected.iter().skip(c as usize) {
                    if self.untaggable.contains(id) || tagged.contains(id) {
                        r.noops += 1;
                    } else {
                        tagged.insert(id.clone());
                        r.updated += 1;
                    }
                }
                r.version_conflicts = c;
            }
        }
        Ok(r)
    }
}

fn use_case(extra: &str) -> UseCase {
    let text = format!(
        "[general]\nes_index_pattern=fake\nhistory_window_days=1\n\n[terms_rare]\naggregator=parent\ntarget=child\ntarget_count_method=within_aggregator\ntrigger_on=low\ntrigger_method=pct_of_avg_value\ntrigger_sensitivity=10\noutlier_type=t\noutlier_reason=r\noutlier_summary=rare {{child}}\nrun_model=1\ntest_model=0\n{extra}"
    );
    let cfg =
        config::parse(std::path::Path::new("fake.conf"), &text).unwrap_or_else(|e| panic!("{e}"));
    cfg.use_cases.into_iter().next().unwrap()
}

/// Parent `p` with 4 usual children of 30 events each and one rare child `rare` (1 event),
/// plus `n_other` other parents with one child each (extra pairs for paging).
fn events(n_other: usize) -> Vec<(String, String, String)> {
    let mut ev = Vec::new();
    for c in 0..4 {
        for i in 0..30 {
            ev.push((format!("e{c}-{i}"), "p".to_string(), format!("usual{c}")));
        }
    }
    ev.push(("rare-1".into(), "p".into(), "rare".into()));
    for o in 0..n_other {
        ev.push((format!("o{o}"), format!("q{o:03}"), "x".into()));
    }
    ev
}

fn fake(n_other: usize) -> Fake {
    let ev = events(n_other);
    let refs: Vec<(&str, &str, &str)> = ev
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    Fake::new(&refs)
}

fn report(uc: &UseCase) -> UseCaseReport {
    super::empty_report(uc, window())
}

fn window() -> TimeWindow {
    TimeWindow::ending_at(datetime!(2026-11-28 00:00 UTC), 24)
}

async fn run(
    f: &Fake,
    uc: &UseCase,
    page_size: u32,
    dry_run: bool,
) -> (Result<(), EsError>, UseCaseReport) {
    let cx = Context {
        cluster: f,
        window: window(),
        baseline_hours: None,
        page_size,
        limits: Limits::default(),
        update: UpdateOptions::default(),
        dry_run,
    };
    let mut rep = report(uc);
    let r = run_use_case(&cx, uc, &mut rep).await;
    (r, rep)
}

fn outliers(rep: &UseCaseReport) -> Vec<(String, Option<String>)> {
    rep.outliers
        .iter()
        .map(|o| (o.aggregator.clone(), o.target.clone()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn second_page_sends_after_key_and_every_pair_is_counted_once() {
    let f = fake(3);
    let (r, rep) = run(&f, &use_case(""), 3, true).await;
    r.unwrap();
    // 5 pairs of p + 3 others = 8 pairs in pages of 3: 3 pages.
    assert_eq!(rep.pages, 3);
    assert_eq!(rep.buckets_read, 8);
    let log = f.log();
    assert!(log[0].ends_with("after None"), "{log:?}");
    assert!(
        log[1].contains("after Some([String(\"p\"), String(\"usual1\")])"),
        "{log:?}"
    );
    assert_eq!(outliers(&rep), vec![("p".into(), Some("rare".into()))]);
}

#[tokio::test(start_paused = true)]
async fn page_over_max_buckets_is_halved_until_accepted() {
    let mut f = fake(0);
    f.max_buckets = 2;
    let (r, rep) = run(&f, &use_case(""), 8, true).await;
    r.unwrap();
    let log = f.log();
    assert!(log[0].starts_with("page 1 size 8"), "{log:?}");
    assert!(log[1].starts_with("page 1 size 4"), "{log:?}");
    assert!(log[2].starts_with("page 1 size 2"), "{log:?}");
    assert_eq!(rep.buckets_read, 5);
    assert_eq!(outliers(&rep), vec![("p".into(), Some("rare".into()))]);
}

#[tokio::test(start_paused = true)]
async fn outage_on_page_two_resumes_from_the_last_after_key() {
    let f = fake(3);
    f.outages.borrow_mut().insert(2, 3);
    let (r, rep) = run(&f, &use_case(""), 3, true).await;
    r.unwrap();
    let log = f.log();
    // Page 1 asked once; page 2 asked four times, always with page 1's after_key.
    assert_eq!(
        log.iter().filter(|l| l.starts_with("page 1 ")).count(),
        1,
        "{log:?}"
    );
    let page2: Vec<&String> = log.iter().filter(|l| l.starts_with("page 2 ")).collect();
    assert_eq!(page2.len(), 4, "{log:?}");
    assert!(page2.iter().all(|l| l.contains("usual1")), "{log:?}");
    assert_eq!(rep.pages, 3);
    assert_eq!(rep.buckets_read, 8);
}

#[tokio::test(start_paused = true)]
async fn outage_longer_than_the_policy_fails_the_use_case() {
    let mut f = fake(3);
    f.policy.outage = Duration::ZERO;
    f.outages.borrow_mut().insert(2, 1000);
    let (r, _) = run(&f, &use_case(""), 3, true).await;
    assert!(matches!(r, Err(EsError::Unreachable { .. })), "{r:?}");
}

#[tokio::test(start_paused = true)]
async fn whitelisted_rare_event_is_recounted_and_the_frontier_moves() {
    // Two rare children; whitelisting one (by its id's child value) leaves the other,
    // and the recount excludes the whitelisted event by id.
    let mut f = fake(0);
    f.events
        .push(("rare-2".into(), json!({ "parent": "p", "child": "odd" })));
    let uc = use_case("whitelist_literals_rare=odd\n");
    let (r, rep) = run(&f, &uc, 100, false).await;
    r.unwrap();
    assert_eq!(rep.whitelisted_events, 1);
    assert_eq!(outliers(&rep), vec![("p".into(), Some("rare".into()))]);
    let log = f.log();
    let pages = log.iter().filter(|l| l.starts_with("page")).count();
    assert_eq!(
        pages, 2,
        "one count, one recount without the whitelisted event: {log:?}"
    );
    assert!(f.tagged.borrow().contains("rare-1"));
    assert!(!f.tagged.borrow().contains("rare-2"));
}

#[tokio::test(start_paused = true)]
async fn version_conflicts_get_another_tagging_pass() {
    let f = fake(0);
    f.updates.borrow_mut().push_back(Update::Conflicts(1));
    let (r, rep) = run(&f, &use_case(""), 100, false).await;
    r.unwrap();
    let t = rep.tagging.unwrap();
    assert_eq!(t.passes, 2);
    assert_eq!(t.updated, 1);
    assert_eq!(t.checked, 1);
    assert_eq!(t.verified, 1);
    assert!(t.failures.is_empty(), "{:?}", t.failures);
}

#[tokio::test(start_paused = true)]
async fn transient_failure_waits_for_the_cluster_and_tags_again() {
    let f = fake(0);
    f.updates.borrow_mut().push_back(Update::Transient);
    let mut policy = fake_policy();
    policy.tag_passes = 3;
    let f = Fake { policy, ..f };
    let (r, rep) = run(&f, &use_case(""), 100, false).await;
    r.unwrap();
    let t = rep.tagging.unwrap();
    assert_eq!((t.passes, t.retried_failures, t.updated), (2, 1, 1));
    let log = f.log();
    let yellow = log
        .iter()
        .position(|l| l == "yellow")
        .expect("waited for the cluster");
    assert_eq!(log[yellow + 1], "update", "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn check_after_tagging_names_an_event_left_untagged() {
    let mut f = fake(0);
    f.untaggable.insert("rare-1".into());
    let (r, rep) = run(&f, &use_case(""), 100, false).await;
    r.unwrap();
    let t = rep.tagging.unwrap();
    assert_eq!((t.checked, t.verified), (1, 0));
    assert!(
        t.failures[0].contains("fake (document rare-1)"),
        "{:?}",
        t.failures
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_before_paging_sends_nothing() {
    let f = fake(0);
    f.policy.stop.cancel();
    let (r, rep) = run(&f, &use_case(""), 100, false).await;
    assert!(matches!(r, Err(EsError::Interrupted { .. })), "{r:?}");
    assert_eq!(rep.status, Status::Ok);
    assert!(f.log().is_empty(), "{:?}", f.log());
}

#[tokio::test]
async fn a_closed_index_of_the_pattern_is_reported_as_skipped() {
    let mut f = fake(3);
    f.index_states = [("fake", "open"), ("fake-old", "close")]
        .map(|(i, s)| (i.to_string(), s.to_string()))
        .into();
    let (r, rep) = run(&f, &use_case(""), 100, true).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(
        rep.skipped_indices,
        vec![crate::report::SkippedIndex {
            index: "fake-old".into(),
            reason: "closed".into()
        }]
    );
}

#[tokio::test]
async fn an_open_index_left_out_of_the_users_answer_is_named_and_nothing_is_counted() {
    // Elasticsearch leaves indices the user cannot read out of a wildcard's answer.
    let mut f = fake(3);
    f.index_states = [("fake", "open"), ("fake-secret", "open")]
        .map(|(i, s)| (i.to_string(), s.to_string()))
        .into();
    let (r, _) = run(&f, &use_case(""), 100, false).await;
    match r {
        Err(EsError::Forbidden { indices, .. }) => assert_eq!(indices, vec!["fake-secret"]),
        other => panic!("{other:?}"),
    }
    assert!(f.log().is_empty(), "{:?}", f.log());
}

#[tokio::test]
async fn a_timestamp_field_not_in_the_mapping_fails_before_counting() {
    let f = fake(3);
    let (r, _) = run(&f, &use_case("timestamp_field=@timestmp"), 100, false).await;
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("index fake: timestamp_field @timestmp is not in the mapping"),
        "{e}"
    );
    assert!(f.log().is_empty(), "{:?}", f.log());
}
