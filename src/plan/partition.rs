//! Stage `plan` (PURE): splitting one count into partitions, so that Elasticsearch visits
//! each matching event about once however many pairs there are.
//!
//! A composite page makes Elasticsearch visit every matching event again, so a count of
//! P pairs read in pages of S buckets costs about P / S passes. A partition instead adds a
//! `range` on the lead field (the composite's first source) to the query: its request
//! visits only the events of its range, and the partitions together visit each event once.
//! The ranges come from one cheap *lead request* (a composite over the lead field alone,
//! with a `cardinality` per other field): how many events, and at most how many pairs,
//! each lead value has. Those estimates only decide where the ranges split; counts always
//! come from the composite pages, so they are exact whatever the estimate.
//!
//! Invariants: the partitions cover every lead value (the first has no lower bound, the
//! last no upper bound, consecutive ones share their bound: `gt b` after `lte b`), so no
//! value is lost, and a bucket is kept only by the partition whose range holds its lead
//! value ([`Partition::holds`]), so an event with several lead values is never counted
//! twice. Only fields whose composite order is the order of the `range` query are split
//! ([`splittable`]); any other lead counts in one partition (plain paging).
//!
//! Must not: send requests (`pipeline::count` does) or read clocks.

use std::cmp::Ordering;

use serde_json::{json, Value};

use super::PageRequest;
use crate::es::{AfterKey, CompositeBucket, MAX_CARDINALITIES, PAIRS_AGG};

/// The source name of the lead value in the lead request's keys.
pub const LEAD_SOURCE: &str = "lead";

/// Field types whose composite `terms` order is the order of a `range` query on them:
/// keyword (bytes) and the integer and floating-point numbers. Not `ip` (keys are
/// strings, ordered as addresses), not dates (a range bound is parsed with the field's
/// format), not booleans.
pub fn splittable(kind: &str) -> bool {
    matches!(
        kind,
        "keyword" | "long" | "integer" | "short" | "byte" | "double" | "float"
    )
}

/// One range of lead values: `gt < value <= lte`, an absent bound is open.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Partition {
    pub gt: Option<Value>,
    pub lte: Option<Value>,
}

impl Partition {
    /// The whole key space (no range: the count is not split).
    pub fn whole() -> Partition {
        Partition::default()
    }

    /// True when this partition has no bound.
    pub fn is_whole(&self) -> bool {
        self.gt.is_none() && self.lte.is_none()
    }

    /// The `range` clause selecting this partition's events on `field`; `None` for the
    /// whole key space.
    /// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/query-dsl-range-query.html>
    pub fn clause(&self, field: &str) -> Option<Value> {
        if self.is_whole() {
            return None;
        }
        let mut r = serde_json::Map::new();
        if let Some(g) = &self.gt {
            r.insert("gt".into(), g.clone());
        }
        if let Some(l) = &self.lte {
            r.insert("lte".into(), l.clone());
        }
        Some(json!({ "range": { field: r } }))
    }

    /// `query` narrowed to this partition (the query itself for the whole key space).
    pub fn narrow(&self, query: &Value, field: &str) -> Value {
        match self.clause(field) {
            None => query.clone(),
            Some(c) => json!({ "bool": { "filter": [ query, c ] } }),
        }
    }

    /// True when the lead value `key` is in this partition. A bucket whose lead value lies
    /// outside (an event with several lead values reaches the requests of several
    /// partitions) belongs to another partition and is dropped here. Values of different
    /// JSON types are never compared ([`compare`]); such a value is held only by the whole
    /// key space.
    pub fn holds(&self, key: &Value) -> bool {
        let above = self
            .gt
            .as_ref()
            .is_none_or(|g| compare(key, g) == Some(Ordering::Greater));
        let below = self
            .lte
            .as_ref()
            .is_none_or(|l| matches!(compare(key, l), Some(Ordering::Less | Ordering::Equal)));
        above && below
    }
}

impl Partition {
    /// True when this partition ends before the lead value `key` (all its values are
    /// smaller): a composite read in order has nothing more for it after `key`.
    pub fn is_below(&self, key: &Value) -> bool {
        self.lte
            .as_ref()
            .is_some_and(|l| compare(key, l) == Some(Ordering::Greater))
    }
}

/// The order of two lead values as the composite aggregation sorts them: strings by
/// their UTF-8 bytes (Lucene compares terms byte by byte), integers exactly, other numbers
/// as doubles. `None` for values of different kinds.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => Some(i.cmp(&j)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        _ => None,
    }
}

/// What the lead request learned about one lead value.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadValue {
    pub key: Value,
    /// Events with this lead value.
    pub events: u64,
    /// At most how many buckets this value adds to the count: its events, or, when every
    /// other source is a field, the product of their distinct values among those events
    /// when that is smaller.
    pub pairs: u64,
}

