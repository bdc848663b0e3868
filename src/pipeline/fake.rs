//! Unit tests of the orchestration on an in-memory cluster: composite paging, page
//! halving, resume after an outage, whitelist rounds, tagging passes, the check after
//! tagging and a stop between requests. The real node proves the requests themselves
//! (tests/it); this fake proves what the pipeline does with the answers.
//!
//! The fake holds events (id + `_source`) and answers the request bodies as
//! Elasticsearch would, for the queries and aggregations the pipeline sends: `bool`,
//! `term(s)`, `range`, `exists`, `ids` queries (`query_string` matches everything);
//! composite pages (`terms` and `date_histogram` sources, a `min`, sorted keys,
//! `after_key`); keyed `filters` with `top_hits`. Events without the timestamp field are
//! in every time range. Faults are scripted per call.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use serde_json::{json, Value};
use time::macros::datetime;

use super::{detect, tag, Context};
use crate::config::{self, UseCase};
use crate::es::{AfterKey, CompositePage, FieldCapsResponse, Hit, UpdateByQueryResponse};
use crate::evaluate::event;
use crate::execute::{Cluster, EsError, Policy, Traffic, UpdateOptions};
use crate::plan::{PageRequest, TimeWindow};
use crate::report::{Status, UseCaseReport};
use crate::tag::Limits;

/// A scripted answer to one `_update_by_query`.
enum Update {
    /// Tags every selected event, except `version_conflicts` of them left for later.
    Conflicts(u64),
    /// Tags nothing; one transient failure (a node that left).
    Transient,
    /// Tags every selected event but reports this many of them as version conflicts (a
    /// bulk retried after its primary moved meets its own first write).
    WrittenConflicts(u64),
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
    /// Tagged events: id -> the model name and the summary of the entry written.
    tagged: RefCell<BTreeMap<String, (String, String)>>,
    /// Every request, in order: `page <n> after <key>`, `search`, `scan`, `update`, `yellow`.
    log: RefCell<Vec<String>>,
    pages_served: RefCell<u64>,
    /// `ignore_above` of every keyword field in the mapping: a longer string is not
    /// indexed (`exists` is false for it).
    ignore_above: Option<u64>,
    /// Per composite page served: whether a source was a script (metrics' `_source` path).
    script_sources: RefCell<Vec<bool>>,
    /// What `index_states` answers (empty: the pattern matches no index by name).
    index_states: BTreeMap<String, String>,
    /// The type `field_caps` gives the events' fields; `None`: keyword.
    kind: Option<&'static str>,
}

fn fake_policy() -> Policy {
    Policy {
        outage: Duration::from_secs(60),
        outage_poll: Duration::from_millis(1),
        ..Policy::default()
    }
}

/// A composite key part: strings and numbers (a `date_histogram` key) order as
/// Elasticsearch orders them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum KeyPart {
    Num(i64),
    Str(String),
}

impl KeyPart {
    fn of(v: &Value) -> KeyPart {
        match v.as_i64() {
            Some(n) => KeyPart::Num(n),
            None => KeyPart::Str(v.as_str().unwrap_or_default().to_string()),
        }
    }
    fn json(&self) -> Value {
        match self {
            KeyPart::Num(n) => json!(n),
            KeyPart::Str(s) => json!(s),
        }
    }
}

/// What `plan/metrics_target.painless` returns for a `_source` value.
fn encode_target(v: Option<&Value>) -> Option<String> {
    let items = match v? {
        Value::Null | Value::Object(_) => return None,
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let mut out = String::new();
    for x in items {
        let (tag, text) = match x {
            Value::Null => ('n', String::new()),
            Value::String(s) => ('s', s),
            Value::Bool(b) => ('b', b.to_string()),
            Value::Number(n) if n.is_f64() => ('d', format!("{:?}", n.as_f64().unwrap())),
            Value::Number(n) => ('i', n.to_string()),
            _ => return None,
        };
        out.push_str(&format!("{tag}{}:{text}", text.encode_utf16().count()));
    }
    Some(out)
}
/// A composite bucket being counted: doc_count and the min of the timestamp.
type Counted = (u64, Option<i64>);

/// Epoch milliseconds of an RFC 3339 timestamp.
fn epoch_ms(s: &str) -> i64 {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("fake: timestamp {s}: {e}"));
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Minutes of a `fixed_interval` like `30m`, and milliseconds of an `offset` like `+120000ms`.
fn interval_ms(v: &Value) -> i64 {
    let s = v.as_str().unwrap();
    s.strip_suffix('m').unwrap().parse::<i64>().unwrap() * 60_000
}
fn offset_ms(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or("+0ms");
    s.trim_start_matches('+')
        .strip_suffix("ms")
        .unwrap()
        .parse()
        .unwrap()
}

/// Whether the event (`id`, `src`) matches query `q`: `bool` (filter, must, should,
/// must_not), `term`, `terms`, `range`, `exists`, `ids`; `query_string` and `match_all`
/// match everything. A `range` on a field the event lacks matches (the terms tests'
/// events have no timestamp: every event is in the window). Any other query panics, so
/// a test never passes on a query the fake does not understand.
fn matches(q: &Value, id: &str, src: &Value, ia: Option<u64>) -> bool {
    let list = |v: Option<&Value>| -> Vec<Value> {
        match v {
            None => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(other) => vec![other.clone()],
        }
    };
    let (kind, body) = q
        .as_object()
        .and_then(|m| m.iter().next())
        .unwrap_or_else(|| panic!("fake: not a query: {q}"));
    let field_values = |f: &str| event::values(src, f);
    match kind.as_str() {
        "bool" => {
            let all = |k: &str| list(body.get(k)).iter().all(|c| matches(c, id, src, ia));
            let should = list(body.get("should"));
            all("filter")
                && all("must")
                && !list(body.get("must_not"))
                    .iter()
                    .any(|c| matches(c, id, src, ia))
                && (should.is_empty() || should.iter().any(|c| matches(c, id, src, ia)))
        }
        "term" => {
            let (f, v) = body.as_object().unwrap().iter().next().unwrap();
            field_values(f).contains(&crate::plan::render(v))
        }
        "terms" => {
            let (f, vs) = body.as_object().unwrap().iter().next().unwrap();
            let have = field_values(f);
            vs.as_array()
                .unwrap()
                .iter()
                .any(|v| have.contains(&crate::plan::render(v)))
        }
        // A partition's range on the lead field (no `format`): strings by their bytes.
        "range"
            if body
                .as_object()
                .unwrap()
                .values()
                .all(|r| r.get("format").is_none()) =>
        {
            let (f, r) = body.as_object().unwrap().iter().next().unwrap();
            let p = crate::plan::partition::Partition {
                gt: r.get("gt").cloned(),
                lte: r.get("lte").cloned(),
            };
            field_values(f).iter().any(|v| p.holds(&json!(v)))
        }
        "range" => {
            let (f, r) = body.as_object().unwrap().iter().next().unwrap();
            let have = field_values(f);
            if have.is_empty() {
                return true;
            }
            have.iter().any(|t| {
                let t = epoch_ms(t);
                let bound = |k: &str| r.get(k).and_then(Value::as_str).map(epoch_ms);
                bound("gte").is_none_or(|b| t >= b)
                    && bound("gt").is_none_or(|b| t > b)
                    && bound("lte").is_none_or(|b| t <= b)
                    && bound("lt").is_none_or(|b| t < b)
            })
        }
        "exists" => field_values(body["field"].as_str().unwrap())
            .iter()
            .any(|v| ia.is_none_or(|n| v.chars().count() as u64 <= n)),
        // Metrics' check `doc[params.field].size() > 1`: several distinct indexed values.
        "script" => {
            let f = body["script"]["params"]["field"].as_str().unwrap();
            let mut v = field_values(f);
            v.retain(|x| ia.is_none_or(|n| x.chars().count() as u64 <= n));
            v.sort();
            v.dedup();
            v.len() > 1
        }
        "ids" => body["values"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str() == Some(id)),
        "query_string" | "match_all" => true,
        other => panic!("fake: query {other} not understood"),
    }
}

/// The dotted paths of every leaf value of an event (`process.parent.name`).
fn leaf_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_paths(x, &p, out);
            }
        }
        _ if !prefix.is_empty() => {
            out.insert(prefix.to_string());
        }
        _ => {}
    }
}

