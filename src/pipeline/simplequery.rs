//! Pipeline, simplequery model: every event of the window that matches the use case's
//! query is an outlier (SPEC section 9), except events already carrying this model's
//! entry and whitelisted events (each event stands alone: no re-evaluation).
//!
//! Only a count crosses the network unless a whitelist or `highlight_match` needs the
//! events' contents; then only the matching events, and only what is needed (no
//! `_source` without a whitelist).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::json;

use super::{Context, Detection};
use crate::config::{ModelSpec, UseCase};
use crate::evaluate::{self, event, simplequery as sq};
use crate::execute::{Cluster, EsError};
use crate::plan::simplequery::{self as plan, EntryFields};
use crate::report::{OutlierReport, UseCaseReport};
use crate::tag::simplequery as tag;

/// Detects the events of a simplequery use case and builds its tagging requests.
pub async fn detect<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    rep: &mut UseCaseReport,
) -> Result<Detection, EsError> {
    let t0 = Instant::now();
    let highlight = matches!(uc.model, ModelSpec::SimpleQuery(s) if s.highlight_match);
    let entry = entry_fields(cx.cluster, uc).await?;
    let query = plan::query(uc, cx.window, entry.as_ref());
    let counted = cx
        .cluster
        .search(
            &uc.index_pattern,
            &plan::count_body(&query),
            "count matching events",
        )
        .await?;
    let matched = counted["hits"]["total"]["value"].as_u64().unwrap_or(0);
    rep.events_in_window = Some(matched);
    rep.es_took_ms += counted["took"].as_u64().unwrap_or(0);
    let mut whitelisted: Vec<String> = Vec::new();
    let mut by_id: BTreeMap<String, (serde_json::Value, String)> = BTreeMap::new();
    if matched > 0 && (highlight || !uc.whitelist.is_empty()) {
        let body = plan::events_body(uc, &query, highlight, crate::execute::SCAN_SIZE);
        let mut each = |hit: crate::es::Hit| {
            let h = hit.highlight.clone().unwrap_or_default();
            let (fields, values) = (sq::matched_fields(&h), sq::matched_values(&h));
            if !uc.whitelist.is_empty()
                && is_whitelisted(uc, &hit, highlight.then_some((&fields, &values)))
            {
                whitelisted.push(hit.id.clone());
            } else if highlight {
                by_id.insert(hit.id.clone(), (fields, values));
            }
        };
        cx.cluster
            .scan_body(&uc.index_pattern, &body, "fetch matching events", &mut each)
            .await?;
    }
    rep.whitelisted_events = whitelisted.len() as u64;
    let outliers = matched - rep.whitelisted_events;
    if outliers > 0 {
        rep.outliers.push(OutlierReport {
            aggregator: String::new(),
            target: None,
            term_count: outliers,
            average: 0.0,
            decision_frontier: 0.0,
            values: 0,
            non_outlier_values_sample: Vec::new(),
            summary: uc.outlier_summary.raw.clone(),
        });
    }
    rep.detection_ms = t0.elapsed().as_millis() as u64;
    if cx.dry_run || outliers == 0 {
        return Ok(Detection::default());
    }
    let requests = if highlight {
        tag::requests_by_id(uc, &query, &by_id)
    } else {
        vec![tag::request_all(uc, &query, &whitelisted)]
    };
    Ok(Detection { requests })
}

/// The fields asked about to find how `outliers.model_name` / `model_type` are mapped.
pub fn entry_field_names() -> Vec<String> {
    ["outliers.model_name", "outliers.model_type"]
        .iter()
        .flat_map(|f| [f.to_string(), format!("{f}.keyword")])
        .collect()
}

/// `outliers.model_name` / `model_type` as the indices map them: the fields themselves
/// when keyword, else their `.keyword` sub-fields; `None` when nothing is tagged yet.
async fn entry_fields<C: Cluster>(
    cluster: &C,
    uc: &UseCase,
) -> Result<Option<EntryFields>, EsError> {
    let caps = cluster
        .field_caps(&uc.index_pattern, &entry_field_names())
        .await?;
    let pick = |f: &str| -> Option<String> {
        let keyword = |name: &str| {
            caps.fields
                .get(name)
                .is_some_and(|t| !t.is_empty() && t.keys().all(|k| k == "keyword"))
        };
        if keyword(f) {
            Some(f.to_string())
        } else {
            let sub = format!("{f}.keyword");
            keyword(&sub).then_some(sub)
        }
    };
    Ok(
        match (pick("outliers.model_name"), pick("outliers.model_type")) {
            (Some(model_name), Some(model_type)) => Some(EntryFields {
                model_name,
                model_type,
            }),
            _ => None,
        },
    )
}

/// ee-outliers checks the whole hit (metadata and `_source`) plus the outlier's own
/// values against the whitelists (`outlier.py` `is_whitelisted`).
fn is_whitelisted(
    uc: &UseCase,
    hit: &crate::es::Hit,
    matched: Option<(&serde_json::Value, &String)>,
) -> bool {
    let mut strings = evaluate::whitelist::event_strings(&json!({
        "_index": hit.index, "_id": hit.id, "_source": hit.source
    }));
    let summary = event::fill_summary(&uc.outlier_summary, &hit.source, |f| f.to_string());
    let e = tag::entry(uc);
    for v in e.values() {
        strings.extend(evaluate::whitelist::event_strings(v));
    }
    strings.push(summary);
    if let Some((fields, values)) = matched {
        strings.extend(evaluate::whitelist::event_strings(fields));
        strings.push(values.clone());
    }
    evaluate::whitelist::is_whitelisted(&uc.whitelist, &strings)
}
