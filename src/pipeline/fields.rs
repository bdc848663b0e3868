//! Pipeline: the mapping check before counting. Every field a use case aggregates on must
//! exist and be aggregatable; a `text` field is refused with its keyword sub-field named.
//!
//! Must not: change the use case (config made it valid); it only reads `_field_caps`.

use std::collections::BTreeMap;

use crate::config::UseCase;
use crate::execute::{Cluster, EsError};

/// Checks that every field exists and can be aggregated; returns the `_source` path of
/// each field that is a multi-field (`x.keyword` is read from `x`).
pub async fn check_fields<C: Cluster>(
    cluster: &C,
    uc: &UseCase,
) -> Result<BTreeMap<String, String>, EsError> {
    check_fields_except(cluster, uc, &[]).await
}

/// As [`check_fields`], for a model whose summary placeholders may also name values it
/// computes (`computed`, lowercase; placeholders compare case-insensitively, as
/// ee-outliers looks them up): those are not looked for in the mapping.
pub async fn check_fields_except<C: Cluster>(
    cluster: &C,
    uc: &UseCase,
    computed: &[&str],
) -> Result<BTreeMap<String, String>, EsError> {
    let is_event_field = |f: &&&str| !computed.contains(&f.to_lowercase().as_str());
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
            .filter(is_event_field)
            .map(|f| f.to_string()),
    );
    asked.sort();
    asked.dedup();
    let caps = cluster.field_caps(&uc.index_pattern, &asked).await?;
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
    for f in uc.outlier_summary.fields().iter().filter(is_event_field) {
        if !caps.fields.contains_key(*f) {
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
