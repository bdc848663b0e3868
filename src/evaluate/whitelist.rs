//! Stage `evaluate` (PURE): whitelists (SPEC section 5): which strings an outlier is
//! checked with, whether an entry covers them, and the re-evaluation after whitelisted
//! events are taken out of the counts.
//!
//! Must not: fetch events (the caller does, and hands them in or answers through a
//! closure), log, or depend on the order of the strings.
//!
//! What ee-outliers does, reproduced here (`app/helpers/outlier.py`, `Outlier.is_whitelisted`
//! and `is_whitelisted_doc`; `app/helpers/utils.py`, `nested_dict_values`):
//! - it checks the strings of `{"outlier_dict": <outlier info>, "additional_dict_to_check":
//!   <the whole search hit>}`: dicts are walked recursively; a list met as a dict value
//!   gives `str(item).strip()` for each item (a dict or list INSIDE a list is not walked:
//!   it becomes its Python repr, e.g. `{'a': 1}`); every other value gives
//!   `str(value).strip()` (`True`/`False`, `None` for null, Python float repr);
//! - a literal entry matches when the set of its comma-separated, stripped values is a
//!   subset of those strings (exact, case-sensitive);
//! - a regexp entry matches when every one of its comma-separated regexes (stripped,
//!   compiled with `re.IGNORECASE`) satisfies `regex.match(s)` for at least one string:
//!   `re.match` is anchored at the START of the string only (not at its end);
//! - any entry matching whitelists the outlier.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use serde_json::Value;

use crate::config::{TriggerSpec, Whitelist};
use crate::evaluate::pystr::{str_of, strip};
use crate::evaluate::{within, Finding, Observation};

/// An (aggregator values, target values) pair: the key of a within_aggregator count.
pub type PairKey = (Vec<String>, Vec<String>);

/// `model_type` as ee-outliers writes it for this model (the section prefix).
pub const MODEL_TYPE: &str = "terms";

/// Every value of an event, as ee-outliers' whitelist sees them: objects walked, lists
/// expanded one level (a nested object or list inside a list becomes its Python repr),
/// scalars rendered by Python's `str()` (see [`crate::evaluate::pystr`]), each stripped of
/// Python whitespace. Nulls give `None` (Python's `str(None)`). In walk order, duplicates
/// kept (matching treats the strings as a set).
///
/// ee-outliers checks the whole search HIT, not only `_source`: pass
/// `{"_index": .., "_id": .., "_source": ..}` to have the index name and the document id
/// among the strings as well.
pub fn event_strings(source: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match source {
        Value::Object(_) => walk(source, &mut out),
        other => push_field_value(other, &mut out),
    }
    out
}

/// `nested_dict_values`: recurse into objects, everything else is a field value.
fn walk(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => map.values().for_each(|v| walk(v, out)),
        other => push_field_value(other, out),
    }
}

/// One dict value: a list gives one string per item, anything else one string.
fn push_field_value(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => out.extend(items.iter().map(|i| strip(&str_of(i)).to_string())),
        Value::Object(_) => walk(value, out),
        other => out.push(strip(&str_of(other)).to_string()),
    }
}

/// The outlier's own values that ee-outliers adds to the strings a whitelist sees (its
/// `outlier_dict` at the time of the check, `helpers/outlier.py` `is_whitelisted_doc`):
/// every value of the entry that `tag` builds for the event (`type` and `reason` items
/// with placeholders filled, the wrapped summary, `elasticsearch_filter`, copied keys,
/// `term_count`, `aggregator`, `term`, `decision_frontier` as a Python float, the sample
/// string, `trigger_method`, `model_name`, `model_type`), each `str()` and stripped; a
/// list gives one string per item (an empty sample gives none).
pub fn entry_strings(entry: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for v in entry.values().filter(|v| !v.is_null()) {
        push_field_value(v, &mut out);
    }
    out
}

/// True when any entry of `wl` covers `strings` (event strings plus outlier strings):
/// a literal entry when ALL its values are among the strings exactly; a regexp entry when
/// EVERY regex matches at the start of at least one string (Python's `re.match`).
pub fn is_whitelisted(wl: &Whitelist, strings: &[String]) -> bool {
    wl.literals
        .iter()
        .any(|e| e.values.iter().all(|v| strings.contains(v)))
        || wl.regexps.iter().any(|e| {
            e.patterns
                .iter()
                .all(|r| strings.iter().any(|s| matches_at_start(r, s)))
        })
}

