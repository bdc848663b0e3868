//! Pipeline: the mapping check before counting. Every field a use case aggregates on is
//! resolved against the mapping as ee-outliers resolves it in `_source`:
//! - case-insensitively (ee-outliers' `get_dotkey_value(..., case_sensitive=False)`): a
//!   name that the mapping spells otherwise is used as the mapping spells it; two mapped
//!   fields that differ only by case are an error (which one ee-outliers reads depends on
//!   each event's key order);
//! - a `text` field (not aggregatable) is counted through its keyword multi-field
//!   (`.keyword`, `.raw`, whichever it has), with a notice; events whose value that
//!   sub-field does not index (longer than its `ignore_above`) would vanish from the
//!   counts, so they are counted first and the use case fails naming the field when there
//!   are any;
//! - placeholder fields are never an error (a missing one is written
//!   `{field X not found in event}`); they are resolved for `_source` filtering.
//!
//! Must not: change what the use case means; it only reads `_field_caps` and counts.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::config::UseCase;
use crate::es::FieldCapsResponse;
use crate::execute::{Cluster, EsError};

/// The use case as the mapping spells its fields, and how to read them.
#[derive(Debug, Clone)]
pub struct FieldPlan {
    /// The use case with `aggregator` and `target` as counted: the mapping's spelling, a
    /// text field replaced by its keyword sub-field.
    pub uc: UseCase,
    /// A counted field -> its `_source` path, where they differ (`x.keyword` is read
    /// from `x`).
    pub source_paths: BTreeMap<String, String>,
    /// Every mapped spelling of the event fields that placeholders name (for `_source`
    /// filtering; the name as written when the mapping has none).
    pub placeholder_paths: Vec<String>,
    /// What was resolved or substituted, one sentence each, for the report.
    pub notices: Vec<String>,
    /// A counted field -> its type, when every index maps it with the same one.
    pub kinds: BTreeMap<String, String>,
}

impl FieldPlan {
    /// True when the count may be split into ranges of its lead field, the first
    /// aggregator field ([`crate::plan::partition::splittable`]).
    pub fn lead_splits(&self) -> bool {
        self.uc
            .aggregator
            .first()
            .and_then(|f| self.kinds.get(f))
            .is_some_and(|k| crate::plan::partition::splittable(k))
    }
}

/// The keyword multi-field of text field `f`, if any: `.keyword` first, then `.raw`,
/// then any other keyword sub-field in name order.
fn keyword_subfield(caps: &FieldCapsResponse, f: &str) -> Option<String> {
    let prefix = format!("{f}.");
    let mut subs: Vec<&String> = caps
        .fields
        .iter()
        .filter(|(name, types)| {
            name.strip_prefix(&prefix)
                .is_some_and(|rest| !rest.contains('.'))
                && !types.is_empty()
                && types
                    .values()
                    .all(|c| c.aggregatable && c.kind == "keyword")
        })
        .map(|(name, _)| name)
        .collect();
    subs.sort_by_key(|n| match &n[prefix.len()..] {
        "keyword" => (0, (*n).clone()),
        "raw" => (1, (*n).clone()),
        _ => (2, (*n).clone()),
    });
    subs.first().map(|s| (*s).clone())
}

/// `f` is the (resolved) target of `uc`.
fn uc_target_is(uc: &UseCase, f: &str) -> bool {
    uc.target.iter().any(|t| t == f)
}

/// The mapped fields whose name equals `f` ignoring case.
fn spellings<'a>(caps: &'a FieldCapsResponse, f: &str) -> Vec<&'a String> {
    let lower = f.to_lowercase();
    caps.fields
        .keys()
        .filter(|k| k.to_lowercase() == lower)
        .collect()
}

/// Resolves the use case's fields against the mapping of its index pattern (see the
/// module docs). `query` selects the use case's events without the `exists` filters
/// (for counting values a keyword sub-field does not index).
pub async fn check_fields<C: Cluster>(
    cluster: &C,
    uc: &UseCase,
    query: &Value,
) -> Result<FieldPlan, EsError> {
    check_fields_with(cluster, uc, query, false).await
}

