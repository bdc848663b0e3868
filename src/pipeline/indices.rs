//! Pipeline: which indices a use case's pattern matches, before anything is counted.
//! Closed indices are skipped by every search on a pattern without a word; this names
//! them for the report. An index the user may not read is named in the error: OpenSearch
//! refuses the whole pattern (403) without saying which index, Elasticsearch leaves the
//! index out of a wildcard's answer silently; both are found by comparing the pattern's
//! indices (cluster state, privilege cluster `monitor`) with the ones the user can read.
//!
//! Must not: write, or fail a use case because the list itself cannot be read (a role
//! without cluster `monitor` loses these checks, with a warning, not the run).

use std::collections::BTreeSet;

use crate::execute::{Cluster, EsError};
use crate::report::SkippedIndex;

/// The read action the probes use, named when the user lacks it.
const READ_ACTION: &str = "indices:data/read/field_caps";

/// The closed indices of `pattern`. Errors: an [`EsError::Forbidden`] naming each open
/// index of `pattern` the user cannot read; an [`EsError::Mapping`] when `timestamp_field`
/// is not a date field of the pattern ([`super::fields::check_timestamp`]).
pub async fn check_indices<C: Cluster>(
    cluster: &C,
    pattern: &str,
    timestamp_field: &str,
) -> Result<Vec<SkippedIndex>, EsError> {
    let states = match cluster.index_states(pattern).await {
        Ok(s) => Some(s),
        Err(e) if e.is_connection() || matches!(e, EsError::Interrupted { .. }) => return Err(e),
        Err(e) => {
            tracing::warn!("cannot list the indices of {pattern} ({e}); closed or unreadable indices will not be named");
            None
        }
    };
    let states = states.unwrap_or_default();
    let skipped: Vec<SkippedIndex> = states
        .iter()
        .filter(|(_, state)| state.as_str() != "open")
        .map(|(index, state)| SkippedIndex {
            index: index.clone(),
            reason: if state == "close" {
                "closed".to_string()
            } else {
                format!("state {state}")
            },
        })
        .collect();
    for s in &skipped {
        tracing::warn!(
            "index {} matches {pattern} but is skipped: {}",
            s.index,
            s.reason
        );
    }
    let open: BTreeSet<&String> = states
        .iter()
        .filter(|(_, state)| state.as_str() == "open")
        .map(|(i, _)| i)
        .collect();
    let asked = crate::plan::index_check_fields(timestamp_field);
    let caps = match cluster.field_caps(pattern, &asked).await {
        Ok(caps) => caps,
        Err(EsError::Forbidden {
            request,
            index,
            action,
            indices,
            reason,
        }) if indices.is_empty() => {
            // The cluster refused the whole pattern: ask index by index.
            let mut denied = Vec::new();
            for i in &open {
                if let Err(EsError::Forbidden { .. }) = cluster.field_caps(i, &asked[..1]).await {
                    denied.push(i.to_string());
                }
            }
            return Err(EsError::Forbidden {
                request,
                index,
                action,
                indices: denied,
                reason,
            });
        }
        Err(e) => return Err(e),
    };
    let readable: BTreeSet<&String> = caps.indices.iter().collect();
    let unreadable: Vec<String> = open
        .iter()
        .filter(|i| !readable.contains(*i))
        .map(|i| i.to_string())
        .collect();
    if !unreadable.is_empty() {
        return Err(EsError::Forbidden {
            request: "field capabilities".into(),
            index: pattern.into(),
            action: READ_ACTION.into(),
            indices: unreadable,
            reason: "the pattern matches these indices, but the cluster left them out of its answer to this user".into(),
        });
    }
    // No index at all: the mapping check of the model says so.
    if !caps.indices.is_empty() {
        super::fields::check_timestamp(&caps, pattern, timestamp_field).map_err(|reason| {
            EsError::Mapping {
                index: pattern.into(),
                reason,
            }
        })?;
    }
    Ok(skipped)
}