/// Python's `re.match`: a match that starts at position 0 (it may end anywhere).
/// `Regex::find` returns the leftmost match, so a match at 0 exists exactly when the
/// leftmost one starts there.
pub fn matches_at_start(re: &Regex, s: &str) -> bool {
    re.find(s).is_some_and(|m| m.start() == 0)
}

/// The group's observations with whitelisted events taken out: for each (aggregator,
/// target) pair, `removed` says how many of its events are whitelisted. Counts saturate at
/// 0 and pairs left at 0 are dropped (they no longer have events, so they no longer count
/// as targets, also for `min_target_buckets`). Order is kept.
pub fn subtract(group: &[Observation], removed: &BTreeMap<PairKey, u64>) -> Vec<Observation> {
    group
        .iter()
        .filter_map(|o| {
            let gone = removed
                .get(&(o.aggregator.clone(), o.target.clone()))
                .copied()
                .unwrap_or(0);
            let doc_count = o.doc_count.saturating_sub(gone);
            (doc_count > 0).then(|| Observation {
                doc_count,
                ..o.clone()
            })
        })
        .collect()
}

/// The outcome of [`reevaluate_within`].
#[derive(Debug, Clone, PartialEq)]
pub struct Reevaluation<I> {
    /// The final findings: none of their pairs has a whitelisted event left in the counts.
    pub findings: Vec<Finding>,
    /// The group's observations with every whitelisted event taken out (what the final
    /// findings were computed from).
    pub observations: Vec<Observation>,
    /// Per pair, the ids of its whitelisted events (never tag these). Pairs with none are
    /// absent.
    pub whitelisted: BTreeMap<PairKey, BTreeSet<I>>,
    /// Evaluations done (1 when nothing was whitelisted).
    pub rounds: usize,
}

