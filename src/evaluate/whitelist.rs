//! Stage `evaluate` (PURE): whitelist matching (SPEC section 5).
//!
//! The strings checked are every value of the event (all fields, nested objects walked,
//! lists expanded, each trimmed) plus the outlier information. A literal entry matches
//! when ALL its parts are among those strings exactly; a regexp entry when EVERY regex
//! matches (unanchored search, like Python's `re.search`) at least one string.

use serde_json::Value;

use crate::config::Whitelist;

/// Every leaf value of the event, trimmed. Scalars are rendered as ee-outliers (Python)
/// renders them: `True`/`False` for booleans, numbers as JSON writes them; nulls skipped.
pub fn event_strings(source: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(source, &mut out);
    out
}

fn walk(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push(if *b { "True".into() } else { "False".into() }),
        Value::Number(n) => out.push(n.to_string()),
        Value::String(s) => out.push(s.trim().to_string()),
        Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
        Value::Object(map) => map.values().for_each(|i| walk(i, out)),
    }
}

/// True when any entry of `wl` covers these strings.
pub fn is_whitelisted(wl: &Whitelist, strings: &[String]) -> bool {
    wl.literals
        .iter()
        .any(|e| e.values.iter().all(|v| strings.iter().any(|s| s == v)))
        || wl.regexps.iter().any(|e| {
            e.patterns
                .iter()
                .all(|r| strings.iter().any(|s| r.is_match(s)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LiteralEntry, RegexpEntry};
    use serde_json::json;

    fn strings() -> Vec<String> {
        event_strings(
            &json!({"host": {"name": " ws-1 "}, "process": {"name": ["cmd.exe", "x.exe"]}, "ok": true, "n": 3, "z": null}),
        )
    }

    #[test]
    fn event_strings_walk_every_value_trimmed() {
        let s = strings();
        for want in ["ws-1", "cmd.exe", "x.exe", "True", "3"] {
            assert!(s.contains(&want.to_string()), "{want} in {s:?}");
        }
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn literal_entry_needs_all_its_values() {
        let wl = |vals: &[&str]| Whitelist {
            literals: vec![LiteralEntry {
                name: "x".into(),
                values: vals.iter().map(|v| v.to_string()).collect(),
            }],
            regexps: vec![],
        };
        assert!(is_whitelisted(&wl(&["ws-1", "cmd.exe"]), &strings()));
        assert!(!is_whitelisted(&wl(&["ws-1", "notepad.exe"]), &strings()));
        assert!(
            !is_whitelisted(&wl(&["ws"]), &strings()),
            "literal means exact"
        );
    }

    #[test]
    fn regexp_entry_needs_every_regex_to_match_some_string() {
        let wl = |pats: &[&str]| Whitelist {
            literals: vec![],
            regexps: vec![RegexpEntry {
                name: "r".into(),
                patterns: pats.iter().map(|p| regex::Regex::new(p).unwrap()).collect(),
            }],
        };
        assert!(is_whitelisted(&wl(&["^ws-\\d$", "cmd"]), &strings()));
        assert!(!is_whitelisted(
            &wl(&["^ws-\\d$", "^powershell"]),
            &strings()
        ));
        assert!(!is_whitelisted(&Whitelist::default(), &strings()));
    }
}
