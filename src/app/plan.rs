//! `app`: the `plan` command: the requests of every selected use case, printed, no network.

use super::select::{load_all, parse_now, select_all};
use super::ExitStatus;
use crate::cli::PlanArgs;
use crate::execute::UpdateOptions;
use crate::pipeline::printed::{self, Settings};
use crate::tag::Limits;

/// `plan`: prints the requests of every selected use case as JSON; no network.
pub(crate) fn plan_cmd(args: &PlanArgs) -> ExitStatus {
    let cfgs = match load_all(&args.config) {
        Ok(c) => c,
        Err(s) => return s,
    };
    let selected = match select_all(&cfgs, &args.selection) {
        Ok(u) => u,
        Err(s) => return s,
    };
    let now = match parse_now(args.now.as_deref()) {
        Ok(n) => n,
        Err(s) => return s,
    };
    let settings = Settings {
        now,
        baseline_days: args.baseline,
        page_size: args.page_size.clamp(1, 65_536),
        update: UpdateOptions {
            requests_per_second: args.requests_per_second,
            ..UpdateOptions::default()
        },
        limits: Limits::default(),
    };
    let out = serde_json::json!(selected
        .iter()
        .flat_map(|(_, ucs)| ucs.iter().map(|uc| printed::use_case(uc, &settings)))
        .collect::<Vec<_>>());
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    ExitStatus::Success
}
