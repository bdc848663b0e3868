//! Stage `evaluate` (PURE): `{field}` placeholders of `outlier_summary`, `outlier_type` and
//! `outlier_reason` filled as ee-outliers 0.2.17 fills them (`helpers/utils.py`
//! `replace_placeholder_fields_with_values` and `get_dotkey_value`, called by
//! `helpers/analyzer.py` `_prepare_outlier_parameters`).
//!
//! Must not: fail. Every placeholder has a rendering; a missing field becomes
//! `{field <name> not found in event}`.
//!
//! Rules:
//! - the names are what `\{([^}]*)\}` finds in the text (as written, not trimmed); each is
//!   replaced everywhere with `str.replace`, one name after the other;
//! - a name is looked up in the event's `_source` merged with the outlier's own
//!   information ([`Info`]: `term`, `aggregator`, `term_count`, `decision_frontier`, ...),
//!   where the outlier's information wins over a top-level event field of the same name;
//!   dot by dot, each step case-insensitively (the first key in order whose lower case
//!   matches). esoutliers also finds a flat dotted key (`{"a.b": 1}`) as it counts one;
//!   ee-outliers does not (README, deliberate differences);
//! - a list whose elements are all strings is joined with `", "`; any other list gives
//!   `complex field <name>`; any other value is Python's `str()` ([`str_of`]).

use serde_json::{Map, Value};

use super::pystr::str_of;

/// The outlier's own information, as ee-outliers adds it to the fields a placeholder can
/// name (`extra_outlier_information`), in its order.
pub type Info = Map<String, Value>;

/// The placeholder names in `text`, in order, as ee-outliers finds them.
pub fn names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.push(after[..close].to_string());
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

/// True when a placeholder `name` is answered by the outlier's information alone (its
/// keys `info_keys`), without reading the event.
pub fn is_info(name: &str, info_keys: &[&str]) -> bool {
    !name.contains('.') && info_keys.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// The value a placeholder `name` resolves to in `event` merged with `info`; `None` when
/// not found.
pub fn lookup<'a>(event: &'a Value, info: &'a Info, name: &str) -> Option<&'a Value> {
    let mut segs = name.split('.');
    let first = segs.next().unwrap_or_default().to_lowercase();
    let from_event = event.as_object().and_then(|m| {
        m.iter()
            .find(|(k, _)| k.to_lowercase() == first)
            .map(|(k, v)| info.get(k).unwrap_or(v))
    });
    let top = from_event.or_else(|| {
        info.iter()
            .find(|(k, _)| k.to_lowercase() == first)
            .map(|(_, v)| v)
    });
    let walked = top.and_then(|mut cur| {
        for seg in segs {
            let seg = seg.to_lowercase();
            cur = cur
                .as_object()?
                .iter()
                .find(|(k, _)| k.to_lowercase() == seg)
                .map(|(_, v)| v)?;
        }
        Some(cur)
    });
    walked.or_else(|| event.get(name))
}

/// How a found value is written into the text.
pub fn render(name: &str, value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let strings: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            match strings {
                Some(s) => s.join(", "),
                None => format!("complex field {name}"),
            }
        }
        other => str_of(other),
    }
}

/// `text` with every placeholder filled from `event` and `info`.
pub fn fill(text: &str, event: &Value, info: &Info) -> String {
    let mut out = text.to_string();
    for name in names(text) {
        let value = match lookup(event, info, &name) {
            Some(v) => render(&name, v),
            None => format!("{{field {name} not found in event}}"),
        };
        out = out.replace(&format!("{{{name}}}"), &value);
    }
    out
}

/// `str()` of one value as ee-outliers' `flatten_sentence` gives it: a list of scalars
/// joined with `" - "`, `None` for a dict, a list holding a list or dict, or null.
fn flatten(value: &Value) -> Option<String> {
    match value {
        Value::Null | Value::Object(_) => None,
        Value::Array(items) => {
            if items.iter().any(|i| i.is_array() || i.is_object()) {
                None
            } else {
                Some(items.iter().map(str_of).collect::<Vec<_>>().join(" - "))
            }
        }
        other => Some(str_of(other)),
    }
}

