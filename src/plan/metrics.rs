//! Stage `plan` (PURE), metrics model: the counting plan (composite over the aggregator
//! fields and the target value read from `_source` by a fixed script), the decoding of the
//! script's bucket keys, and the clauses that fetch the events of outlier pairs.
//!
//! Must not: compute metrics (a script cannot: painless string lengths are UTF-16 units;
//! `evaluate::metric` does it in Rust) or do I/O.
//!
//! Invariants: the script's source never changes (the path is a param); a decoded key
//! flattens to exactly the string `evaluate::metric::flatten` makes of the same `_source`
//! value, so events fetched later are matched to their pair in Rust; a candidate clause
//! selects AT LEAST the events of its pair (a superset: callers match each event exactly).

use serde_json::{json, Value};

use super::{filter_query_on, SearchPlan, Source, TimeWindow};
use crate::config::UseCase;
use crate::evaluate::pystr;

/// The painless script of the target source; see the file for what it returns.
pub const TARGET_SCRIPT: &str = include_str!("metrics_target.painless");

/// Where the counting reads the target value from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSource {
    /// The field's doc values (a plain `terms` source): only when every event of the
    /// filter has exactly one indexed value and the mapping keeps values as written
    /// ([`TargetMapping::doc_values_may_serve`], [`single_value_check_body`]).
    DocValues,
    /// [`TARGET_SCRIPT`] over `_source` at this path: lists flattened, numbers as written,
    /// values over `ignore_above` counted.
    Source,
}

/// The filter of a metrics use case: its query, the time range, `exists` on the
/// aggregator fields only (a keyword value over `ignore_above` does not `exist`, yet it
/// counts when the target is read from `_source`).
pub fn filter(uc: &UseCase, window: TimeWindow) -> Value {
    filter_query_on(uc, window, uc.aggregator.iter())
}

/// The counting plan of a metrics use case: `a0..` terms on the aggregator fields, `t0`
/// the target, from doc values or from `_source` at `target_path` (see [`TargetSource`]).
pub fn search(
    uc: &UseCase,
    window: TimeWindow,
    page_size: u32,
    target_path: &str,
    from: TargetSource,
) -> SearchPlan {
    let mut sources: Vec<Source> = uc
        .aggregator
        .iter()
        .enumerate()
        .map(|(i, f)| Source {
            name: format!("a{i}"),
            field: f.clone(),
            script: None,
        })
        .collect();
    sources.push(Source {
        name: "t0".into(),
        field: uc.target[0].clone(),
        script: (from == TargetSource::Source).then(|| {
            json!({
                "lang": "painless",
                "source": TARGET_SCRIPT,
                "params": { "path": target_path }
            })
        }),
    });
    SearchPlan {
        use_case: uc.name.clone(),
        index: uc.index_pattern.clone(),
        query: filter(uc, window),
        sources,
        aggregator_len: uc.aggregator.len(),
        page_size,
        preference: format!("esoutliers-{}", uc.name),
    }
}

/// The events whose target doc values cannot stand for the `_source` value: more than one
/// indexed value (a list), or, when the mapping has an `ignore_above`, no indexed value
/// (over the limit, or missing: the index cannot tell them apart).
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/query-dsl-script-query.html>
pub fn needs_source(field: &str, ignore_above: bool) -> Value {
    let mut should = vec![several_values(field)];
    if ignore_above {
        should.push(json!({ "bool": { "must_not": [ { "exists": { "field": field } } ] } }));
    }
    json!({ "bool": { "should": should, "minimum_should_match": 1 } })
}

/// The events whose target doc values stand for the value: exactly one indexed value.
/// With [`needs_source`] it splits the events of a filter in two (events without a value
/// and without `ignore_above` are in neither: they have no value to measure).
pub fn doc_values_serve(field: &str) -> Value {
    json!({ "bool": {
        "filter": [ { "exists": { "field": field } } ],
        "must_not": [ several_values(field) ]
    } })
}

