//! Property: for random small event sets, what esoutliers computes by pushing the counting
//! down to Elasticsearch equals a direct in-memory evaluation of the same events, written
//! here independently and plainly (no code shared with `src/evaluate`).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::harness::{esoutliers, hours_ago, path_str, TestIndex};

/// (method, trigger_on, sensitivity)
const TRIGGERS: [(&str, &str, f64); 7] = [
    ("pct_of_avg_value", "low", 10.0),
    ("pct_of_avg_value", "low", 50.0),
    ("pct_of_max_value", "low", 20.0),
    ("stdev", "high", 1.0),
    ("percentile", "low", 30.0),
    ("mad", "high", 1.0),
    ("float", "low", 3.0),
];

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}
fn pstdev(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

/// The frontier, straight from SPEC section 3.
fn naive_frontier(method: &str, on: &str, s: f64, v: &[f64]) -> f64 {
    let sign = if on == "high" { 1.0 } else { -1.0 };
    match method {
        // x * (s / 100), in ee-outliers' order of operations (it can differ from
        // x * s / 100 in the last bit, which matters for counts at the frontier).
        "pct_of_avg_value" => mean(v) * (s / 100.0),
        "pct_of_max_value" => v.iter().cloned().fold(f64::MIN, f64::max) * (s / 100.0),
        "stdev" => mean(v) + sign * s * pstdev(v),
        "percentile" => {
            let d: Vec<f64> = v
                .iter()
                .map(|x| *x as u64)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(|x| x as f64)
                .collect();
            let rank = s / 100.0 * (d.len() - 1) as f64;
            // numpy 1.16's linear interpolation, written as it writes it.
            let lo = rank.floor() as usize;
            let hi = (lo + 1).min(d.len() - 1);
            let w = rank - lo as f64;
            d[lo] * (1.0 - w) + d[hi] * w
        }
        "mad" => {
            let med = median(v);
            let dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
            let m = median(&dev);
            if m == 0.0 {
                mean(v) + sign * pstdev(v)
            } else {
                med + sign * s * m
            }
        }
        "float" => s,
        other => panic!("{other}"),
    }
}

/// A random event: parent index, child names (one, or a list of two).
fn events() -> impl Strategy<Value = Vec<(usize, Vec<usize>)>> {
    prop::collection::vec((0usize..3, prop::collection::vec(0usize..6, 1..=2)), 5..120)
}

fn expected(
    events: &[(usize, Vec<usize>)],
    (method, on, s): (&str, &str, f64),
) -> BTreeSet<(String, String, u64)> {
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (p, children) in events {
        let distinct: BTreeSet<&usize> = children.iter().collect();
        for c in distinct {
            *counts
                .entry(format!("p{p}.exe"))
                .or_default()
                .entry(format!("c{c}.exe"))
                .or_default() += 1;
        }
    }
    let mut out = BTreeSet::new();
    for (parent, children) in counts {
        let values: Vec<f64> = children.values().map(|n| *n as f64).collect();
        let f = naive_frontier(method, on, s, &values);
        for (child, n) in children {
            let x = n as f64;
            if (on == "low" && x < f) || (on == "high" && x > f) {
                out.insert((parent.clone(), child, n));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn pushdown_equals_in_memory_evaluation(evs in events(), t in 0usize..TRIGGERS.len()) {
        let (method, on, s) = TRIGGERS[t];
        let idx = TestIndex::new("prop");
        let docs: Vec<(String, Value)> = evs
            .iter()
            .enumerate()
            .map(|(i, (p, cs))| {
                let name: Value = if cs.len() == 1 { json!(format!("c{}.exe", cs[0])) } else { json!(cs.iter().map(|c| format!("c{c}.exe")).collect::<Vec<_>>()) };
                (format!("e{i}"), json!({ "@timestamp": hours_ago(1.0), "process": { "name": name, "parent": { "name": format!("p{p}.exe") } } }))
            })
            .collect();
        idx.load(&docs);
        let conf = idx.config(
            "",
            &format!(
                "[terms_prop]\naggregator=process.parent.name\ntarget=process.name\ntarget_count_method=within_aggregator\n\
trigger_on={on}\ntrigger_method={method}\ntrigger_sensitivity={s}\noutlier_type=t\noutlier_reason=r\noutlier_summary=s {{process.name}}\n"
            ),
        );
        let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json", "--dry-run"]);
        prop_assert_eq!(run.code, 0, "{}", run.stderr);
        let got: BTreeSet<(String, String, u64)> = run.json()["use_cases"][0]["outliers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["aggregator"].as_str().unwrap().to_string(), o["target"].as_str().unwrap().to_string(), o["term_count"].as_u64().unwrap()))
            .collect();
        prop_assert_eq!(got, expected(&evs, (method, on, s)), "{} {} {}", method, on, s);
    }
}
