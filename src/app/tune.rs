//! `app`: the `tune` command: one counting pass of a terms use case (the field check and
//! the composite pages `run --dry-run` sends), then the trigger evaluated locally for
//! every sensitivity (and with `--methods` every trigger method) by
//! [`crate::evaluate::tune::sweep`]. Never writes to the cluster. With a baseline window
//! the counts come from it, as in `run`; `run` then keeps only pairs with events in the
//! detection window (one more request), which tune does not check.

use std::io::Write;

use anyhow::{Context, Result};

use super::run::connect;
use super::select::{load_all, select_all, Span};
use super::ExitStatus;
use crate::cli::{Selection, TuneArgs};
use crate::config::{Config, ModelSpec, TriggerMethod, UseCase};
use crate::evaluate::tune::sweep;
use crate::execute::Policy;
use crate::pipeline;
use crate::plan;
use crate::report::tune::{self, TuneReport};
use crate::report::Format;

/// Sensitivities evaluated when `--sensitivities` is not given.
const DEFAULT_SENSITIVITIES: [f64; 7] = [0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0];

/// `tune --config F --use-case NAME [--sensitivities ...] [--methods]`.
pub(crate) async fn tune(args: &TuneArgs) -> Result<ExitStatus> {
    let cfgs = match load_all(&args.config) {
        Ok(c) => c,
        Err(s) => return Ok(s),
    };
    let sel = Selection {
        use_cases: vec![args.use_case.clone()],
    };
    let selected = match select_all(&cfgs, &sel) {
        Ok(u) => u,
        Err(s) => return Ok(s),
    };
    let found: Vec<_> = selected
        .iter()
        .flat_map(|(c, ucs)| ucs.iter().map(move |u| (*c, *u)))
        .collect();
    let (cfg, uc) = match the_one(args, &found) {
        Ok(one) => one,
        Err(s) => return Ok(s),
    };
    let span = match Span::from_args(args.now.as_deref(), None, None) {
        Ok(s) => s,
        Err(s) => return Ok(s),
    };
    let window = span.window(uc.history_window_hours);
    let policy = Policy::default();
    super::run::spawn_signal_handler(policy.stop.clone());
    let cluster = match connect(cfg, args.insecure, &policy).await {
        Ok((c, _)) => c,
        Err(s) => return Ok(s),
    };
    let started = cluster.traffic();
    let (max_buckets, _) = cluster.limits().await.unwrap_or((None, None));
    let mut rep = pipeline::empty_report(uc, window);
    let mut observations = Vec::new();
    let counted: Result<(), crate::execute::EsError> = async {
        // As `run`: counts from the baseline window when the use case has one, on the
        // fields as the mapping spells them.
        let counting = pipeline::counting_window(window, pipeline::baseline_hours(uc, None));
        let fp =
            pipeline::fields::check_fields(&cluster, uc, &plan::filter_query(uc, counting)).await?;
        let mut sp = plan::search(&fp.uc, counting, pipeline::page_size(max_buckets));
        let observe = sp.clone();
        pipeline::count::pages(&cluster, &mut sp, fp.lead_splits(), None, &mut rep, |b| {
            observations.push(observe.observation(b))
        })
        .await
    }
    .await;
    if let Err(e) = counted {
        eprintln!("error: use case {}: {e}", uc.name);
        return Ok(ExitStatus::of(&e));
    }
    let t = cluster.traffic().since(started);
    let sens: Vec<f64> = if args.sensitivities.is_empty() {
        let mut v = DEFAULT_SENSITIVITIES.to_vec();
        v.push(uc.trigger.sensitivity);
        v
    } else {
        args.sensitivities.clone()
    };
    let methods: Vec<TriggerMethod> = if args.methods {
        TriggerMethod::ALL.to_vec()
    } else {
        vec![uc.trigger.method]
    };
    let steps = sweep(
        uc.count_method,
        uc.trigger.on,
        uc.min_target_buckets,
        &methods,
        &sens,
        &observations,
    );
    let r = TuneReport {
        schema_version: 1,
        use_case: uc.name.clone(),
        index: uc.index_pattern.clone(),
        window_start: rep.window_start.clone(),
        window_end: rep.window_end.clone(),
        configured: rep.trigger.clone(),
        events_in_window: rep.events_in_window,
        pages: rep.pages,
        buckets_read: rep.buckets_read,
        requests: t.requests,
        bytes_received: t.bytes_received,
        steps,
    };
    write_report(args, &r)?;
    Ok(ExitStatus::Success)
}

/// The one terms use case `--use-case` names among `found`, or the usage error that says
/// why there is none (no match, several matches, another model).
fn the_one<'a>(
    args: &TuneArgs,
    found: &[(&'a Config, &'a UseCase)],
) -> Result<(&'a Config, &'a UseCase), ExitStatus> {
    let (cfg, uc) = match found {
        [one] => *one,
        [] => {
            eprintln!("error: --use-case {} matches no use case", args.use_case);
            return Err(ExitStatus::Usage);
        }
        many => {
            let names: Vec<&str> = many.iter().map(|(_, u)| u.name.as_str()).collect();
            eprintln!(
                "error: --use-case {} matches {} use cases ({}); tune takes one, name it exactly",
                args.use_case,
                many.len(),
                names.join(", ")
            );
            return Err(ExitStatus::Usage);
        }
    };
    if !matches!(uc.model, ModelSpec::Terms) {
        eprintln!(
            "error: {} is a {} use case; tune evaluates terms use cases only (the other models have no sensitivity to tune here yet)",
            uc.name,
            uc.model.model_type()
        );
        return Err(ExitStatus::Usage);
    }
    Ok((cfg, uc))
}

/// Writes the tune report to `--output` or stdout, in `--format`; a closed stdout pipe is
/// not an error.
fn write_report(args: &TuneArgs, r: &TuneReport) -> Result<()> {
    let write = |out: &mut dyn Write| -> std::io::Result<()> {
        let mut out = out;
        match args.format {
            Format::Table => tune::table(r, &mut out),
            Format::Html => tune::html_page(r, &mut out),
            Format::Json => {
                serde_json::to_writer_pretty(&mut out, r)?;
                writeln!(out)
            }
        }
    };
    match &args.output {
        Some(p) => {
            let mut f = std::fs::File::create(p)
                .with_context(|| format!("cannot write the report to {}", p.display()))?;
            write(&mut f)?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            if let Err(e) = write(&mut lock) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}