fn several_values(field: &str) -> Value {
    json!({ "script": { "script": {
        "lang": "painless",
        "source": "doc[params.field].size() > 1",
        "params": { "field": field }
    } } })
}

/// Counts the events of `filter` that [`needs_source`] selects. Zero: doc values serve
/// every event.
pub fn single_value_check_body(filter: &Value, field: &str, ignore_above: bool) -> Value {
    json!({
        "size": 0,
        "track_total_hits": true,
        "query": { "bool": { "filter": [ filter, needs_source(field, ignore_above) ] } }
    })
}

/// `plan` restricted to the events of `part` (one side of a split count).
pub fn restricted(mut plan: SearchPlan, part: Value) -> SearchPlan {
    plan.query = json!({ "bool": { "filter": [ plan.query, part ] } });
    plan
}

/// A bucket's target key as elements: decoded ([`decode_target`]) when read from
/// `_source`, one string when read from doc values. `None` for a key that cannot be.
pub fn target_items(key: &Value, from: TargetSource) -> Option<Vec<TargetItem>> {
    let s = key.as_str()?;
    match from {
        TargetSource::DocValues => Some(vec![TargetItem::Str(s.to_string())]),
        TargetSource::Source => decode_target(s),
    }
}

/// One element of a target value as the script reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetItem {
    Str(String),
    /// An integral JSON number, its decimal digits (Python's `str()` of an `int`).
    Int(String),
    Float(f64),
    Bool(bool),
    Null,
}

impl TargetItem {
    /// Python's `str()` of the element as `json.loads` gives it to ee-outliers.
    pub fn python_str(&self) -> String {
        match self {
            TargetItem::Str(s) | TargetItem::Int(s) => s.clone(),
            TargetItem::Float(x) => pystr::float_repr(*x),
            TargetItem::Bool(true) => "True".into(),
            TargetItem::Bool(false) => "False".into(),
            TargetItem::Null => "None".into(),
        }
    }
}

/// Decodes a bucket key of [`TARGET_SCRIPT`]: `<tag><length>:<text>` per element, length
/// in UTF-16 units. `None` for a key the script cannot have made.
pub fn decode_target(key: &str) -> Option<Vec<TargetItem>> {
    let mut items = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        let mut chars = rest.chars();
        let tag = chars.next()?;
        rest = chars.as_str();
        let colon = rest.find(':')?;
        let units: usize = rest[..colon].parse().ok()?;
        rest = &rest[colon + 1..];
        let mut end = 0;
        let mut seen = 0;
        for c in rest.chars() {
            if seen >= units {
                break;
            }
            seen += c.len_utf16();
            end += c.len_utf8();
        }
        if seen != units {
            return None;
        }
        let text = &rest[..end];
        rest = &rest[end..];
        items.push(match tag {
            's' => TargetItem::Str(text.to_string()),
            'i' => TargetItem::Int(text.to_string()),
            // Java's Double.toString round-trips, so the f64 is the one Python parsed.
            'd' => TargetItem::Float(text.parse().ok()?),
            'b' => TargetItem::Bool(text == "true"),
            'n' => TargetItem::Null,
            _ => return None,
        });
    }
    Some(items)
}

/// The target value as one string, as ee-outliers' `flatten_sentence` makes it: the
/// elements' Python `str()` joined with ` - ` (a scalar is a list of one; `[]` gives "").
pub fn flatten(items: &[TargetItem]) -> String {
    items
        .iter()
        .map(TargetItem::python_str)
        .collect::<Vec<_>>()
        .join(" - ")
}

/// What the mapping says of the target field over the indices of the pattern.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetMapping {
    /// The field's types (`keyword`, `long`, ...), one per distinct type.
    pub types: Vec<String>,
    /// The smallest `ignore_above` of a keyword mapping; `None` when none sets it.
    pub ignore_above: Option<u64>,
    /// Some mapping sets a `normalizer`: doc values are not the values as written.
    pub normalized: bool,
}