impl Fake {
    fn new(events: &[(&str, &str, &str)]) -> Fake {
        Fake::of(
            events
                .iter()
                .map(|(id, p, c)| (id.to_string(), json!({ "parent": p, "child": c })))
                .collect(),
        )
    }

    /// A fake holding these events (id, `_source`).
    fn of(events: Vec<(String, Value)>) -> Fake {
        Fake {
            policy: fake_policy(),
            max_buckets: 65_536,
            events,
            ..Fake::default()
        }
    }

    /// The same fake whose fields are mapped as `ip`, whose composite order is not a
    /// range's order: counts are never split, so a test sees plain paging.
    fn unsplit(mut self) -> Fake {
        self.kind = Some("ip");
        self
    }

    fn visible(&self, query: &Value) -> Vec<&(String, Value)> {
        self.events
            .iter()
            .filter(|(id, src)| matches(query, id, src, self.ignore_above))
            .collect()
    }

    /// A hit as Elasticsearch returns it, with `outliers` when tagged; `_source` off when
    /// `source` is `false`.
    fn hit(&self, id: &str, src: &Value, source: &Value) -> Value {
        let mut src = src.clone();
        if let Some((model, summary)) = self.tagged.borrow().get(id) {
            src["outliers"] = json!({ "model_name": [model], "summary": [summary] });
        }
        let mut h = json!({ "_index": "fake", "_id": id });
        if source != &json!(false) {
            h["_source"] = src;
        }
        h
    }

    fn log(&self) -> Vec<String> {
        self.log.borrow().clone()
    }
}