/// `outliers.assets` of one event as ee-outliers 0.2.17 writes it
/// (`helpers/utils.py` `extract_outlier_asset_information`): for each `[assets]` line
/// `field = type`, in file order, the event's value of `field` (looked up as placeholders
/// are, in the event only, not in the outlier's information): a list gives one asset per
/// element, anything else one; each element flattened as `flatten_sentence` does (a
/// nested list of scalars joined with `" - "`); a dict, null or empty string gives none;
/// each written `"<type>: <value>"`. Empty when the event has none (0.2.17 then writes no
/// `assets` key).
pub fn assets(event: &Value, assets: &[(String, String)]) -> Vec<String> {
    let none = Info::new();
    let mut out = Vec::new();
    for (field, kind) in assets {
        let Some(v) = lookup(event, &none, field) else {
            continue;
        };
        let values: Vec<Option<String>> = match v {
            Value::Array(items) => items.iter().map(flatten).collect(),
            other => vec![flatten(other)],
        };
        out.extend(
            values
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .map(|s| format!("{kind}: {s}")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info() -> Info {
        json!({ "term": "cmd.exe", "aggregator": "explorer.exe", "term_count": 1,
                "decision_frontier": 1.25, "non_outlier_values_sample": [] })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn outlier_information_fills_its_own_placeholders() {
        let s = fill(
            "{term} x{term_count} under {aggregator} (< {decision_frontier}) [{non_outlier_values_sample}]",
            &json!({}),
            &info(),
        );
        assert_eq!(s, "cmd.exe x1 under explorer.exe (< 1.25) []");
    }

    #[test]
    fn field_names_match_case_insensitively_step_by_step() {
        let ev = json!({ "OsqueryFilter": { "ParentName": "adobe.exe" } });
        assert_eq!(
            fill("{osqueryfilter.parentname}", &ev, &Info::new()),
            "adobe.exe"
        );
    }

    #[test]
    fn values_render_as_python_str_and_string_lists_whole() {
        let ev = json!({ "ok": false, "n": 2.0, "none": null, "l": ["a.exe", "b.exe"], "mixed": ["a", 1] });
        assert_eq!(
            fill("{ok} {n} {none} {l} {mixed}", &ev, &Info::new()),
            "False 2.0 None a.exe, b.exe complex field mixed"
        );
    }

    #[test]
    fn a_missing_field_says_so_and_a_lone_brace_stays() {
        assert_eq!(
            fill("x {host.name} {", &json!({ "host": "flat" }), &Info::new()),
            "x {field host.name not found in event} {"
        );
    }

    #[test]
    fn outlier_information_wins_over_an_event_field_of_the_same_name() {
        let ev = json!({ "term": "from-event" });
        assert_eq!(fill("{term}", &ev, &info()), "cmd.exe");
    }

    #[test]
    fn a_flat_dotted_key_is_found_as_esoutliers_counts_it() {
        assert_eq!(
            fill(
                "{process.name}",
                &json!({ "process.name": "a" }),
                &Info::new()
            ),
            "a"
        );
    }

    #[test]
    fn names_are_taken_as_written_and_info_names_need_no_event() {
        assert_eq!(names("{a} {b.c}{ d }"), vec!["a", "b.c", " d "]);
        assert!(is_info("Term", &["term"]));
        assert!(!is_info("term.x", &["term"]));
        assert!(!is_info("host.name", &["term"]));
    }

    #[test]
    fn assets_are_type_colon_value_per_element_skipping_dicts_nulls_and_empties() {
        let ev = json!({ "Host": { "Name": "ws-01" }, "user": { "name": ["alice", "", null, ["a", 1]] },
                         "ip": { "addr": { "v4": "10.0.0.1" } }, "flag": true });
        let a = |f: &str, t: &str| (f.to_string(), t.to_string());
        assert_eq!(
            assets(
                &ev,
                &[
                    a("host.name", "host"),
                    a("user.name", "user"),
                    a("ip.addr", "ip"),
                    a("flag", "f"),
                    a("missing", "m")
                ]
            ),
            vec!["host: ws-01", "user: alice", "user: a - 1", "f: True"]
        );
        assert!(assets(&ev, &[]).is_empty());
    }
}
