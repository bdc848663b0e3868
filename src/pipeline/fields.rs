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
    asked_except(uc, &[])
}

/// True when a summary placeholder names an event field, not one of the values a model
/// computes (`computed`, lowercase; placeholders compare case-insensitively, as
/// ee-outliers looks them up).
fn is_event_field(computed: &[&str], placeholder: &str) -> bool {
    !computed.contains(&placeholder.to_lowercase().as_str())
}

/// As [`asked`], without the summary placeholders that name `computed` values.
pub fn asked_except(uc: &UseCase, computed: &[&str]) -> Vec<String> {
    let mut asked: Vec<String> = uc.fields().cloned().collect();
    for f in uc.fields() {
        if let Some((parent, _)) = f.rsplit_once('.') {
            asked.push(parent.to_string());
        }
        asked.push(format!("{f}.keyword"));
    }
    asked.extend(
        uc.outlier_summary
            .fields()
            .iter()
            .filter(|f| is_event_field(computed, f))
            .map(|f| f.to_string()),
    );
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
    check_fields_except(cluster, uc, &[]).await
}

/// As [`check_fields`], for a model whose summary placeholders may also name values it
/// computes (`computed`, see [`asked_except`]): those are not looked for in the mapping.
pub async fn check_fields_except<C: Cluster>(
    cluster: &C,
    uc: &UseCase,
    computed: &[&str],
) -> Result<BTreeMap<String, String>, EsError> {
    let caps = cluster
        .field_caps(&uc.index_pattern, &asked_except(uc, computed))
        .await?;
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
        if is_event_field(computed, f) && !caps.fields.contains_key(f) {
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
