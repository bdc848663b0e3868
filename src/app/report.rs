//! `app`: the `report` command: the HTML page of the newest run kept in a history folder
//! (`run --history`), its outliers marked new, recurring or gone against the runs before
//! it, with the outliers per night. Reads files only; never touches the cluster.

use std::io::Write;

use super::review::{past_runs, read_history};
use super::ExitStatus;
use crate::cli::ReportArgs;
use crate::report::{self, history, review::HtmlOptions, RunSummary};

/// `report --history DIR [--last N] [--output FILE]`.
pub(crate) fn report_cmd(args: &ReportArgs) -> ExitStatus {
    let files = match read_history(&args.history, args.last) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "error: cannot read the history folder {}: {e}",
                args.history.display()
            );
            return ExitStatus::Usage;
        }
    };
    // The newest file that is a whole report is shown; the others are its history.
    let Some(pos) = files
        .iter()
        .rposition(|(_, t)| serde_json::from_str::<RunSummary>(t).is_ok())
    else {
        eprintln!(
            "error: no report in {}; write one with `esoutliers run --history {}`",
            args.history.display(),
            args.history.display()
        );
        return ExitStatus::Usage;
    };
    let mut summary: RunSummary =
        serde_json::from_str(&files[pos].1).expect("checked by rposition above");
    let mut unreadable = Vec::new();
    let past = past_runs(&files[..pos], &mut unreadable);
    let mut view = history::compare(&past, &summary);
    view.unreadable = unreadable;
    for u in &view.unreadable {
        tracing::warn!(
            "{u} in {} is not a report; left out",
            args.history.display()
        );
    }
    summary.history = Some(view);
    let opts = HtmlOptions {
        log_scale: args.log_scale,
    };
    let res = match &args.output {
        Some(p) => std::fs::File::create(p)
            .and_then(|mut f| report::html::render_with(&summary, opts, &mut f)),
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            report::html::render_with(&summary, opts, &mut lock).and_then(|_| lock.flush())
        }
    };
    match res {
        Ok(()) => ExitStatus::Success,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(e) => {
            eprintln!("error: cannot write the page: {e}");
            ExitStatus::UseCaseFailed
        }
    }
}