/// Whitelist re-evaluation of ONE aggregator (within_aggregator), as ee-outliers does it
/// (`_evaluate_aggregator_for_outliers_within`): evaluate; if any outlier event is
/// whitelisted, take those events out of the counts and evaluate again (the frontier
/// moves, other pairs may become outliers or stop being ones); stop when a round finds no
/// new whitelisted event among its outliers. The last round's findings are the result.
///
/// `whitelisted_events(finding)` answers, for one finding of the current round, the ids of
/// its pair's events that are whitelisted when checked with THIS finding's information
/// (its `term_count`, `decision_frontier`, sample change from round to round, as
/// ee-outliers rebuilds its outlier objects each round). It is called once per finding per
/// round, so the caller should fetch a pair's events once and keep their
/// [`event_strings`]; ids it returned before may be returned again (they are kept in a set).
///
/// Always terminates: a round that continues adds an event of a pair that still has
/// events, so the events left go down by at least one per round (at most
/// 1 + sum of `doc_count` rounds).
pub fn reevaluate_within<I: Ord>(
    spec: &TriggerSpec,
    min_target_buckets: Option<u64>,
    group: &[Observation],
    mut whitelisted_events: impl FnMut(&Finding) -> BTreeSet<I>,
) -> Reevaluation<I> {
    let mut whitelisted: BTreeMap<PairKey, BTreeSet<I>> = BTreeMap::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let removed: BTreeMap<PairKey, u64> = whitelisted
            .iter()
            .map(|(k, ids)| (k.clone(), ids.len() as u64))
            .collect();
        let observations = subtract(group, &removed);
        let findings = within::evaluate_aggregator(spec, min_target_buckets, &observations);
        let mut found_new = false;
        for f in &findings {
            let ids = whitelisted_events(f);
            if ids.is_empty() {
                continue;
            }
            let target = f.target.clone().unwrap_or_default();
            let known = whitelisted
                .entry((f.aggregator.clone(), target))
                .or_default();
            for id in ids {
                found_new |= known.insert(id);
            }
        }
        if !found_new {
            return Reevaluation {
                findings,
                observations,
                whitelisted,
                rounds,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{
        CountMethod, Filter, LiteralEntry, Location, RegexpEntry, SummaryPart, SummaryTemplate,
        TriggerMethod, TriggerOn, UseCase,
    };
    use crate::evaluate::join;
    use serde_json::json;

    fn literal(values: &[&str]) -> Whitelist {
        Whitelist {
            literals: vec![LiteralEntry {
                name: "l".into(),
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
            regexps: vec![],
        }
    }

    fn regexps(patterns: &[&str]) -> Whitelist {
        Whitelist {
            literals: vec![],
            regexps: vec![RegexpEntry {
                name: "r".into(),
                patterns: patterns
                    .iter()
                    .map(|p| Regex::new(&format!("(?i){p}")).unwrap())
                    .collect(),
            }],
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn event() -> Value {
        json!({
            "host": {"name": " ws-1 "},
            "process": {"name": ["cmd.exe", "x.exe"], "pid": 4321, "elevated": true},
            "score": 0.5,
            "gone": null,
            "tags": ["endpoint", {"k": "v"}, ["a", 1]],
            "empty": {}
        })
    }

    #[test]
    fn event_strings_walk_objects_and_expand_lists_one_level() {
        let mut s = event_strings(&event());
        s.sort();
        let mut want = strings(&[
            "ws-1",
            "cmd.exe",
            "x.exe",
            "4321",
            "True",
            "0.5",
            "None",
            "endpoint",
            "{'k': 'v'}",
            "['a', 1]",
        ]);
        want.sort();
        assert_eq!(s, want);
    }

    #[test]
    fn event_strings_of_a_whole_hit_include_index_and_id() {
        let hit = json!({"_index": "logs-2024", "_id": "abc", "_source": {"user": "bob"}});
        assert_eq!(event_strings(&hit), strings(&["abc", "logs-2024", "bob"]));
    }

    #[test]
    fn literal_entry_needs_all_its_values_exactly() {
        let s = event_strings(&event());
        assert!(is_whitelisted(&literal(&["ws-1", "cmd.exe"]), &s));
        assert!(!is_whitelisted(&literal(&["ws-1", "notepad.exe"]), &s));
        assert!(!is_whitelisted(&literal(&["ws"]), &s), "literal is exact");
        assert!(
            !is_whitelisted(&literal(&["CMD.EXE"]), &s),
            "and case-sensitive"
        );
        assert!(is_whitelisted(&literal(&["True", "4321"]), &s));
    }

    #[test]
    fn regexp_entry_needs_every_regex_to_match_some_string() {
        let s = event_strings(&event());
        assert!(is_whitelisted(&regexps(&[r"ws-\d", "cmd"]), &s));
        assert!(!is_whitelisted(&regexps(&[r"ws-\d", "^powershell"]), &s));
        assert!(
            is_whitelisted(&regexps(&["CMD"]), &s),
            "compiled case-insensitively"
        );
        assert!(!is_whitelisted(&Whitelist::default(), &s));
    }

    #[test]
    fn regexp_matches_only_at_the_start_like_python_re_match() {
        // re.match("exe", "cmd.exe") is None; re.match("cmd", "cmd.exe") matches, and so
        // does re.match("cmd", "cmd.exe.bak"): anchored at the start, not at the end.
        let s = strings(&["cmd.exe.bak"]);
        assert!(!is_whitelisted(&regexps(&["exe"]), &s));
        assert!(is_whitelisted(&regexps(&["cmd"]), &s));
        assert!(is_whitelisted(&regexps(&[r".*\.exe"]), &s));
        assert!(matches_at_start(&Regex::new("b|ab").unwrap(), "ab"));
    }

    #[test]
    fn any_matching_entry_whitelists() {
        let wl = Whitelist {
            literals: literal(&["nope"]).literals,
            regexps: regexps(&["x\\.exe"]).regexps,
        };
        assert!(is_whitelisted(&wl, &event_strings(&event())));
    }

    fn use_case(whitelist: Whitelist) -> UseCase {
        UseCase {
            name: "terms_rare_childname".into(),
            model_name: "rare_childname".into(),
            location: Location {
                file: "test.conf".into(),
                line: 1,
                section: Some("terms_rare_childname".into()),
                key: None,
            },
            index_pattern: "logs-*".into(),
            timestamp_field: "@timestamp".into(),
            history_window_hours: 24,
            baseline_window_hours: None,
            filter: Filter::None,
            aggregator: vec!["parent".into()],
            target: vec!["child".into()],
            count_method: CountMethod::WithinAggregator,
            trigger: TriggerSpec {
                on: TriggerOn::Low,
                method: TriggerMethod::PctOfAvgValue,
                sensitivity: 5.0,
            },
            min_target_buckets: None,
            outlier_type: "process execution, rare".into(),
            outlier_reason: "rare child process".into(),
            outlier_summary: SummaryTemplate {
                raw: "rare child {child}".into(),
                parts: vec![
                    SummaryPart::Text("rare child ".into()),
                    SummaryPart::Field("child".into()),
                ],
            },
            run_model: true,
            test_model: false,
            should_notify: false,
            whitelist,
            save_results: false,
            model: crate::config::ModelSpec::Terms,
            elasticsearch_filter: String::new(),
            copied: Vec::new(),
        }
    }

    /// An entry as `tag::entry` builds it for a terms outlier.
    fn entry(frontier: f64, sample: Value) -> serde_json::Map<String, Value> {
        json!({
            "type": ["process execution", "rare"], "reason": ["rare child process"],
            "summary": "rare child cmd.exe ", "elasticsearch_filter": "x:1",
            "model_name": "rare_childname", "model_type": "terms",
            "non_outlier_values_sample": sample, "term_count": 1,
            "aggregator": "svchost.exe", "term": "cmd.exe",
            "decision_frontier": frontier, "trigger_method": "pct_of_avg_value"
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn entry_strings_are_the_str_of_every_outlier_value_stripped() {
        let mut s = entry_strings(&entry(2.45, json!("a.exe,b.exe")));
        s.sort();
        let mut want = strings(&[
            "process execution",
            "rare",
            "rare child process",
            "rare child cmd.exe",
            "x:1",
            "rare_childname",
            "terms",
            "a.exe,b.exe",
            "1",
            "svchost.exe",
            "cmd.exe",
            "2.45",
            "pct_of_avg_value",
        ]);
        want.sort();
        assert_eq!(s, want);
        // integral frontiers read as Python floats: 2.0, not 2; an empty sample ([])
        // adds nothing.
        let s = entry_strings(&entry(2.0, json!([])));
        assert!(s.contains(&"2.0".to_string()));
        assert!(!s.contains(&String::new()), "{s:?}");
    }

    #[test]
    fn outlier_information_can_whitelist_too() {
        // a literal on the model name and the target: event strings alone do not have
        // the model name.
        let uc = use_case(literal(&["rare_childname", "cmd.exe"]));
        let ev = event_strings(&json!({"parent": "svchost.exe", "child": "cmd.exe"}));
        assert!(!is_whitelisted(&uc.whitelist, &ev));
        let mut all = ev.clone();
        all.extend(entry_strings(&entry(2.45, json!([]))));
        assert!(is_whitelisted(&uc.whitelist, &all));
    }

    fn obs(t: &str, n: u64) -> Observation {
        Observation {
            aggregator: vec!["svchost.exe".into()],
            target: vec![t.into()],
            doc_count: n,
        }
    }

    #[test]
    fn subtract_takes_whitelisted_events_out_and_drops_emptied_pairs() {
        let group = [obs("a", 10), obs("b", 3), obs("c", 2)];
        let key = |t: &str| (vec!["svchost.exe".to_string()], vec![t.to_string()]);
        let removed = BTreeMap::from([(key("b"), 2), (key("c"), 5), (key("zzz"), 1)]);
        assert_eq!(subtract(&group, &removed), vec![obs("a", 10), obs("b", 1)]);
        assert_eq!(subtract(&group, &BTreeMap::new()), group.to_vec());
    }

    #[test]
    fn whitelist_reevaluation_moves_the_frontier_until_no_whitelisted_outlier_is_left() {
        // svchost.exe's children: a 96, b 96, w 1 (its one event is whitelisted), y 3.
        // Round 1: mean (96 + 96 + 1 + 3) / 4 = 49; 5% -> 2.45: w (1) flagged, y (3) not.
        //   w's event is whitelisted -> taken out.
        // Round 2: [a 96, b 96, y 3]: mean 195 / 3 = 65; 5% -> 3.25: y (3) flagged; its
        //   events are not whitelisted -> done.
        let uc = use_case(literal(&["w.exe-signer"]));
        let group = [obs("a", 96), obs("b", 96), obs("w", 1), obs("y", 3)];
        // The events of each pair, as the caller would fetch them (id, _source).
        let events: BTreeMap<&str, Vec<(&str, Value)>> = BTreeMap::from([
            (
                "w",
                vec![("ev-w1", json!({"child": "w", "signer": "w.exe-signer"}))],
            ),
            (
                "y",
                vec![
                    ("ev-y1", json!({"child": "y"})),
                    ("ev-y2", json!({"child": "y"})),
                    ("ev-y3", json!({"child": "y"})),
                ],
            ),
        ]);
        let mut asked: Vec<(String, u64, f64)> = Vec::new();
        let r = reevaluate_within(&uc.trigger, None, &group, |f: &Finding| {
            let target = f.target.clone().unwrap();
            asked.push((join(&target), f.term_count, f.decision_frontier));
            events
                .get(target[0].as_str())
                .into_iter()
                .flatten()
                .filter(|(_, source)| {
                    let mut s = event_strings(source);
                    s.push(f.aggregator_joined());
                    s.push(join(&target));
                    is_whitelisted(&uc.whitelist, &s)
                })
                .map(|(id, _)| id.to_string())
                .collect()
        });
        assert_eq!(r.rounds, 2);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].target_joined().as_deref(), Some("y"));
        assert_eq!(r.findings[0].decision_frontier, 3.25);
        assert_eq!(r.findings[0].non_outlier_values_sample, vec!["a", "b"]);
        assert_eq!(
            r.observations,
            vec![obs("a", 96), obs("b", 96), obs("y", 3)]
        );
        let w_key = (vec!["svchost.exe".to_string()], vec!["w".to_string()]);
        assert_eq!(
            r.whitelisted,
            BTreeMap::from([(w_key, BTreeSet::from(["ev-w1".to_string()]))])
        );
        assert_eq!(
            asked,
            vec![("w".to_string(), 1, 2.45), ("y".to_string(), 3, 3.25)]
        );
    }

    #[test]
    fn reevaluation_without_whitelisted_events_is_one_round() {
        let spec = TriggerSpec {
            on: TriggerOn::Low,
            method: TriggerMethod::PctOfAvgValue,
            sensitivity: 5.0,
        };
        let group = [obs("a", 96), obs("b", 96), obs("w", 1)];
        let r = reevaluate_within(&spec, None, &group, |_| BTreeSet::<String>::new());
        assert_eq!(r.rounds, 1);
        assert_eq!(r.findings.len(), 1);
        assert!(r.whitelisted.is_empty());
        assert_eq!(r.observations, group.to_vec());
    }

    #[test]
    fn reevaluation_partly_whitelisted_pair_keeps_its_other_events() {
        // [a 100, b 100, w 4]: mean 68, 10% -> 6.8: w flagged. 2 of w's 4 events are
        // whitelisted -> [a 100, b 100, w 2]: mean 67.33, 6.73: w (2) still flagged;
        // the closure returns the same 2 ids again -> nothing new -> done.
        let spec = TriggerSpec {
            on: TriggerOn::Low,
            method: TriggerMethod::PctOfAvgValue,
            sensitivity: 10.0,
        };
        let group = [obs("a", 100), obs("b", 100), obs("w", 4)];
        let r = reevaluate_within(&spec, None, &group, |f| {
            assert_eq!(f.target_joined().as_deref(), Some("w"));
            BTreeSet::from([1, 2])
        });
        assert_eq!(r.rounds, 2);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].term_count, 2);
    }

    #[test]
    fn reevaluation_rechecks_min_target_buckets() {
        // [a 100, b 100, w 1], min 3: w flagged; its only event is whitelisted -> w gone,
        // 2 targets < 3 -> the aggregator is not evaluated: no finding.
        let spec = TriggerSpec {
            on: TriggerOn::Low,
            method: TriggerMethod::PctOfAvgValue,
            sensitivity: 10.0,
        };
        let group = [obs("a", 100), obs("b", 100), obs("w", 1)];
        let r = reevaluate_within(&spec, Some(3), &group, |_| BTreeSet::from(["ev"]));
        assert!(r.findings.is_empty());
        assert_eq!(r.rounds, 2);
    }
}