/// [`check_fields`]; with `target_from_source`, values of the target that its keyword
/// sub-field does not index are not refused: the model reads them from `_source`
/// (metrics).
pub async fn check_fields_with<C: Cluster>(
    cluster: &C,
    uc: &UseCase,
    query: &Value,
    target_from_source: bool,
) -> Result<FieldPlan, EsError> {
    let caps = cluster
        .field_caps(&uc.index_pattern, &["*".to_string()])
        .await?;
    if caps.indices.is_empty() {
        return Err(mapping_error(
            uc,
            format!("index pattern {} matches no index", uc.index_pattern),
        ));
    }
    let mut plan = FieldPlan {
        uc: uc.clone(),
        source_paths: BTreeMap::new(),
        placeholder_paths: Vec::new(),
        notices: Vec::new(),
        kinds: BTreeMap::new(),
    };
    let mut resolve = |f: &String| resolve_field(&caps, uc, f, &mut plan.notices);
    let aggregator: Vec<String> = uc
        .aggregator
        .iter()
        .map(&mut resolve)
        .collect::<Result<_, _>>()?;
    let target: Vec<String> = uc
        .target
        .iter()
        .map(&mut resolve)
        .collect::<Result<_, _>>()?;
    plan.uc.aggregator = aggregator;
    plan.uc.target = target;
    for f in plan.uc.fields() {
        let types: Vec<&String> = caps
            .fields
            .get(f)
            .map(|t| t.keys().filter(|k| *k != "unmapped").collect())
            .unwrap_or_default();
        if let [one] = types.as_slice() {
            plan.kinds.insert(f.clone(), (*one).clone());
        }
    }

    for counted in plan.uc.fields() {
        let Some((parent, _)) = counted.rsplit_once('.') else {
            continue;
        };
        let parent_is_value = caps
            .fields
            .get(parent)
            .is_some_and(|t| t.keys().any(|k| k != "object" && k != "nested"));
        if !parent_is_value {
            continue;
        }
        plan.source_paths
            .insert(counted.clone(), parent.to_string());
        if !(target_from_source && uc_target_is(&plan.uc, counted)) {
            refuse_left_out_values(cluster, uc, query, parent, counted).await?;
        }
    }

    let mut paths: Vec<String> = Vec::new();
    for name in crate::tag::event_placeholders(uc) {
        let found = spellings(&caps, &name);
        if found.is_empty() {
            paths.push(name);
        } else {
            paths.extend(found.into_iter().cloned());
        }
    }
    paths.sort();
    paths.dedup();
    plan.placeholder_paths = paths;
    Ok(plan)
}

/// The `Elasticsearch` error for a use case whose fields cannot be counted as written.
fn mapping_error(uc: &UseCase, reason: String) -> EsError {
    EsError::Mapping {
        index: uc.index_pattern.clone(),
        reason,
    }
}

/// Field `f` as the mapping spells it (case-insensitively, with a notice when the case
/// differs), or its keyword sub-field when it is a text field (with a notice). Fails when
/// it is not mapped, when several spellings differ only by case, or when it cannot be
/// aggregated and has no keyword sub-field.
fn resolve_field(
    caps: &FieldCapsResponse,
    uc: &UseCase,
    f: &String,
    notices: &mut Vec<String>,
) -> Result<String, EsError> {
    let fail = |reason: String| mapping_error(uc, reason);
    let found = spellings(caps, f);
    let name = match found.as_slice() {
        [] => {
            return Err(fail(format!(
                "field {f} is not in the mapping of any index matching {}",
                uc.index_pattern
            )))
        }
        [one] => (*one).clone(),
        many => {
            let names: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
            return Err(fail(format!(
                "field {f} matches {}, which differ only by case; ee-outliers would read \
                 whichever each event holds first, so write the field meant exactly as \
                 mapped, or rename one of them",
                names.join(" and ")
            )));
        }
    };
    if name != *f {
        notices.push(format!(
            "field {f} is mapped as {name} (field names match case-insensitively, as in ee-outliers)"
        ));
    }
    let types = &caps.fields[&name];
    let Some((_, cap)) = types.iter().find(|(_, c)| !c.aggregatable) else {
        return Ok(name);
    };
    match keyword_subfield(caps, &name) {
        Some(sub) if cap.kind == "text" => {
            notices.push(format!(
                "field {name} is a text field; counted through its keyword sub-field {sub}"
            ));
            Ok(sub)
        }
        _ => Err(fail(format!(
            "field {name} is a {} field and cannot be aggregated, and it has no keyword \
             sub-field; map it as keyword (or add a keyword multi-field)",
            cap.kind
        ))),
    }
}

/// A multi-field `counted` (written so, or a text field's keyword sub-field) of `parent`:
/// values its ignore_above left out of it would vanish from the counts; fails when any
/// event selected by `query` has such a value.
async fn refuse_left_out_values<C: Cluster>(
    cluster: &C,
    uc: &UseCase,
    query: &Value,
    parent: &str,
    counted: &str,
) -> Result<(), EsError> {
    let body = json!({
        "size": 0,
        "track_total_hits": true,
        "query": { "bool": {
            "filter": [ query, { "exists": { "field": parent } } ],
            "must_not": [ { "exists": { "field": counted } } ]
        } }
    });
    let v = cluster
        .search(
            &uc.index_pattern,
            &body,
            "count values a keyword sub-field leaves out",
        )
        .await?;
    let n = v["hits"]["total"]["value"].as_u64().unwrap_or(0);
    if n > 0 {
        return Err(mapping_error(
            uc,
            format!(
                "{n} event(s) have a value of {parent} that its keyword sub-field {counted} \
                 does not index (longer than the sub-field's ignore_above, or in an index \
                 where {parent} has no such sub-field); they would vanish from the counts. \
                 Raise ignore_above in the mapping (and reindex), or filter these events \
                 out in es_query_filter"
            ),
        ));
    }
    Ok(())
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