impl TargetMapping {
    /// Reads `GET <index>/_mapping/field/<field>`: index -> `mappings` -> field ->
    /// `mapping` -> leaf name -> `{type, ignore_above}`.
    /// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/indices-get-field-mapping.html>
    pub fn parse(response: &Value, field: &str) -> TargetMapping {
        let mut m = TargetMapping::default();
        for index in response.as_object().into_iter().flat_map(|o| o.values()) {
            let leaves = index["mappings"][field]["mapping"].as_object();
            for leaf in leaves.into_iter().flat_map(|o| o.values()) {
                if let Some(t) = leaf["type"].as_str() {
                    if !m.types.iter().any(|x| x == t) {
                        m.types.push(t.to_string());
                    }
                }
                m.normalized |= leaf.get("normalizer").is_some();
                if let Some(n) = leaf["ignore_above"].as_u64() {
                    m.ignore_above = Some(m.ignore_above.map_or(n, |o| o.min(n)));
                }
            }
        }
        m.types.sort();
        m
    }

    /// Doc values may stand for the `_source` value: every mapping is `keyword` without
    /// a normalizer. (Still to be checked per event: [`needs_source`].)
    /// Differences left on this path: a list with a repeated or null element (`["x", "x"]`
    /// is one doc value, 0.2.17 flattens it to `x - x`), an empty list (no doc value: not
    /// counted; 0.2.17 measures the empty string), a JSON boolean or exponent-notation
    /// number in a keyword field (indexed as written: `true`, `1e3`; 0.2.17 reads `True`,
    /// `1000.0`).
    pub fn doc_values_may_serve(&self) -> bool {
        self.only(&["keyword"]) && !self.normalized
    }

    fn only(&self, kinds: &[&str]) -> bool {
        !self.types.is_empty() && self.types.iter().all(|t| kinds.contains(&t.as_str()))
    }

    /// A `term` on `field` that every event holding `item` matches, when the mapping
    /// allows one: a keyword string not longer than `ignore_above` (counted in UTF-16
    /// units, as Elasticsearch does), a number on a numeric field (truncated toward zero
    /// on integer fields, as indexing coerced it), a boolean. `None` otherwise (the value
    /// is not indexed as such: the caller selects by aggregator only).
    pub fn term(&self, field: &str, item: &TargetItem) -> Option<Value> {
        const INTEGER: [&str; 4] = ["long", "integer", "short", "byte"];
        const FLOAT: [&str; 3] = ["double", "float", "half_float"];
        let v = match item {
            TargetItem::Str(s) if self.only(&["keyword"]) => {
                let units = s.encode_utf16().count() as u64;
                if self.ignore_above.is_some_and(|n| units > n) {
                    return None;
                }
                json!(s)
            }
            TargetItem::Int(s) if self.only(&INTEGER) || self.only(&FLOAT) => {
                json!(s.parse::<i64>().ok()?)
            }
            TargetItem::Float(x) if self.only(&INTEGER) => {
                (x.abs() < 9.2e18).then(|| json!(x.trunc() as i64))?
            }
            TargetItem::Float(x) if self.only(&FLOAT) => json!(x),
            TargetItem::Bool(b) if self.only(&["boolean"]) => json!(b),
            _ => return None,
        };
        Some(json!({ "term": { field: v } }))
    }
}

/// A clause selecting at least the events of one pair: a `term` per aggregator field, and
/// per target encoding (several encodings can flatten to one value: `["a", "b"]` and
/// `"a - b"`) a `term` per element the mapping indexes; without any, the aggregator alone.
pub fn pair_clause(
    uc: &UseCase,
    aggregator: &[String],
    encodings: &[Vec<TargetItem>],
    mapping: &TargetMapping,
) -> Value {
    let mut filter: Vec<Value> = uc
        .aggregator
        .iter()
        .zip(aggregator)
        .map(|(f, v)| json!({ "term": { f.as_str(): v } }))
        .collect();
    let mut alternatives = Vec::new();
    for items in encodings {
        let terms: Vec<Value> = items
            .iter()
            .filter_map(|i| mapping.term(&uc.target[0], i))
            .collect();
        if terms.is_empty() {
            // One encoding cannot be narrowed: the aggregator alone covers them all.
            alternatives.clear();
            break;
        }
        alternatives.push(json!({ "bool": { "filter": terms } }));
    }
    if !alternatives.is_empty() {
        filter.push(json!({ "bool": { "should": alternatives, "minimum_should_match": 1 } }));
    }
    json!({ "bool": { "filter": filter } })
}