/// The composite keys of one event: every combination of its values of the `sources`
/// (terms on a field, terms by a script reading `_source`, or a date histogram bucket).
fn event_keys(sources: &[(String, Value)], src: &Value) -> Vec<Vec<KeyPart>> {
    let mut keys: Vec<Vec<KeyPart>> = vec![Vec::new()];
    for (_, def) in sources {
        let vals: Vec<KeyPart> = if let Some(sc) = def.get("terms").and_then(|t| t.get("script")) {
            // Metrics' target read from `_source` (nothing when it has no value).
            let path = sc["params"]["path"].as_str().unwrap();
            encode_target(event::value(src, path))
                .into_iter()
                .map(KeyPart::Str)
                .collect()
        } else if let Some(t) = def.get("terms") {
            event::values(src, t["field"].as_str().unwrap())
                .into_iter()
                .map(KeyPart::Str)
                .collect()
        } else {
            let h = &def["date_histogram"];
            let (g, off) = (interval_ms(&h["fixed_interval"]), offset_ms(&h["offset"]));
            event::values(src, h["field"].as_str().unwrap())
                .iter()
                .map(|t| KeyPart::Num((epoch_ms(t) - off).div_euclid(g) * g + off))
                .collect()
        };
        keys = keys
            .iter()
            .flat_map(|k| {
                vals.iter().map(move |v| {
                    let mut k = k.clone();
                    k.push(v.clone());
                    k
                })
            })
            .collect();
    }
    keys
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
        // `*` asks for every field the events hold.
        let all = fields.iter().any(|f| f == "*");
        let mut names: BTreeSet<String> = fields.iter().filter(|f| *f != "*").cloned().collect();
        if all {
            for (_, s) in &self.events {
                leaf_paths(s, "", &mut names);
            }
        }
        let known = |f: &str| {
            self.events
                .iter()
                .any(|(_, s)| !event::values(s, f).is_empty())
        };
        // `@timestamp` is the date field of the mapping, whatever the events hold (every
        // event is in the window).
        let caps: serde_json::Map<String, Value> = names
            .into_iter()
            .filter(|f| f == "@timestamp" || known(f))
            .map(|f| {
                let cap = if f == "@timestamp" {
                    json!({ "date": { "type": "date", "aggregatable": true } })
                } else {
                    let kind = self.kind.unwrap_or("keyword");
                    json!({ kind: { "type": kind, "aggregatable": true } })
                };
                (f, cap)
            })
            .collect();
        Ok(serde_json::from_value(json!({ "indices": ["fake"], "fields": caps })).unwrap())
    }
    async fn field_mapping(&self, _index: &str, field: &str) -> Result<Value, EsError> {
        let mut leaf = json!({ "type": "keyword" });
        if let Some(n) = self.ignore_above {
            leaf["ignore_above"] = json!(n);
        }
        Ok(json!({ "fake": { "mappings": { field: { "full_name": field,
            "mapping": { field: leaf } } } } }))
    }
    async fn index_states(&self, _pattern: &str) -> Result<BTreeMap<String, String>, EsError> {
        Ok(self.index_states.clone())
    }
    /// Reads the page body as Elasticsearch would: the query, the composite sources
    /// (`terms`, `date_histogram` with `fixed_interval` in minutes and `offset`), the
    /// `after` key, and a `min` sub-aggregation named `first`.
    async fn composite_page(
        &self,
        plan: &dyn PageRequest,
        after: Option<&AfterKey>,
    ) -> Result<CompositePage, EsError> {
        let n = *self.pages_served.borrow() + 1;
        self.log.borrow_mut().push(format!(
            "page {n} size {} after {:?}",
            plan.page_size(),
            after.map(|a| a.values().cloned().collect::<Vec<_>>())
        ));
        if let Some(left) = self.outages.borrow_mut().get_mut(&n).filter(|l| **l > 0) {
            *left -= 1;
            return Err(EsError::Unreachable {
                url: "fake".into(),
                reason: "connection refused".into(),
            });
        }
        if plan.page_size() > self.max_buckets {
            return Err(EsError::TooManyBuckets {
                request: "page".into(),
                index: "fake".into(),
                page_size: plan.page_size(),
            });
        }
        *self.pages_served.borrow_mut() = n;
        let body = plan.page_body(after);
        self.script_sources.borrow_mut().push(
            body["aggs"][crate::es::PAIRS_AGG]["composite"]["sources"]
                .as_array()
                .is_some_and(|a| {
                    a.iter()
                        .any(|src| src.to_string().contains(r#""terms":{"script""#))
                }),
        );
        let pairs = &body["aggs"][crate::es::PAIRS_AGG];
        let composite = &pairs["composite"];
        let sources: Vec<(String, Value)> = composite["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let (name, def) = s.as_object().unwrap().iter().next().unwrap();
                (name.clone(), def.clone())
            })
            .collect();
        let min_field = pairs["aggs"]["first"]["min"]["field"].as_str();
        // A lead request's `cardinality` sub-aggregations c0, c1, ...: distinct values.
        let card_fields: Vec<String> = (0..)
            .map_while(|i| pairs["aggs"][format!("c{i}")]["cardinality"]["field"].as_str())
            .map(String::from)
            .collect();
        let mut distinct: BTreeMap<Vec<KeyPart>, Vec<BTreeSet<String>>> = BTreeMap::new();
        let mut counts: BTreeMap<Vec<KeyPart>, Counted> = BTreeMap::new();
        let visible = self.visible(&body["query"]);
        for (_, src) in &visible {
            let keys = event_keys(&sources, src);
            let t = min_field.and_then(|f| event::values(src, f).first().map(|t| epoch_ms(t)));
            for k in keys {
                let sets = distinct
                    .entry(k.clone())
                    .or_insert_with(|| vec![BTreeSet::new(); card_fields.len()]);
                for (set, f) in sets.iter_mut().zip(&card_fields) {
                    set.extend(event::values(src, f));
                }
                let e = counts.entry(k).or_insert((0, None));
                e.0 += 1;
                e.1 = match (e.1, t) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        let start: Option<Vec<KeyPart>> = composite
            .get("after")
            .map(|a| sources.iter().map(|(n, _)| KeyPart::of(&a[n])).collect());
        let size = composite["size"].as_u64().unwrap() as usize;
        let page: Vec<(Vec<KeyPart>, Counted)> = counts
            .into_iter()
            .filter(|(k, _)| start.as_ref().is_none_or(|s| k > s))
            .take(size)
            .collect();
        let key = |k: &[KeyPart]| -> Value {
            sources
                .iter()
                .zip(k)
                .map(|((name, _), v)| (name.clone(), v.json()))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let buckets: Vec<Value> = page
            .iter()
            .map(|(k, (c, first))| {
                let mut b = json!({ "key": key(k), "doc_count": c });
                if min_field.is_some() {
                    b["first"] = json!({ "value": first.map(|m| m as f64) });
                }
                for (i, set) in distinct[k].iter().enumerate() {
                    b[format!("c{i}")] = json!({ "value": set.len() });
                }
                b
            })
            .collect();
        let after_key = page.last().map(|(k, _)| key(k));
        Ok(serde_json::from_value(json!({
            "took": 1,
            "_shards": { "total": 1, "successful": 1, "failed": 0 },
            "hits": { "total": { "value": visible.len(), "relation": "eq" } },
            "aggregations": { "pairs": { "after_key": after_key, "buckets": buckets } }
        }))
        .unwrap())
    }
    /// Keyed `filters` aggregations, each bucket optionally with a `top_hits` named
    /// `event` (hits in `_doc` order: the order of the events).
    async fn search_with(
        &self,
        _index: &str,
        body: &Value,
        _params: &[(&'static str, String)],
        what: &str,
    ) -> Result<Value, EsError> {
        self.log.borrow_mut().push(format!(
            "search {what} _source {}",
            body["aggs"]["first"]["aggs"]["event"]["top_hits"]
                .get("_source")
                .unwrap_or(&json!("whole"))
        ));
        let visible = self.visible(&body["query"]);
        if body.get("aggs").is_none() {
            // A count (metrics' check that doc values serve, the keyword sub-field check).
            return Ok(
                json!({ "took": 1, "hits": { "total": { "value": visible.len(), "relation": "eq" } } }),
            );
        }
        let mut aggs = serde_json::Map::new();
        for (name, agg) in body["aggs"].as_object().unwrap() {
            let filters = agg["filters"]["filters"].as_object().unwrap();
            let top = agg["aggs"]["event"]["top_hits"].clone();
            let mut buckets = serde_json::Map::new();
            for (k, q) in filters {
                let inside: Vec<&&(String, Value)> = visible
                    .iter()
                    .filter(|(id, src)| matches(q, id, src, self.ignore_above))
                    .collect();
                let mut b = json!({ "doc_count": inside.len() });
                if !top.is_null() {
                    let size = top["size"].as_u64().unwrap_or(3) as usize;
                    let source = top.get("_source").cloned().unwrap_or(Value::Null);
                    let hits: Vec<Value> = inside
                        .iter()
                        .take(size)
                        .map(|(id, src)| self.hit(id, src, &source))
                        .collect();
                    b["event"] = json!({ "hits": { "hits": hits } });
                }
                buckets.insert(k.clone(), b);
            }
            aggs.insert(name.clone(), json!({ "buckets": buckets }));
        }
        Ok(json!({
            "took": 1,
            "_shards": { "total": 1, "successful": 1, "failed": 0 },
            "aggregations": aggs
        }))
    }
    async fn scan(
        &self,
        _index: &str,
        query: &Value,
        _source: Option<&[String]>,
        what: &str,
        each: &mut dyn FnMut(Hit),
    ) -> Result<u64, EsError> {
        self.scan_body(_index, &json!({ "query": query }), what, each)
            .await
    }
    async fn scan_body(
        &self,
        _index: &str,
        body: &Value,
        what: &str,
        each: &mut dyn FnMut(Hit),
    ) -> Result<u64, EsError> {
        self.log.borrow_mut().push(format!("scan {what}"));
        let source = body.get("_source").cloned().unwrap_or(Value::Null);
        let hits: Vec<Hit> = self
            .visible(&body["query"])
            .into_iter()
            .map(|(id, src)| serde_json::from_value(self.hit(id, src, &source)).unwrap())
            .collect();
        let n = hits.len() as u64;
        hits.into_iter().for_each(each);
        Ok(n)
    }
    async fn update_by_query(
        &self,
        _index: &str,
        body: &Value,
        _opts: &UpdateOptions,
        _progress: &mut dyn FnMut(&crate::es::TaskStatus),
    ) -> Result<UpdateByQueryResponse, EsError> {
        self.log.borrow_mut().push("update".into());
        let params = &body["script"]["params"];
        // What the script would write on each selected event: its entry's model name,
        // `None` for a noop. Terms entries go by (parent, child); `ids` by document id.
        let entry_of = |id: &str, src: &Value| -> Option<(String, String)> {
            let e = match params["mode"].as_str() {
                // An id may carry one entry or a list of them (one per pair of the event).
                Some("ids") => match params["by_id"].get(id)? {
                    Value::Array(list) => list.first()?,
                    one => one,
                },
                _ => params["entries"]
                    .get(src["parent"].as_str()?)?
                    .get(src["child"].as_str()?)?,
            };
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            Some((text("model_name"), text("summary")))
        };
        let selected: Vec<(String, (String, String))> = self
            .visible(&body["query"])
            .into_iter()
            .filter_map(|(id, src)| entry_of(id, src).map(|m| (id.clone(), m)))
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
                    .push(json!({ "index": "fake", "id": selected[0].0, "status": 503,
                    "cause": { "type": "node_not_connected_exception", "reason": "node left" } }));
            }
            Update::Conflicts(c) => {
                let mut tagged = self.tagged.borrow_mut();
                for (id, (model, summary)) in selected.iter().skip(c as usize) {
                    if self.untaggable.contains(id) || tagged.contains_key(id) {
                        r.noops += 1;
                    } else {
                        tagged.insert(id.clone(), (model.clone(), summary.clone()));
                        r.updated += 1;
                    }
                }
                r.version_conflicts = c;
            }
            Update::WrittenConflicts(c) => {
                let mut tagged = self.tagged.borrow_mut();
                for (k, (id, (model, summary))) in selected.iter().enumerate() {
                    if self.untaggable.contains(id) || tagged.contains_key(id) {
                        r.noops += 1;
                    } else {
                        tagged.insert(id.clone(), (model.clone(), summary.clone()));
                        if k >= c as usize {
                            r.updated += 1;
                        }
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

/// A context over `f` for one use case in the window of [`window`], nothing shared and no
/// hints.
fn context(f: &Fake, page_size: u32, dry_run: bool) -> Context<'_, Fake> {
    Context {
        cluster: f,
        window: window(),
        baseline_hours: None,
        page_size,
        limits: Limits::default(),
        update: UpdateOptions::default(),
        dry_run,
        counts: None,
        hints: None,
    }
}

async fn run(
    f: &Fake,
    uc: &UseCase,
    page_size: u32,
    dry_run: bool,
) -> (Result<(), EsError>, UseCaseReport) {
    let cx = context(f, page_size, dry_run);
    let mut rep = report(uc);
    let r = async {
        let d = detect(&cx, uc, &mut rep).await?;
        tag(&cx, uc, &d, &mut rep).await
    }
    .await;
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
    let f = fake(3).unsplit();
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
    let f = fake(3).unsplit();
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
async fn whitelisted_rare_event_is_taken_out_of_the_kept_counts_without_a_recount() {
    // Two rare children; whitelisting one (by its child value) leaves the other. The
    // re-evaluation works on the counts of the first pass: one counting pass, one fetch
    // of the candidate events, and the whitelisted event is not tagged.
    let mut f = fake(0).unsplit();
    f.events
        .push(("rare-2".into(), json!({ "parent": "p", "child": "odd" })));
    let uc = use_case("whitelist_literals_rare=odd\n");
    let (r, rep) = run(&f, &uc, 100, false).await;
    r.unwrap();
    assert_eq!(rep.whitelisted_events, 1);
    assert_eq!(outliers(&rep), vec![("p".into(), Some("rare".into()))]);
    let log = f.log();
    let pages = log.iter().filter(|l| l.starts_with("page")).count();
    assert_eq!(pages, 1, "one counting pass, no recount: {log:?}");
    let fetches = log
        .iter()
        .filter(|l| *l == "scan fetch candidate events")
        .count();
    assert_eq!(fetches, 1, "each candidate pair fetched once: {log:?}");
    assert!(f.tagged.borrow().contains_key("rare-1"));
    assert!(!f.tagged.borrow().contains_key("rare-2"));
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
async fn events_written_but_reported_as_conflicts_count_as_updated_by_the_recheck() {
    let f = fake(0);
    f.updates
        .borrow_mut()
        .push_back(Update::WrittenConflicts(1));
    let (r, rep) = run(&f, &use_case(""), 100, false).await;
    r.unwrap();
    let t = rep.tagging.unwrap();
    assert_eq!(t.passes, 2);
    assert_eq!((t.updated, t.noops), (1, 0), "{t:?}");
    assert_eq!(t.updated + t.noops, t.matched);
    assert_eq!(t.version_conflicts, 0);
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

/// A sudden_appearance use case over the fake's day (now 2026-11-28T00:00Z): windows of
/// 4 h moving by 2 h.
fn sudden_use_case(extra: &str) -> UseCase {
    let text = format!(
        "[general]\nes_index_pattern=fake\nhistory_window_days=1\n\n[sudden_appearance_new]\naggregator=host\ntarget=proc\nsliding_window_size=00:04:00\nsliding_window_step_size=00:02:00\noutlier_type=t\noutlier_reason=r\noutlier_summary=new {{proc}} on {{host}}\nrun_model=1\ntest_model=0\n{extra}"
    );
    let cfg =
        config::parse(std::path::Path::new("fake.conf"), &text).unwrap_or_else(|e| panic!("{e}"));
    cfg.use_cases.into_iter().next().unwrap()
}

fn sudden_event(ts: &str, host: &str, proc: &str) -> Value {
    json!({ "@timestamp": ts, "host": host, "proc": proc })
}

/// h1 runs `usual` every hour all day; `new` appears on h1 at 21:30 (the last step of
/// [20:00, 24:00]) and `other` on h2 at 05:00 (the last step of [02:00, 06:00]).
fn sudden_events() -> Vec<(String, Value)> {
    let mut ev: Vec<(String, Value)> = (0..24)
        .map(|h| {
            let ts = format!("2026-11-27T{h:02}:00:00Z");
            (format!("u{h:02}"), sudden_event(&ts, "h1", "usual"))
        })
        .collect();
    ev.push((
        "new-1".into(),
        sudden_event("2026-11-27T21:30:00Z", "h1", "new"),
    ));
    ev.push((
        "new-2".into(),
        sudden_event("2026-11-27T22:30:00Z", "h1", "new"),
    ));
    ev.push((
        "other-1".into(),
        sudden_event("2026-11-27T05:00:00Z", "h2", "other"),
    ));
    ev
}

#[tokio::test(start_paused = true)]
async fn sudden_plan_pages_and_halves_through_the_same_paging_and_finds_the_same_events() {
    let uc = sudden_use_case("");
    let f = Fake::of(sudden_events()).unsplit();
    let (r, whole) = run(&f, &uc, 1000, false).await;
    r.unwrap();
    assert_eq!(whole.pages, 1);
    let tagged: Vec<String> = f.tagged.borrow().keys().cloned().collect();
    assert_eq!(tagged, vec!["new-1", "other-1"]);
    // No whitelist: the first events come with the summary's fields only.
    let log = f.log();
    assert!(
        log.iter()
            .any(|l| l.ends_with("_source {\"includes\":[\"host\",\"proc\"]}")),
        "{log:?}"
    );

    // Pages of 8 buckets refused down to 2: the same outliers, read in many pages whose
    // after_key carries the time bucket.
    let mut small = Fake::of(sudden_events()).unsplit();
    small.max_buckets = 2;
    let (r, paged) = run(&small, &uc, 8, true).await;
    r.unwrap();
    let log = small.log();
    assert!(log[0].starts_with("page 1 size 8"), "{log:?}");
    assert!(log[2].starts_with("page 1 size 2"), "{log:?}");
    assert!(log.iter().any(|l| l.contains("Number(")), "{log:?}");
    assert_eq!(paged.buckets_read, whole.buckets_read);
    // Full pages of 2, then one short (or empty) page that ends the paging.
    assert_eq!(paged.pages, whole.buckets_read / 2 + 1);
    let pairs = |rep: &UseCaseReport| -> Vec<(String, Option<String>, String)> {
        rep.outliers
            .iter()
            .map(|o| (o.aggregator.clone(), o.target.clone(), o.summary.clone()))
            .collect()
    };
    assert_eq!(pairs(&paged), pairs(&whole));
    assert_eq!(
        pairs(&whole),
        vec![
            ("h1".into(), Some("new".into()), "new new on h1".into()),
            ("h2".into(), Some("other".into()), "new other on h2".into()),
        ]
    );
    let sr = whole.sudden.as_ref().unwrap();
    assert_eq!(sr.windows_evaluated, 11);
    assert_eq!(sr.first_event_requests, 1);
    assert_eq!(sr.timelines.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn tie_on_the_earliest_millisecond_is_listed_by_a_scan_and_the_smallest_id_tagged() {
    // 12 events of (h3, tied) at 23:00:00.000, more than one batch returns: the fake
    // returns them in insertion order, t11 first, so the smallest id is not among the
    // hits and only the scan finds it.
    let mut ev = sudden_events();
    for i in (0..12).rev() {
        ev.push((
            format!("t{i:02}"),
            sudden_event("2026-11-27T23:00:00Z", "h3", "tied"),
        ));
    }
    let f = Fake::of(ev);
    let (r, rep) = run(&f, &sudden_use_case(""), 1000, false).await;
    r.unwrap();
    let sr = rep.sudden.as_ref().unwrap();
    assert_eq!(sr.ties, 1);
    let log = f.log();
    let scans: Vec<&String> = log
        .iter()
        .filter(|l| *l == "scan list tied first events")
        .collect();
    assert_eq!(scans.len(), 1, "{log:?}");
    let tagged: Vec<String> = f.tagged.borrow().keys().cloned().collect();
    assert_eq!(tagged, vec!["new-1", "other-1", "t00"]);
    let tied = rep.outliers.iter().find(|o| o.aggregator == "h3").unwrap();
    assert_eq!(tied.term_count, 12, "num_target_value_in_window");
    // The winner's summary needs its fields: fetched by id after the scan.
    assert_eq!(tied.summary, "new tied on h3");
    assert!(
        log.iter().any(|l| l == "scan fetch tied first events"),
        "{log:?}"
    );
    let t = rep.tagging.unwrap();
    assert_eq!((t.checked, t.verified), (3, 3));
}

#[tokio::test(start_paused = true)]
async fn sudden_whitelist_drops_the_event_and_asks_for_whole_events() {
    let uc = sudden_use_case("whitelist_literals_other=h2, new other on h2\n");
    let f = Fake::of(sudden_events());
    let (r, rep) = run(&f, &uc, 1000, false).await;
    r.unwrap();
    assert_eq!(rep.whitelisted_events, 1);
    let tagged: Vec<String> = f.tagged.borrow().keys().cloned().collect();
    assert_eq!(tagged, vec!["new-1"]);
    let log = f.log();
    assert!(
        log.iter().any(|l| l.ends_with("_source \"whole\"")),
        "{log:?}"
    );
}

fn metrics_use_case(on: &str, sensitivity: u32, extra: &str) -> UseCase {
    let text = format!(
        "[general]\nes_index_pattern=fake\nhistory_window_days=1\n\n[metrics_rare]\naggregator=parent\ntarget=cmd\nmetric=length\ntrigger_on={on}\ntrigger_method=pct_of_avg_value\ntrigger_sensitivity={sensitivity}\noutlier_type=t\noutlier_reason=r\noutlier_summary=long {{cmd}} ({{metric}})\nrun_model=1\ntest_model=0\n{extra}"
    );
    let cfg =
        config::parse(std::path::Path::new("fake.conf"), &text).unwrap_or_else(|e| panic!("{e}"));
    cfg.use_cases.into_iter().next().unwrap()
}

/// Events `(id, parent, cmd)`; `cmd` given as JSON (a string or a list).
fn metrics_fake(events: &[(&str, &str, Value)]) -> Fake {
    Fake {
        policy: fake_policy(),
        max_buckets: 65_536,
        events: events
            .iter()
            .map(|(id, p, c)| (id.to_string(), json!({ "parent": p, "cmd": c })))
            .collect(),
        ..Fake::default()
    }
}

/// Parent `p`: 20 events of "cmd.exe /c dir" (14), 2 of a 60-character command line and
/// one list ["ab", "cd"] ("ab - cd", 7); parent `q`: one 60-character line (its only
/// value: never beyond its own average).
fn long_lines() -> Fake {
    let long = "x".repeat(60);
    let mut ev: Vec<(String, &str, Value)> = (0..20)
        .map(|i| (format!("short-{i}"), "p", json!("cmd.exe /c dir")))
        .collect();
    ev.push(("long-1".into(), "p", json!(long)));
    ev.push(("long-2".into(), "p", json!(long)));
    ev.push(("list".into(), "p", json!(["ab", "cd"])));
    ev.push(("q-long".into(), "q", json!(long)));
    let refs: Vec<(&str, &str, Value)> = ev
        .iter()
        .map(|(a, b, c)| (a.as_str(), *b, c.clone()))
        .collect();
    metrics_fake(&refs)
}

#[tokio::test(start_paused = true)]
async fn metrics_counts_distinct_values_and_tags_only_the_outlier_events() {
    let f = long_lines();
    // p: mean (20*14 + 2*60 + 7) / 23 = 17.7, frontier 200 % = 35.4: the 60 flagged.
    let (r, rep) = run(&f, &metrics_use_case("high", 200, ""), 100, false).await;
    r.unwrap();
    // One bucket per distinct (parent, value): 3 for p, 1 for q.
    assert_eq!(rep.buckets_read, 4);
    assert_eq!(outliers(&rep), vec![("p".into(), Some("x".repeat(60)))]);
    assert_eq!(rep.outliers[0].term_count, 2);
    assert_eq!(
        rep.outliers[0].summary,
        format!("long {} (60)", "x".repeat(60))
    );
    let tagged: Vec<String> = f.tagged.borrow().keys().cloned().collect();
    assert_eq!(tagged, vec!["long-1", "long-2"]);
    let t = rep.tagging.unwrap();
    assert_eq!((t.checked, t.verified), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn metrics_list_target_is_one_flattened_value() {
    let f = long_lines();
    // Threshold 30 %: frontier 5.3; low values are not flagged with trigger high, so the
    // list's 7 ("ab - cd") stays below every frontier: it is measured as one value, not as
    // "ab" (2) and "cd" (2) apart.
    let uc = metrics_use_case("low", 30, "");
    let (r, rep) = run(&f, &uc, 100, true).await;
    r.unwrap();
    assert!(outliers(&rep).is_empty(), "{:?}", outliers(&rep));
    // At 50 % (frontier 8.85) the flattened 7 is below: flagged as "ab - cd".
    let uc = metrics_use_case("low", 50, "");
    let (r, rep) = run(&f, &uc, 100, true).await;
    r.unwrap();
    assert_eq!(outliers(&rep), vec![("p".into(), Some("ab - cd".into()))]);
    assert!(
        !f.log().iter().any(|l| l == "update"),
        "a dry run writes nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn metrics_whitelist_moves_the_frontier_and_fetches_the_new_outlier() {
    // p: 10 x "short" (5), one 60-character line on a whitelisted value, one of 9.
    // Mean 9.9, frontier 150 % = 14.9: only the 60 is an outlier; whitelisted, it leaves
    // the list: mean 5.4, frontier 8.0, and the 9 becomes an outlier.
    let wl = "y".repeat(60);
    let mut ev: Vec<(String, Value)> = (0..10).map(|i| (format!("s{i}"), json!("short"))).collect();
    ev.push(("wl".into(), json!(wl)));
    ev.push(("nine".into(), json!("123456789")));
    let refs: Vec<(&str, &str, Value)> = ev
        .iter()
        .map(|(a, c)| (a.as_str(), "p", c.clone()))
        .collect();
    let f = metrics_fake(&refs);
    let uc = metrics_use_case("high", 150, &format!("whitelist_literals_rare={wl}\n"));
    let (r, rep) = run(&f, &uc, 100, false).await;
    r.unwrap();
    assert_eq!(rep.whitelisted_events, 1);
    assert_eq!(outliers(&rep), vec![("p".into(), Some("123456789".into()))]);
    let fetches = f
        .log()
        .iter()
        .filter(|l| *l == "scan fetch events of outlier pairs")
        .count();
    assert_eq!(
        fetches, 2,
        "the 9's events are fetched once it is an outlier"
    );
    let tagged: Vec<String> = f.tagged.borrow().keys().cloned().collect();
    assert_eq!(tagged, vec!["nine"]);
}

#[tokio::test(start_paused = true)]
async fn metrics_counts_from_doc_values_when_every_value_is_indexed_once() {
    // Without the list event, every cmd is one indexed value: doc values serve, and the
    // outliers are the same as from _source.
    let mut f = long_lines().unsplit();
    f.events.retain(|(id, _)| id != "list");
    let (r, rep) = run(&f, &metrics_use_case("high", 200, ""), 100, true).await;
    r.unwrap();
    assert_eq!(*f.script_sources.borrow(), vec![false]);
    assert_eq!(outliers(&rep), vec![("p".into(), Some("x".repeat(60)))]);
    // With the list, or under an ignore_above that a value exceeds, two passes: those
    // events from _source first, the others from doc values, merged per aggregator.
    let f = long_lines().unsplit();
    let (r, rep) = run(&f, &metrics_use_case("low", 50, ""), 100, true).await;
    r.unwrap();
    assert_eq!(*f.script_sources.borrow(), vec![true, false]);
    assert_eq!(outliers(&rep), vec![("p".into(), Some("ab - cd".into()))]);
    assert_eq!(rep.events_in_window, Some(24));
    // The two passes visit disjoint events: one pass in all.
    assert_eq!(rep.count_passes, Some(1.0));
    let mut f = long_lines().unsplit();
    f.events.retain(|(id, _)| id != "list");
    f.ignore_above = Some(32);
    let (r, rep) = run(&f, &metrics_use_case("high", 200, ""), 100, true).await;
    r.unwrap();
    assert_eq!(*f.script_sources.borrow(), vec![true, false]);
    // p's 60-character lines come from _source and join the 14s from doc values (mean
    // 17.9, frontier 35.8); q's only line, from _source alone, is not beyond its own mean.
    assert_eq!(outliers(&rep), vec![("p".into(), Some("x".repeat(60)))]);
    assert_eq!(rep.outliers[0].term_count, 2);
    assert_eq!(rep.outliers[0].values, 22);
}

/// Parents `m00`..`m11`, each with 3 usual children of 30 events and one rare child of 1
/// event; with `list`, one more event whose parent is a list spanning the whole range.
fn many_parents(list: bool) -> Vec<(String, Value)> {
    let mut ev = Vec::new();
    for p in 0..12 {
        for c in 0..3 {
            for i in 0..30 {
                ev.push((
                    format!("m{p}-{c}-{i}"),
                    json!({ "parent": format!("m{p:02}"), "child": format!("usual{c}") }),
                ));
            }
        }
        ev.push((
            format!("m{p}-rare"),
            json!({ "parent": format!("m{p:02}"), "child": format!("rare{p}") }),
        ));
    }
    if list {
        ev.push((
            "list".into(),
            json!({ "parent": ["m00", "m05", "m11"], "child": "usual0" }),
        ));
    }
    ev
}

#[tokio::test(start_paused = true)]
async fn partitioned_count_visits_each_event_once_and_flags_what_paging_flags() {
    let uc = use_case("");
    for list in [false, true] {
        let split = Fake::of(many_parents(list));
        let (r, parts) = run(&split, &uc, 10, true).await;
        r.unwrap();
        let plain = Fake::of(many_parents(list)).unsplit();
        let (r, paged) = run(&plain, &uc, 10, true).await;
        r.unwrap();
        // 48 pairs in pages of 10: plain paging reads 5 pages, each visiting every event.
        assert_eq!(paged.partitions, 1);
        assert_eq!(paged.pages, 5);
        assert_eq!(paged.count_passes, Some(5.0));
        // The lead request (12 parents: two pages of 10) sizes partitions of at most 9
        // pairs.
        assert_eq!(parts.lead_requests, 2);
        assert!(parts.partitions >= 6, "{}", parts.partitions);
        assert_eq!(parts.events_in_window, paged.events_in_window);
        if list {
            // Its buckets of other partitions' parents fill some pages up.
            assert!(parts.pages >= parts.partitions);
            // The list event is visited by the three partitions holding its parents (and
            // again by a partition's second page): still fewer visits than paging.
            assert!(parts.events_visited >= 12 * 91 + 3);
            assert!(parts.count_passes.unwrap() < paged.count_passes.unwrap());
        } else {
            assert_eq!(parts.pages, parts.partitions, "one page per partition");
            assert_eq!(parts.count_passes, Some(1.0));
        }
        assert_eq!(outliers(&parts), outliers(&paged));
        assert_eq!(outliers(&parts).len(), 12);
        let bars = |rep: &UseCaseReport| -> Vec<(String, Vec<(String, u64)>)> {
            rep.charts
                .iter()
                .map(|c| {
                    let b = c.bars.iter().map(|b| (b.target.clone(), b.count)).collect();
                    (c.aggregator.clone(), b)
                })
                .collect()
        };
        // The same counts, in the same order (the list event counted once per parent).
        assert_eq!(bars(&parts), bars(&paged));
        // across_aggregators sees the same stream: the same findings.
        let mut across = use_case("");
        across.count_method = crate::config::CountMethod::AcrossAggregators;
        across.trigger.on = crate::config::TriggerOn::High;
        across.trigger.sensitivity = 0.0;
        let (r, a_parts) = run(&Fake::of(many_parents(list)), &across, 10, true).await;
        r.unwrap();
        let (r, a_paged) = run(&Fake::of(many_parents(list)).unsplit(), &across, 10, true).await;
        r.unwrap();
        assert!(a_parts.partitions > 1);
        assert!(!outliers(&a_paged).is_empty());
        assert_eq!(outliers(&a_parts), outliers(&a_paged));
    }
}

#[tokio::test(start_paused = true)]
async fn a_partition_holding_more_pairs_than_a_page_pages_within_its_range() {
    // One parent with 12 children: more than a page of 5 on its own.
    let mut ev = many_parents(false);
    for c in 0..12 {
        ev.push((
            format!("big-{c}"),
            json!({ "parent": "m05", "child": format!("wide{c}") }),
        ));
    }
    let uc = use_case("");
    let split = Fake::of(ev.clone());
    let (r, parts) = run(&split, &uc, 5, true).await;
    r.unwrap();
    let plain = Fake::of(ev).unsplit();
    let (r, paged) = run(&plain, &uc, 5, true).await;
    r.unwrap();
    assert!(parts.pages > parts.partitions, "m05's partition pages");
    let log = split.log();
    assert!(
        log.iter()
            .any(|l| l.contains("after Some([String(\"m05\"), String(\"wide")),
        "a page inside m05's range: {log:?}"
    );
    assert_eq!(outliers(&parts), outliers(&paged));
    assert!(parts.count_passes.unwrap() < paged.count_passes.unwrap());
}

#[tokio::test(start_paused = true)]
async fn use_cases_that_differ_only_by_trigger_count_once_and_flag_as_alone() {
    let loose = use_case("");
    let mut strict = use_case("");
    strict.name = "terms_strict".into();
    strict.trigger.sensitivity = 1.0;
    let mut across = use_case("");
    across.name = "terms_across".into();
    across.count_method = crate::config::CountMethod::AcrossAggregators;
    let members = [&loose, &strict, &across];
    // Each alone.
    let mut alone = Vec::new();
    for uc in members {
        let f = Fake::of(many_parents(true));
        let (r, rep) = run(&f, uc, 10, true).await;
        r.unwrap();
        alone.push(rep);
    }
    // Together, through one hub.
    let f = Fake::of(many_parents(true));
    let hub = super::shared::CountHub::new(members.iter().map(|uc| (*uc, window())));
    let mut together = Vec::new();
    for uc in members {
        let cx = Context {
            counts: Some(&hub),
            ..context(&f, 10, true)
        };
        let mut rep = report(uc);
        detect(&cx, uc, &mut rep).await.unwrap();
        together.push(rep);
    }
    let pages = f.log().iter().filter(|l| l.starts_with("page")).count() as u64;
    assert_eq!(
        pages,
        alone[0].pages + alone[0].lead_requests,
        "counted once"
    );
    assert_eq!(together[0].count_shared_with, None);
    assert_eq!(together[0].pages, alone[0].pages);
    for (t, a) in together.iter().zip(&alone).skip(1) {
        assert_eq!(t.count_shared_with.as_deref(), Some("terms_rare"));
        assert_eq!((t.pages, t.partitions), (0, 0), "no count of its own");
        assert_eq!(t.events_in_window, a.events_in_window);
    }
    for (t, a) in together.iter().zip(&alone) {
        assert_eq!(outliers(t), outliers(a), "{}", t.name);
        assert_eq!(t.charts.len(), a.charts.len(), "{}", t.name);
    }
    assert_ne!(
        outliers(&alone[0]),
        outliers(&alone[1]),
        "the triggers differ"
    );
}

#[tokio::test(start_paused = true)]
async fn a_member_waits_for_the_first_and_counts_itself_when_the_first_gave_up() {
    let first = use_case("");
    let mut second = use_case("");
    second.name = "terms_second".into();
    second.trigger.sensitivity = 1.0;
    let f = Fake::of(many_parents(false));
    let hub = super::shared::CountHub::new([(&first, window()), (&second, window())]);
    let claim = hub.claim(&first.name);
    let mut sp = crate::plan::search(&second, window(), 100);
    let mut rep = report(&second);
    let count = async |members: Vec<UseCase>, rep: &mut UseCaseReport| {
        let members: Vec<&UseCase> = members.iter().collect();
        super::terms::count_groups(&f, &members, &mut sp, true, None, &[], rep).await
    };
    let waiting = tokio::time::timeout(
        Duration::from_secs(600),
        super::shared::CountHub::count_once(Some(&hub), &second, &mut rep, count),
    )
    .await;
    assert!(waiting.is_err(), "waits while the first member detects");
    assert!(
        !f.log().iter().any(|l| l.starts_with("page")),
        "{:?}",
        f.log()
    );
    // The first member's detection ended without counting (it failed before): the
    // second counts, and the first, if it comes back, takes that count.
    drop(claim);
    let mut rep = report(&second);
    let count = async |members: Vec<UseCase>, rep: &mut UseCaseReport| {
        let members: Vec<&UseCase> = members.iter().collect();
        super::terms::count_groups(&f, &members, &mut sp, true, None, &[], rep).await
    };
    let _: super::shared::Groups =
        super::shared::CountHub::count_once(Some(&hub), &second, &mut rep, count)
            .await
            .unwrap();
    assert_eq!(rep.count_shared_with, None);
    assert!(rep.pages > 0);
    let mut again = report(&first);
    let never = async |_: Vec<UseCase>,
                       _: &mut UseCaseReport|
           -> Result<Vec<super::shared::Groups>, EsError> {
        unreachable!("the count was read")
    };
    let _: super::shared::Groups =
        super::shared::CountHub::count_once(Some(&hub), &first, &mut again, never)
            .await
            .unwrap();
    assert_eq!(again.count_shared_with.as_deref(), Some("terms_second"));
    assert_eq!(again.pages, 0);
}

#[tokio::test(start_paused = true)]
async fn metrics_use_cases_on_the_same_target_count_once_each_with_its_metric_and_trigger() {
    // Length high and length low (the same counts, other triggers), and entropy.
    let high = metrics_use_case("high", 200, "");
    let mut low = metrics_use_case("low", 50, "");
    low.name = "metrics_low".into();
    let mut entropy = metrics_use_case("high", 150, "");
    entropy.name = "metrics_entropy".into();
    if let crate::config::ModelSpec::Metrics(spec) = &mut entropy.model {
        spec.metric = crate::config::Metric::Entropy;
    }
    let members = [&high, &low, &entropy];
    let mut alone = Vec::new();
    let mut one_count = 0;
    for uc in members {
        let f = long_lines();
        let (r, rep) = run(&f, uc, 100, true).await;
        r.unwrap();
        one_count = f.script_sources.borrow().len();
        alone.push(rep);
    }
    let f = long_lines();
    let hub = super::shared::CountHub::new(members.iter().map(|uc| (*uc, window())));
    let mut together = Vec::new();
    for uc in members {
        let cx = Context {
            counts: Some(&hub),
            ..context(&f, 100, true)
        };
        let mut rep = report(uc);
        detect(&cx, uc, &mut rep).await.unwrap();
        together.push(rep);
    }
    // Two passes (a list is read from _source), each a lead request and a page: once.
    assert_eq!(one_count, 4);
    assert_eq!(f.script_sources.borrow().len(), one_count, "counted once");
    for (t, a) in together.iter().zip(&alone) {
        assert_eq!(outliers(t), outliers(a), "{}", t.name);
        assert_eq!(t.events_in_window, a.events_in_window, "{}", t.name);
    }
    assert_eq!(
        together[1].count_shared_with.as_deref(),
        Some("metrics_rare")
    );
    assert_eq!(
        together[2].count_shared_with.as_deref(),
        Some("metrics_rare")
    );
    assert!(!outliers(&alone[0]).is_empty() && !outliers(&alone[1]).is_empty());
    assert_ne!(
        outliers(&alone[0]),
        outliers(&alone[1]),
        "the triggers differ"
    );
}

/// Detects `uc` over [`many_parents`] with `hints`, in pages of `page_size`: the report
/// and the fake's log.
async fn detect_with_hints(
    uc: &UseCase,
    hints: &super::hints::Hints,
    page_size: u32,
) -> (UseCaseReport, Vec<String>) {
    let f = Fake::of(many_parents(false));
    let cx = Context {
        hints: Some(hints),
        ..context(&f, page_size, true)
    };
    let mut rep = report(uc);
    detect(&cx, uc, &mut rep).await.unwrap();
    (rep, f.log())
}

#[tokio::test(start_paused = true)]
async fn a_count_that_fit_half_a_page_last_run_skips_the_lead_request() {
    let uc = use_case("");
    // No hint: a lead request (12 parents), then one page of the 48 pairs.
    let first = super::hints::Hints::parse("");
    let (rep1, log1) = detect_with_hints(&uc, &first, 200).await;
    assert_eq!(rep1.lead_requests, 1, "{log1:?}");
    // 48 pairs last time, at most half of 200: one plain page, no lead request.
    let second = super::hints::Hints::parse(&first.save());
    let (rep2, log2) = detect_with_hints(&uc, &second, 200).await;
    assert_eq!(rep2.lead_requests, 0, "{log2:?}");
    assert_eq!(log2.iter().filter(|l| l.starts_with("page")).count(), 1);
    assert_eq!(outliers(&rep2), outliers(&rep1));
    assert_eq!(rep2.events_in_window, rep1.events_in_window);
    // Pages of 80: 48 is more than half a page, so the lead request sizes partitions.
    let (rep3, _) = detect_with_hints(&uc, &second, 80).await;
    assert_eq!(rep3.lead_requests, 1);
}
