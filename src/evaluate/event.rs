//! Stage `evaluate` (PURE): reading field values out of one event's `_source`, exactly as
//! the tagging script (`tag/outliers.painless`) reads them, so that whitelist checks and
//! tagging agree on which outlier pair(s) an event belongs to.

use serde_json::Value;

use crate::config::SummaryTemplate;
use crate::plan::render;

/// The values of `path` in `source`: the key as written first (`"a.b"` as one key), then
/// the nested walk `a` -> `b`. A list gives each non-null element; a missing field gives
/// nothing.
pub fn values(source: &Value, path: &str) -> Vec<String> {
    match value(source, path) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter(|v| !v.is_null()).map(render).collect(),
        Some(v) => vec![render(v)],
    }
}

/// The value at `path` in `source`, as [`values`] finds it (the key as written first,
/// then the nested walk); `None` when missing.
pub fn value<'a>(source: &'a Value, path: &str) -> Option<&'a Value> {
    source.get(path).or_else(|| {
        let mut cur = source;
        for part in path.split('.') {
            cur = cur.get(part)?;
        }
        Some(cur)
    })
}

/// Every combination of the values of `paths`, each joined with ` - ` (ee-outliers' join).
/// Empty when any field is missing.
pub fn combos(source: &Value, paths: &[String]) -> Vec<Vec<String>> {
    let mut acc: Vec<Vec<String>> = vec![Vec::new()];
    for p in paths {
        let vals = values(source, p);
        acc = acc
            .iter()
            .flat_map(|prefix| {
                vals.iter().map(move |v| {
                    let mut c = prefix.clone();
                    c.push(v.clone());
                    c
                })
            })
            .collect();
    }
    acc
}

/// The summary with placeholders filled from this event (lists joined with `, `; a missing
/// field stays `{field}`), as the tagging script fills it. `path` maps a field name to its
/// `_source` path.
pub fn fill_summary(
    template: &SummaryTemplate,
    source: &Value,
    path: impl Fn(&str) -> String,
) -> String {
    template.fill(|field| {
        let v = values(source, &path(field));
        (!v.is_empty()).then(|| v.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_keys_and_nested_objects_both_resolve() {
        let flat = json!({"process.name": "cmd.exe"});
        let nested = json!({"process": {"name": "cmd.exe"}});
        assert_eq!(values(&flat, "process.name"), vec!["cmd.exe"]);
        assert_eq!(values(&nested, "process.name"), vec!["cmd.exe"]);
        assert!(values(&nested, "process.pid").is_empty());
    }

    #[test]
    fn list_fields_give_every_combination() {
        let ev = json!({"a": ["x", "y"], "b": {"c": ["1", "2"]}, "n": 5});
        let c = combos(&ev, &["a".into(), "b.c".into(), "n".into()]);
        assert_eq!(c.len(), 4);
        assert!(c.contains(&vec!["y".to_string(), "2".to_string(), "5".to_string()]));
        assert!(combos(&ev, &["a".into(), "missing".into()]).is_empty());
    }
}