/// The lead value of one bucket of the lead request, with its pair estimate:
/// `min(events, factor * product of the cardinality sub-aggregations c0, c1, ...)`
/// (`factor`: the date histogram's buckets, [`LeadPlan::factor`]), or `events` when
/// `cardinalities` is 0 (some other source is a script, whose distinct values are not
/// estimated). Both bounds hold for fields with one value per event; lists make the
/// estimate low, and a partition then pages. A cardinality is approximate; the estimate only
/// sizes partitions.
pub fn lead_value(b: &CompositeBucket, cardinalities: usize, factor: u64) -> Option<LeadValue> {
    let key = b.key.get(LEAD_SOURCE)?.clone();
    let mut pairs = b.doc_count;
    if cardinalities > 0 {
        let mut product: u64 = factor.max(1);
        for i in 0..cardinalities {
            let c = b.cardinality(i).unwrap_or(b.doc_count).max(1);
            product = product.saturating_mul(c);
        }
        pairs = pairs.min(product);
    }
    Some(LeadValue {
        key,
        events: b.doc_count,
        pairs,
    })
}

/// Splits the lead values (in composite order) into consecutive ranges whose estimated
/// pairs stay within `capacity` (a page of buckets, less a margin for the estimate's
/// error), greedily in order. A lead value above `capacity` on its own gets a range of
/// its own (its partition pages). One partition (the whole key space) when everything
/// fits.
pub fn split(leads: &[LeadValue], capacity: u64) -> Vec<Partition> {
    let mut bounds: Vec<Value> = Vec::new();
    let mut acc: u64 = 0;
    for (i, l) in leads.iter().enumerate() {
        if acc > 0 && acc.saturating_add(l.pairs) > capacity {
            bounds.push(leads[i - 1].key.clone());
            acc = 0;
        }
        acc = acc.saturating_add(l.pairs);
    }
    let mut parts = Vec::with_capacity(bounds.len() + 1);
    let mut gt: Option<Value> = None;
    for b in bounds {
        parts.push(Partition {
            gt: gt.take(),
            lte: Some(b.clone()),
        });
        gt = Some(b);
    }
    parts.push(Partition { gt, lte: None });
    parts
}

/// The pair capacity of one partition for pages of `page_size` buckets: 90% of a page,
/// so a cardinality estimate a few percent low still fits one page.
pub fn capacity(page_size: u32) -> u64 {
    (u64::from(page_size) * 9 / 10).max(1)
}

/// The lead request of a count: a composite over the lead field alone (so it pages like
/// any count when the lead has more values than a page holds), each bucket with the
/// `cardinality` of every other field (`c0`, `c1`, ...) when `others` is `Some`.
/// Elasticsearch reads one field's ordinals per event: far cheaper than a page of pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadPlan {
    pub use_case: String,
    pub index: String,
    pub query: Value,
    pub field: String,
    /// The name of the counting plan's first source (the lead value's name in its keys).
    pub source: String,
    /// The other sources' fields when they are at most [`MAX_CARDINALITIES`] and every
    /// other source is a field or a date histogram of known size; `None` otherwise (the
    /// estimate is then the events).
    pub others: Option<Vec<String>>,
    /// The buckets of the date histogram source per combination of the fields (1 without
    /// one): the cardinality product is multiplied by it.
    pub factor: u64,
    pub page_size: u32,
    pub preference: String,
}

impl LeadPlan {
    /// The lead request of `plan`, whose first source is a `terms` source on a field.
    /// `None` when the plan's first source is not one, or it has no other source.
    pub fn of(plan: &dyn PageRequest) -> Option<LeadPlan> {
        let sources = plan.source_fields();
        let (Some((source, Some(field))), true) = (sources.first(), sources.len() > 1) else {
            return None;
        };
        let fields: Vec<String> = sources[1..].iter().filter_map(|(_, f)| f.clone()).collect();
        let factor = match (sources.len() - 1 - fields.len(), plan.time_buckets()) {
            (0, _) => Some(1),
            (1, Some(t)) => Some(t),
            _ => None,
        };
        let others = factor
            .filter(|_| fields.len() <= MAX_CARDINALITIES)
            .map(|_| fields);
        Some(LeadPlan {
            use_case: plan.use_case().to_string(),
            index: plan.index().to_string(),
            query: plan.query().clone(),
            field: field.clone(),
            source: source.clone(),
            factor: factor.unwrap_or(1),
            others,
            page_size: plan.page_size(),
            preference: format!("esoutliers-{}", plan.use_case()),
        })
    }

    /// The number of cardinality sub-aggregations in each bucket.
    pub fn cardinalities(&self) -> usize {
        self.others.as_ref().map_or(0, Vec::len)
    }
}

