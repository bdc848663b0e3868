//! Stage `evaluate` (PURE), simplequery model: what ee-outliers 0.2.17 writes from a hit's
//! highlight (`simplequery.py` `_create_outlier`): `matched_fields` is the highlight object
//! itself, `matched_values` the Python `str()` of field -> values found between
//! `<value>` and `</value>`, where a field with several fragments keeps only the values of
//! its LAST fragment (0.2.17 reassigns the list per fragment).
//!
//! Must not: fetch or filter events; whitelists are applied by the caller.

use serde_json::{json, Value};

use crate::es::Highlight;
use crate::evaluate::pystr::repr_of;

/// `outliers.matched_fields`: the highlight as an object (field -> fragments).
pub fn matched_fields(h: &Highlight) -> Value {
    Value::Object(h.0.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

/// `outliers.matched_values`: `str(dict)` of field -> tagged values of its last fragment,
/// fields in the highlight's order. `{}` for an empty highlight.
pub fn matched_values(h: &Highlight) -> String {
    let tagged = regex::Regex::new(r"(?s)<value>(.*?)</value>").expect("a fixed pattern");
    let mut out = String::from("{");
    for (i, (field, fragments)) in h.0.iter().enumerate() {
        let values: Vec<Value> = fragments
            .last()
            .map(|f| {
                tagged
                    .captures_iter(f)
                    .map(|c| json!(c[1].to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&repr_of(&json!(field)));
        out.push_str(": ");
        out.push_str(&repr_of(&Value::Array(values)));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &[&str])]) -> Highlight {
        Highlight(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        )
    }

    #[test]
    fn matched_values_keeps_the_highlight_field_order() {
        let hl = h(&[
            ("user.name", &["<value>admin</value>"]),
            ("labels", &["<value>suspicious</value>"]),
        ]);
        assert_eq!(
            matched_values(&hl),
            "{'user.name': ['admin'], 'labels': ['suspicious']}"
        );
    }

    #[test]
    fn matched_values_keeps_only_the_last_fragment_of_a_field() {
        let hl = h(&[(
            "labels",
            &["<value>suspended</value>", "<value>suspicious</value>"],
        )]);
        assert_eq!(matched_values(&hl), "{'labels': ['suspicious']}");
    }

    #[test]
    fn matched_values_quotes_as_python_str_does() {
        // Python: str({'c': ["it's"]}) == "{'c': [\"it's\"]}"; backslashes doubled.
        let hl = h(&[("c", &["x <value>it's</value> <value>a\\b</value>"])]);
        assert_eq!(matched_values(&hl), "{'c': [\"it's\", 'a\\\\b']}");
    }

    #[test]
    fn values_may_span_lines_and_several_per_fragment() {
        let hl = h(&[("m", &["<value>a\nb</value> and <value>c</value>"])]);
        assert_eq!(matched_values(&hl), "{'m': ['a\\nb', 'c']}");
    }

    #[test]
    fn empty_highlight_gives_empty_dict() {
        assert_eq!(matched_values(&Highlight::default()), "{}");
        assert_eq!(matched_fields(&Highlight::default()), json!({}));
    }
}
