//! esoutliers-baseline: what ee-outliers does, for the benchmark only. Scrolls every event
//! of a use case's window out of Elasticsearch (full `_source`, like ee-outliers), counts
//! the (aggregator, target) pairs in memory, and evaluates the same trigger with the same
//! `evaluate` code. Prints one JSON line: outlier pairs, events read, bytes received,
//! requests, wall time. Never writes to the cluster. Lives in the `esoutliers-tools` crate,
//! not in the product.

use std::collections::BTreeMap;
use std::time::Instant;

use clap::Parser;
use serde_json::json;

use esoutliers::evaluate::{self, event, Observation};
use esoutliers::execute::{ClusterOptions, HttpCluster};
use esoutliers::plan::{self, TimeWindow};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    config: std::path::PathBuf,
    /// End of the window, RFC 3339 (default now).
    #[arg(long)]
    now: Option<String>,
    #[arg(long, env = "ES_URL", default_value = "http://127.0.0.1:9200")]
    url: String,
    /// Events per scroll page (ee-outliers' es_scan_size).
    #[arg(long, default_value_t = 5000)]
    scan_size: u32,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let cfg = esoutliers::config::load(&a.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = match &a.now {
        Some(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)?,
        None => time::OffsetDateTime::now_utc(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let cluster = HttpCluster::open(ClusterOptions::new(&a.url))?;
    let mut results = Vec::new();
    for uc in cfg.use_cases.iter().filter(|u| u.run_model) {
        let t0 = Instant::now();
        let before = cluster.traffic();
        let window = TimeWindow::ending_at(now, uc.history_window_hours);
        let query = plan::filter_query(uc, window);
        let mut counts: BTreeMap<(Vec<String>, Vec<String>), u64> = BTreeMap::new();
        let events = rt.block_on(cluster.scan(
            &uc.index_pattern,
            &query,
            a.scan_size,
            None,
            "scan every event",
            &mut |hit| {
                for agg in event::combos(&hit.source, &uc.aggregator) {
                    for tgt in event::combos(&hit.source, &uc.target) {
                        *counts.entry((agg.clone(), tgt)).or_default() += 1;
                    }
                }
            },
        ))?;
        let obs: Vec<Observation> = counts
            .into_iter()
            .map(|((aggregator, target), doc_count)| Observation {
                aggregator,
                target,
                doc_count,
            })
            .collect();
        let pairs = obs.len();
        let findings = evaluate::findings(uc.count_method, uc.trigger, uc.min_target_buckets, &obs);
        let t = cluster.traffic().since(before);
        let outliers: Vec<serde_json::Value> = findings
            .iter()
            .map(|f| json!([f.aggregator_joined(), f.target_joined(), f.term_count]))
            .collect();
        results.push(json!({
            "use_case": uc.name,
            "events_read": events,
            "pairs": pairs,
            "outliers": outliers,
            "bytes_received": t.bytes_received,
            "requests": t.requests,
            "detection_ms": t0.elapsed().as_millis() as u64,
        }));
    }
    println!("{}", serde_json::to_string(&results)?);
    Ok(())
}
