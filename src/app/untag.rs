//! `app`: the `untag` command: removes esoutliers' entries (of selected use cases, or all).

use std::collections::BTreeSet;

use anyhow::Result;

use super::run::connect;
use super::select::{load_all, select_all};
use super::ExitStatus;
use crate::cli::UntagArgs;
use crate::config::{Config, UseCase};
use crate::execute::{Policy, UpdateOptions};
use crate::tag::{self};

/// `untag`: removes the entries of the selected use cases (or all, `--all`).
pub(crate) async fn untag(args: &UntagArgs) -> Result<ExitStatus> {
    let cfgs = match load_all(&args.config) {
        Ok(c) => c,
        Err(s) => return Ok(s),
    };
    let selected = match select_all(&cfgs, &args.selection) {
        Ok(u) => u,
        Err(s) => return Ok(s),
    };
    let mut status = ExitStatus::Success;
    for (cfg, ucs) in &selected {
        // Without --use-case, untag covers every use case of the file (run_model=0 too).
        let ucs: Vec<&UseCase> = if args.selection.use_cases.is_empty() {
            cfg.use_cases.iter().collect()
        } else {
            ucs.clone()
        };
        if ucs.is_empty() && !args.all {
            continue;
        }
        status = status.max(untag_config(cfg, &ucs, args).await);
    }
    Ok(status)
}

pub(crate) async fn untag_config(cfg: &Config, ucs: &[&UseCase], args: &UntagArgs) -> ExitStatus {
    let (cluster, _) = match connect(cfg, args.insecure, &Policy::default()).await {
        Ok(c) => c,
        Err(s) => return s,
    };
    let removal = if args.all {
        tag::Removal::All
    } else {
        tag::Removal::Models(ucs.iter().map(|u| u.model_name.clone()).collect())
    };
    // The indices of the use cases (each may name its own), else the general pattern.
    let mut indices: BTreeSet<&str> = ucs.iter().map(|u| u.index_pattern.as_str()).collect();
    if indices.is_empty() && !cfg.general.es_index_pattern.is_empty() {
        indices.insert(&cfg.general.es_index_pattern);
    }
    let mut status = ExitStatus::Success;
    for index in indices {
        let req = tag::untag_request(index, &tag::tagged_events_query(None), &removal);
        match cluster
            .update_by_query(
                &req.index,
                &req.body,
                &UpdateOptions::default(),
                &mut |_| {},
            )
            .await
        {
            Ok(r) => {
                println!(
                    "untag {}: {} event(s) changed, {} left as they were{}",
                    req.index,
                    r.updated,
                    r.noops,
                    if r.failures.is_empty() {
                        String::new()
                    } else {
                        format!(", {} failure(s)", r.failures.len())
                    }
                );
                for f in &r.failures {
                    eprintln!("failure: {}", tag::TaskFailure::parse(f).describe());
                }
                if !r.failures.is_empty() || r.version_conflicts > 0 {
                    status = status.max(ExitStatus::UseCaseFailed);
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitStatus::of(&e);
            }
        }
    }
    status
}
