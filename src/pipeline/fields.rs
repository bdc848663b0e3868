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
    let caps = cluster
        .field_caps(&uc.index_pattern, &["*".to_string()])
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
    let mut plan = FieldPlan {
        uc: uc.clone(),
        source_paths: BTreeMap::new(),
        placeholder_paths: Vec::new(),
        notices: Vec::new(),
    };
    let mut resolve = |f: &String| -> Result<String, EsError> {
        let found = spellings(&caps, f);
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
            plan.notices.push(format!(
                "field {f} is mapped as {name} (field names match case-insensitively, as in ee-outliers)"
            ));
        }
        let types = &caps.fields[&name];
        let Some((_, cap)) = types.iter().find(|(_, c)| !c.aggregatable) else {
            return Ok(name);
        };
        match keyword_subfield(&caps, &name) {
            Some(sub) if cap.kind == "text" => {
                plan.notices.push(format!(
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
    };
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
        {
            // A multi-field (written so, or a text field's keyword sub-field): values its
            // ignore_above left out of it would vanish from the counts; refuse them.
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
                return Err(fail(format!(
                    "{n} event(s) have a value of {parent} that its keyword sub-field {counted} \
                     does not index (longer than the sub-field's ignore_above, or in an index \
                     where {parent} has no such sub-field); they would vanish from the counts. \
                     Raise ignore_above in the mapping (and reindex), or filter these events \
                     out in es_query_filter"
                )));
            }
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
