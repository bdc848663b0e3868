//! Pipeline: the mapping check before counting. Every field a use case aggregates on must
//! exist and be aggregatable; a `text` field is refused with its keyword sub-field named.
//!
//! Must not: change the use case (config made it valid); it only reads `_field_caps`.

use std::collections::BTreeMap;

use crate::config::UseCase;
use crate::execute::{Cluster, EsError};

/// The fields `_field_caps` is asked about: every aggregated field, its parent (a
/// multi-field's `_source` path) and `.keyword` sub-field, and the summary's placeholders.
pub fn asked(uc: &UseCase) -> Vec<String> {
    let mut asked: Vec<String> = uc.fields().cloned().collect();
    for f in uc.fields() {
        if let Some((parent, _)) = f.rsplit_once('.') {
            asked.push(parent.to_string());
        }
        asked.push(format!("{f}.keyword"));
    }
    asked.extend(uc.outlier_summary.fields().iter().map(|f| f.to_string()));
    asked.sort();
    asked.dedup();
    asked
}

/// Checks that every field exists and can be aggregated; returns the `_source` path of
/// each field that is a multi-field (`x.keyword` is read from `x`).
pub async fn check_fields<C: Cluster>(
    cluster: &C,
    uc: &UseCase,
) -> Result<BTreeMap<String, String>, EsError> {
    let caps = cluster.field_caps(&uc.index_pattern, &asked(uc)).await?;
    let fail = |reason: String| EsError::Mapping {
        index: uc.index_pattern.clone(),
        reason,
    };
    if caps.indices.is_empty() {
        return Err(fail(format!(
            "index pattern {} matches no index",
            uc.index_pattern
        )));
    }
    for f in uc.outlier_summary.fields() {
        if !caps.fields.contains_key(f) {
            return Err(fail(format!(
                "outlier_summary names field {f}, which is not in the mapping of any index matching {}",
                uc.index_pattern
            )));
        }
    }
    let mut paths = BTreeMap::new();
    for f in uc.fields() {
        let Some(types) = caps.fields.get(f) else {
            return Err(fail(format!(
                "field {f} is not in the mapping of any index matching {}",
                uc.index_pattern
            )));
        };
        if let Some((_, cap)) = types.iter().find(|(_, c)| !c.aggregatable) {
            let hint = if caps
                .fields
                .get(&format!("{f}.keyword"))
                .is_some_and(|t| t.values().all(|c| c.aggregatable))
            {
                format!("; use its keyword sub-field {f}.keyword")
            } else {
                "; map it as keyword".to_string()
            };
            return Err(fail(format!(
                "field {f} is a {} field and cannot be aggregated{hint}",
                cap.kind
            )));
        }
        if let Some((parent, _)) = f.rsplit_once('.') {
            if caps
                .fields
                .get(parent)
                .is_some_and(|t| t.keys().any(|k| k != "object" && k != "nested"))
            {
                paths.insert(f.clone(), parent.to_string());
            }
        }
    }
    Ok(paths)
}

/// Checks `timestamp_field` against the `_field_caps` of `pattern` (which asked for it):
/// it must be in the mapping, and a `date` or `date_nanos` field in every index that has
/// it. A missing one would otherwise match no event and the use case would end `[ok]`
/// with nothing counted. The error's text names the field and what it is; the caller
/// names the index.
pub fn check_timestamp(
    caps: &crate::es::FieldCapsResponse,
    pattern: &str,
    field: &str,
) -> Result<(), String> {
    let Some(types) = caps.fields.get(field) else {
        return Err(format!(
            "timestamp_field {field} is not in the mapping of any index matching {pattern}; set timestamp_field in [general] (or the use case) to the events' date field"
        ));
    };
    let not_dates: Vec<&str> = types
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "date" && *k != "date_nanos")
        .collect();
    if !not_dates.is_empty() {
        return Err(format!(
            "timestamp_field {field} is a {} field, not a date; the window is a range on a date field (map it as date, or name the date field in timestamp_field)",
            not_dates.join("/")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod timestamp_tests {
    use super::check_timestamp;
    use crate::es::FieldCapsResponse;

    fn caps(fields: serde_json::Value) -> FieldCapsResponse {
        serde_json::from_value(serde_json::json!({ "indices": ["logs-1"], "fields": fields }))
            .unwrap()
    }

    #[test]
    fn a_timestamp_field_missing_from_the_mapping_is_named() {
        let c = caps(serde_json::json!({ "@timestamp": { "date": { "type": "date" } } }));
        let e = check_timestamp(&c, "logs-*", "@timestmp").unwrap_err();
        assert!(
            e.contains("timestamp_field @timestmp is not in the mapping") && e.contains("logs-*"),
            "{e}"
        );
    }

    #[test]
    fn a_keyword_timestamp_is_refused_with_its_type() {
        let c = caps(serde_json::json!({ "ts": { "keyword": { "type": "keyword" } } }));
        let e = check_timestamp(&c, "logs-*", "ts").unwrap_err();
        assert!(e.contains("ts is a keyword field, not a date"), "{e}");
        // Date in one index, keyword in another: still refused.
        let c = caps(
            serde_json::json!({ "ts": { "date": { "type": "date" }, "keyword": { "type": "keyword" } } }),
        );
        assert!(check_timestamp(&c, "logs-*", "ts").is_err());
    }

    #[test]
    fn date_and_date_nanos_are_accepted() {
        let c = caps(
            serde_json::json!({ "ts": { "date": { "type": "date" }, "date_nanos": { "type": "date_nanos" } } }),
        );
        assert_eq!(check_timestamp(&c, "logs-*", "ts"), Ok(()));
    }
}
