//! Pipeline: use cases that need the same counts count once (terms and metrics).
//!
//! Use cases of one wave with the same model type, index pattern, timestamp field,
//! counting window, filter, aggregator and target (only the trigger, the metric, the
//! texts or the whitelists differ) need the same composite buckets. The first of them in
//! config order reads the buckets once and feeds every member's evaluation from the same
//! stream (the model's count function, e.g. [`super::terms::count_groups`]); each member
//! then goes on alone (whitelists, events, tagging) from its own result. Nothing is kept but the groups with findings, so memory
//! does not grow with the pairs. The other members wait for that count; when the first
//! member's detection ends without it (it failed before counting), the next member to
//! arrive counts instead ([`CountHub::claim`]), so the report names the same counting
//! use case run after run.
//!
//! Invariant: a member's groups are exactly what its own count would give: the same
//! requests, the same buckets in the same order, its own evaluator.
//!
//! Must not: decide which use cases may share (the caller groups them, [`CountHub::new`]
//! only compares their keys) or tag.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::config::{ModelSpec, UseCase};
use crate::evaluate::GroupOutcome;
use crate::execute::EsError;
use crate::plan::TimeWindow;
use crate::report::{Chart, UseCaseReport};

/// What one member takes from a shared count: its groups with findings and its charts.
pub type Groups = (Vec<GroupOutcome>, Vec<Chart>);

/// The count of one group of members, once read.
struct Counted {
    /// The member that read it.
    by: String,
    /// Its report's counting figures (copied into no other report: the cluster did the
    /// work once), but the events in the window, which every member shows.
    events_in_window: Option<u64>,
    /// Each member's result (the model's own type), taken once.
    groups: Mutex<BTreeMap<String, Box<dyn Any + Send>>>,
}

/// Members with the same counting key.
struct Group {
    members: Vec<UseCase>,
    /// True once the first member counted, or ended its detection without counting:
    /// the others may go on.
    released: tokio::sync::watch::Sender<bool>,
    /// The count, or the member that failed to read it and why.
    cell: tokio::sync::OnceCell<Result<Arc<Counted>, (String, String)>>,
}

/// The groups of use cases that count once, by member name.
#[derive(Default)]
pub struct CountHub {
    groups: BTreeMap<String, Arc<Group>>,
}

/// What decides the counts of a terms or metrics use case: model type, index pattern,
/// timestamp field, counting window, filter, aggregator and target, as configured (equal
/// configurations resolve to the same fields).
fn key(uc: &UseCase, counting: TimeWindow) -> Option<String> {
    matches!(uc.model, ModelSpec::Terms | ModelSpec::Metrics(_)).then(|| {
        format!(
            "{:?}",
            (
                uc.model.model_type(),
                &uc.index_pattern,
                &uc.timestamp_field,
                counting.bounds(),
                &uc.filter,
                &uc.aggregator,
                &uc.target
            )
        )
    })
}

impl CountHub {
    /// Groups the terms and metrics use cases among `ucs` (each with its counting window) whose keys
    /// are equal; a use case alone with its key is left out (it counts for itself).
    pub fn new<'a>(ucs: impl IntoIterator<Item = (&'a UseCase, TimeWindow)>) -> CountHub {
        let mut by_key: BTreeMap<String, Vec<UseCase>> = BTreeMap::new();
        for (uc, counting) in ucs {
            if let Some(k) = key(uc, counting) {
                by_key.entry(k).or_default().push(uc.clone());
            }
        }
        let mut groups = BTreeMap::new();
        for members in by_key.into_values().filter(|m| m.len() > 1) {
            let g = Arc::new(Group {
                members,
                released: tokio::sync::watch::Sender::new(false),
                cell: tokio::sync::OnceCell::new(),
            });
            for m in &g.members {
                groups.insert(m.name.clone(), g.clone());
            }
        }
        CountHub { groups }
    }

    /// Held while use case `name` detects: when the first member of a group lets it go
    /// (its detection ended, counted or not), the other members stop waiting for it.
    pub fn claim(&self, name: &str) -> Claim {
        Claim(
            self.groups
                .get(name)
                .filter(|g| g.members[0].name == name)
                .cloned(),
        )
    }

    /// The result of use case `uc` from one count, read by `count` for the members it is
    /// given (configured use cases in config order; one result each, in that order, into
    /// the report it is given). `uc` alone (no hub, or nobody shares its counts): `count`
    /// reads for `uc`. With a group: the first member to get here reads for every member,
    /// the others take their result from it (`rep.count_shared_with` names it).
    pub async fn count_once<T, F>(
        hub: Option<&CountHub>,
        uc: &UseCase,
        rep: &mut UseCaseReport,
        count: F,
    ) -> Result<T, EsError>
    where
        T: Send + 'static,
        F: AsyncFnOnce(Vec<UseCase>, &mut UseCaseReport) -> Result<Vec<T>, EsError>,
    {
        let Some(g) = hub.and_then(|h| h.groups.get(&uc.name)) else {
            return count(vec![uc.clone()], rep)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| EsError::Shared {
                    use_case: uc.name.clone(),
                    reason: "the count gave no result".into(),
                });
        };
        if g.members[0].name != uc.name {
            let mut released = g.released.subscribe();
            // The sender lives in the group, which outlives this call: never an error.
            let _ = released.wait_for(|r| *r).await;
        }
        let mut own: Option<EsError> = None;
        let counted = g
            .cell
            .get_or_init(|| async {
                match count(g.members.clone(), rep).await {
                    Ok(all) => Ok(Arc::new(Counted {
                        by: uc.name.clone(),
                        events_in_window: rep.events_in_window,
                        groups: Mutex::new(
                            g.members
                                .iter()
                                .map(|m| m.name.clone())
                                .zip(all.into_iter().map(|t| Box::new(t) as Box<dyn Any + Send>))
                                .collect(),
                        ),
                    })),
                    Err(e) => {
                        let failed = (uc.name.clone(), e.to_string());
                        own = Some(e);
                        Err(failed)
                    }
                }
            })
            .await;
        g.released.send_replace(true);
        if let Some(e) = own {
            return Err(e);
        }
        match counted {
            Err((by, reason)) => Err(EsError::Shared {
                use_case: by.clone(),
                reason: reason.clone(),
            }),
            Ok(c) => {
                if c.by != uc.name {
                    rep.count_shared_with = Some(c.by.clone());
                    rep.events_in_window = c.events_in_window;
                }
                let mine = c
                    .groups
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&uc.name)
                    .and_then(|b| b.downcast::<T>().ok());
                match mine {
                    Some(t) => Ok(*t),
                    None => Err(EsError::Shared {
                        use_case: c.by.clone(),
                        reason: format!("no result for use case {} in the shared count", uc.name),
                    }),
                }
            }
        }
    }
}

/// The first member's hold on its group's count ([`CountHub::claim`]); dropping it
/// releases the other members.
pub struct Claim(Option<Arc<Group>>);

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.released.send_replace(true);
        }
    }
}