impl PageRequest for LeadPlan {
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
    fn source_fields(&self) -> Vec<(String, Option<String>)> {
        vec![(LEAD_SOURCE.to_string(), Some(self.field.clone()))]
    }
    /// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-aggregations-metrics-cardinality-aggregation.html>
    fn page_body(&self, after: Option<&AfterKey>) -> Value {
        let mut composite = json!({
            "size": self.page_size,
            "sources": [ { LEAD_SOURCE: { "terms": { "field": self.field } } } ]
        });
        if let Some(a) = after {
            composite["after"] = json!(a);
        }
        let mut pairs = json!({ "composite": composite });
        if let Some(others) = &self.others {
            let subs: serde_json::Map<String, Value> = others
                .iter()
                .enumerate()
                .map(|(i, f)| (format!("c{i}"), json!({ "cardinality": { "field": f } })))
                .collect();
            pairs["aggs"] = Value::Object(subs);
        }
        json!({
            "size": 0,
            "track_total_hits": after.is_none(),
            "query": self.query,
            "aggs": { PAIRS_AGG: pairs }
        })
    }
    fn page_params(&self) -> Vec<(&'static str, String)> {
        super::composite_params(&self.preference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(key: Value, events: u64, pairs: u64) -> LeadValue {
        LeadValue { key, events, pairs }
    }

    #[test]
    fn split_keeps_one_whole_partition_when_the_pairs_fit() {
        let leads = vec![lead(json!("a"), 10, 4), lead(json!("b"), 10, 5)];
        assert_eq!(split(&leads, 9), vec![Partition::whole()]);
        assert_eq!(split(&[], 9), vec![Partition::whole()]);
    }

    #[test]
    fn split_ranges_cover_every_value_and_share_their_bounds() {
        let leads: Vec<LeadValue> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|k| lead(json!(k), 100, 4))
            .collect();
        let parts = split(&leads, 8);
        assert_eq!(
            parts,
            vec![
                Partition {
                    gt: None,
                    lte: Some(json!("b"))
                },
                Partition {
                    gt: Some(json!("b")),
                    lte: Some(json!("d"))
                },
                Partition {
                    gt: Some(json!("d")),
                    lte: None
                },
            ]
        );
        // Every value, also one the lead request never saw, is in exactly one partition.
        for v in ["", "a", "b", "bb", "c", "d", "d0", "zzz"] {
            let n = parts.iter().filter(|p| p.holds(&json!(v))).count();
            assert_eq!(n, 1, "{v}");
        }
    }

    #[test]
    fn a_value_larger_than_a_page_gets_a_partition_of_its_own() {
        let leads = vec![
            lead(json!(1), 5, 5),
            lead(json!(2), 500, 500),
            lead(json!(3), 5, 5),
        ];
        let parts = split(&leads, 100);
        assert_eq!(parts.len(), 3);
        assert!(parts[1].holds(&json!(2)) && !parts[1].holds(&json!(1)));
        assert!(parts[2].holds(&json!(3)));
    }

    #[test]
    fn strings_compare_by_bytes_as_lucene_terms() {
        // Upper case sorts before lower case, and a longer string after its prefix.
        assert_eq!(compare(&json!("Z"), &json!("a")), Some(Ordering::Less));
        assert_eq!(compare(&json!("ab"), &json!("a")), Some(Ordering::Greater));
        // é (C3 A9) after z (7A).
        assert_eq!(compare(&json!("é"), &json!("z")), Some(Ordering::Greater));
        assert_eq!(compare(&json!(9), &json!(10)), Some(Ordering::Less));
        assert_eq!(
            compare(&json!(9007199254740993i64), &json!(9007199254740992i64)),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(&json!(1.5), &json!(2)), Some(Ordering::Less));
        assert_eq!(compare(&json!("1"), &json!(1)), None);
    }

    #[test]
    fn clause_is_a_range_with_the_partition_bounds() {
        let p = Partition {
            gt: Some(json!("b")),
            lte: Some(json!("d")),
        };
        assert_eq!(
            p.clause("host.name"),
            Some(json!({ "range": { "host.name": { "gt": "b", "lte": "d" } } }))
        );
        assert_eq!(Partition::whole().clause("host.name"), None);
        let q = json!({ "match_all": {} });
        assert_eq!(Partition::whole().narrow(&q, "f"), q);
    }

    #[test]
    fn the_pair_estimate_is_the_smaller_of_events_and_the_cardinality_product() {
        let b: CompositeBucket = serde_json::from_value(json!({
            "key": { "lead": "h1" }, "doc_count": 1000,
            "c0": { "value": 7 }, "c1": { "value": 9 }
        }))
        .unwrap();
        assert_eq!(lead_value(&b, 2, 1).unwrap().pairs, 63);
        assert_eq!(lead_value(&b, 2, 10).unwrap().pairs, 630);
        assert_eq!(lead_value(&b, 1, 1).unwrap().pairs, 7);
        assert_eq!(lead_value(&b, 0, 1).unwrap().pairs, 1000);
        let big: CompositeBucket = serde_json::from_value(json!({
            "key": { "lead": "h1" }, "doc_count": 50,
            "c0": { "value": 70 }, "c1": { "value": 90 }
        }))
        .unwrap();
        assert_eq!(lead_value(&big, 2, 1).unwrap().pairs, 50);
    }
}