/// How many queries `clause` holds (every `bool`, `term`, ... of the tree), as Lucene 9
/// counts them against `indices.query.bool.max_clause_count`.
pub fn query_count(clause: &Value) -> usize {
    match clause {
        Value::Object(m) if m.contains_key("bool") => {
            1 + ["filter", "should", "must", "must_not"]
                .iter()
                .filter_map(|k| m["bool"].get(k).and_then(Value::as_array))
                .flatten()
                .map(query_count)
                .sum::<usize>()
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_counts_lengths_in_utf16_units_and_renders_python_str() {
        // What the node returned for ["ĉ€🙂", 1, true, null, 1e20] (🙂 is two units).
        let items = decode_target("s4:ĉ€🙂i1:1b4:truen0:d6:1.0E20").unwrap();
        assert_eq!(flatten(&items), "ĉ€🙂 - 1 - True - None - 1e+20");
        assert_eq!(flatten(&decode_target("d6:5000.5").unwrap()), "5000.5");
        assert_eq!(flatten(&decode_target("d5:100.0").unwrap()), "100.0");
    }

    #[test]
    fn a_separator_inside_a_string_is_text_not_structure() {
        let items = decode_target("s6:a:s1:bs0:").unwrap();
        assert_eq!(
            items,
            vec![TargetItem::Str("a:s1:b".into()), TargetItem::Str("".into())]
        );
    }

    #[test]
    fn empty_list_is_the_empty_string_and_bad_keys_are_refused() {
        assert_eq!(flatten(&decode_target("").unwrap()), "");
        assert_eq!(decode_target("s9:short"), None);
        assert_eq!(decode_target("x1:a"), None);
        assert_eq!(decode_target("s1"), None);
    }

    #[test]
    fn mapping_takes_the_smallest_ignore_above_over_indices() {
        let resp = json!({
            "a": { "mappings": { "c.keyword": { "full_name": "c.keyword",
                "mapping": { "keyword": { "type": "keyword", "ignore_above": 256 } } } } },
            "b": { "mappings": { "c.keyword": { "full_name": "c.keyword",
                "mapping": { "keyword": { "type": "keyword", "ignore_above": 10 } } } } },
            "z": { "mappings": {} }
        });
        let m = TargetMapping::parse(&resp, "c.keyword");
        assert_eq!(m.types, vec!["keyword"]);
        assert_eq!(m.ignore_above, Some(10));
    }

    #[test]
    fn term_is_left_out_for_values_the_index_does_not_hold() {
        let kw = TargetMapping {
            types: vec!["keyword".into()],
            ignore_above: Some(3),
            normalized: false,
        };
        assert!(kw.term("c", &TargetItem::Str("abc".into())).is_some());
        // "🙂🙂" is 2 code points but 4 UTF-16 units: over the limit of 3.
        assert!(kw.term("c", &TargetItem::Str("🙂🙂".into())).is_none());
        assert!(kw.term("c", &TargetItem::Float(1.5)).is_none());
        let long = TargetMapping {
            types: vec!["long".into()],
            ..TargetMapping::default()
        };
        assert_eq!(
            long.term("n", &TargetItem::Float(5000.5)),
            Some(json!({ "term": { "n": 5000 } }))
        );
        let mixed = TargetMapping {
            types: vec!["keyword".into(), "long".into()],
            ..TargetMapping::default()
        };
        assert!(mixed.term("n", &TargetItem::Int("5".into())).is_none());
    }

    fn use_case() -> UseCase {
        let text = "[general]\nes_index_pattern=ix\nhistory_window_days=1\n\n[metrics_len]\naggregator=proc\ntarget=cmd\nmetric=length\ntrigger_on=high\ntrigger_method=float\ntrigger_sensitivity=0\noutlier_type=t\noutlier_reason=r\noutlier_summary=s\nrun_model=1\ntest_model=0\n";
        let cfg = crate::config::parse(std::path::Path::new("t.conf"), text)
            .unwrap_or_else(|e| panic!("{e}"));
        cfg.use_cases.into_iter().next().unwrap()
    }

    #[test]
    fn pair_clause_narrows_by_each_list_element_and_not_by_a_value_over_ignore_above() {
        let uc = use_case();
        let kw = TargetMapping {
            types: vec!["keyword".into()],
            ignore_above: Some(8),
            normalized: false,
        };
        let list = decode_target("s3:svcs2:-k").unwrap();
        assert_eq!(
            pair_clause(&uc, &["svc.exe".into()], &[list], &kw),
            json!({ "bool": { "filter": [
                { "term": { "proc": "svc.exe" } },
                { "bool": { "should": [ { "bool": { "filter": [
                    { "term": { "cmd": "svc" } }, { "term": { "cmd": "-k" } } ] } } ],
                  "minimum_should_match": 1 } }
            ] } })
        );
        let list_clause = pair_clause(
            &uc,
            &["svc.exe".into()],
            &[decode_target("s3:svcs2:-k").unwrap()],
            &kw,
        );
        // bool(filter: term, bool(should: bool(filter: term, term))) = 6 queries.
        assert_eq!(query_count(&list_clause), 6);
        // Over ignore_above the index holds nothing to match: the aggregator alone (the
        // caller matches each fetched event to its pair).
        let long = decode_target("s9:123456789").unwrap();
        let short = decode_target("s1:x").unwrap();
        assert_eq!(
            pair_clause(&uc, &["svc.exe".into()], &[short, long], &kw),
            json!({ "bool": { "filter": [ { "term": { "proc": "svc.exe" } } ] } })
        );
    }

    #[test]
    fn counting_plan_reads_the_target_from_source_without_exists_on_it() {
        let uc = use_case();
        let w = TimeWindow::ending_at(time::macros::datetime!(2026-11-28 00:00 UTC), 24);
        let sp = search(&uc, w, 100, "cmd", TargetSource::Source);
        let body = sp.page_body(None);
        let sources = &body["aggs"]["pairs"]["composite"]["sources"];
        assert_eq!(
            sources[0],
            json!({ "a0": { "terms": { "field": "proc" } } })
        );
        assert_eq!(
            sources[1]["t0"]["terms"]["script"]["params"],
            json!({ "path": "cmd" })
        );
        let q = sp.query.to_string();
        assert!(q.contains(r#"{"exists":{"field":"proc"}}"#), "{q}");
        assert!(!q.contains(r#"{"exists":{"field":"cmd"}}"#), "{q}");
        let fast = search(&uc, w, 100, "cmd", TargetSource::DocValues).page_body(None);
        assert_eq!(
            fast["aggs"]["pairs"]["composite"]["sources"][1],
            json!({ "t0": { "terms": { "field": "cmd" } } })
        );
    }

    #[test]
    fn doc_values_serve_only_keyword_without_normalizer() {
        let mut m = TargetMapping {
            types: vec!["keyword".into()],
            ignore_above: Some(256),
            normalized: false,
        };
        assert!(m.doc_values_may_serve());
        m.normalized = true;
        assert!(!m.doc_values_may_serve());
        let long = TargetMapping {
            types: vec!["long".into()],
            ..TargetMapping::default()
        };
        assert!(!long.doc_values_may_serve());
    }

    #[test]
    fn single_value_check_counts_missing_values_only_under_ignore_above() {
        let f = json!({ "match_all": {} });
        let with = single_value_check_body(&f, "cmd", true);
        let without = single_value_check_body(&f, "cmd", false);
        let should = |b: &Value| {
            b["query"]["bool"]["filter"][1]["bool"]["should"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(should(&with), 2);
        assert_eq!(should(&without), 1);
        assert_eq!(with["track_total_hits"], json!(true));
    }
}
