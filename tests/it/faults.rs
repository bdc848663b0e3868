//! Faults on the real node (SPEC section 8, issue "faults"): nothing lost, nothing tagged
//! twice. Where the node cannot produce a fault itself (a 429 storm, a dropped connection,
//! a partial shard failure), the small proxy of the harness injects it in front of it.
//! A fault that must hit a phase is injected once the phase is seen (the tagging task in
//! `_tasks`, with its first batch written), never after a fixed sleep, and the test then
//! asserts that it hit there. Nodes of a test's own get free ports chosen at run time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::harness::{
    assert_each_tagged_once, esoutliers, esoutliers_env, hours_ago, path_str, process_event, proxy,
    running_byquery_task, spread_events, wait_for_tagging, wait_until, Action, ByQueryTask,
    PortLease, TestIndex, EVERY_EVENT, RARE_CASE as CASE,
};

/// Three parents, each with a usual child x300 and one rare child x1.
fn loaded(label: &str) -> (TestIndex, Vec<String>) {
    let idx = TestIndex::new(label);
    let mut d: Vec<(String, Value)> = Vec::new();
    let mut rare = Vec::new();
    for p in ["winword.exe", "excel.exe", "outlook.exe"] {
        for i in 0..300 {
            d.push((
                format!("{p}-{i}"),
                process_event(p, "splwow64.exe", &hours_ago(1.0), "process"),
            ));
        }
        d.push((
            format!("{p}-rare"),
            process_event(p, "cmd.exe", &hours_ago(1.0), "process"),
        ));
        rare.push(format!("{p}-rare"));
    }
    idx.load(&d);
    rare.sort();
    (idx, rare)
}

/// `esoutliers run --format json` through the proxy listening on `port`.
fn run_behind(port: u16, conf: &std::path::Path) -> crate::harness::Run {
    esoutliers_env(
        &["run", "--config", path_str(conf), "--format", "json"],
        &[("ES_URL", &format!("http://127.0.0.1:{port}"))],
    )
}

const TOO_MANY: &str = r#"{"error":{"root_cause":[{"type":"es_rejected_execution_exception","reason":"rejected execution (queue capacity 1000)"}],"type":"es_rejected_execution_exception","reason":"rejected execution (queue capacity 1000)"},"status":429}"#;

#[test]
fn a_storm_of_429s_during_paging_and_tagging_is_retried_and_reported() {
    let (idx, rare) = loaded("storm429");
    // Every other request among the first 16 is refused with 429: composite pages,
    // field caps, update-by-query and task polls all meet the storm.
    let port = proxy(|seen| {
        if seen.n < 16 && seen.n % 2 == 1 {
            Action::Respond(429, TOO_MANY.into())
        } else {
            Action::Forward
        }
    });
    let conf = idx.config("", CASE);
    let run = run_behind(port, &conf);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let uc = &run.json()["use_cases"][0];
    assert!(uc["retries"].as_u64().unwrap() >= 4, "{uc}");
    assert_eq!(idx.tagged_ids(), rare);
    for id in &rare {
        assert_eq!(idx.snapshot()[id].1["outliers"]["total_outliers"], json!(1));
    }
}

#[test]
fn dropped_connections_are_retried() {
    let (idx, rare) = loaded("dropped");
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let port = proxy(move |seen| {
        if seen.request_line.contains("/_search") && d.fetch_add(1, Ordering::SeqCst) < 2 {
            Action::Drop
        } else {
            Action::Forward
        }
    });
    let conf = idx.config("", CASE);
    let run = run_behind(port, &conf);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(drops.load(Ordering::SeqCst) >= 2);
    assert_eq!(idx.tagged_ids(), rare);
}

/// The composite `after` key of a search body, if any.
fn after_key(body: &str) -> Option<Value> {
    fn find(v: &Value) -> Option<Value> {
        match v {
            Value::Object(m) => m
                .get("composite")
                .and_then(|c| c.get("after"))
                .cloned()
                .or_else(|| m.values().find_map(find)),
            _ => None,
        }
    }
    find(&serde_json::from_str(body).ok()?)
}

/// Loads `usual + 1` pairs under one parent into `idx` (`usual` children x2, `rare.exe`
/// x1) and writes a config (float, low, 2; nothing written) under which only the rare
/// pair is an outlier.
fn one_parent_with_a_rare_child(idx: &TestIndex, usual: usize) -> std::path::PathBuf {
    let mut d: Vec<(String, Value)> = Vec::new();
    for c in 0..usual {
        for k in 0..2 {
            d.push((
                format!("c{c}-{k}"),
                process_event("p0.exe", &format!("c{c}.exe"), &hours_ago(1.0), "process"),
            ));
        }
    }
    d.push((
        "rare".into(),
        process_event("p0.exe", "rare.exe", &hours_ago(1.0), "process"),
    ));
    idx.load(&d);
    let case = CASE
        .replace("trigger_method=pct_of_avg_value", "trigger_method=float")
        .replace("trigger_sensitivity=1", "trigger_sensitivity=2");
    idx.config("es_save_results=0", &case)
}

/// Every search the paging proxy saw: its after_key and whether it was dropped.
type SearchLog = Arc<std::sync::Mutex<Vec<(Option<Value>, bool)>>>;

/// A proxy in front of the test node that claims search.max_buckets = 500 (so the 1,200
/// pairs take 3 pages), logs every composite page's after_key and whether it was dropped, and
/// drops the connections of the second page while `drop_page2` says so.
fn paging_proxy(drop_page2: impl Fn() -> bool + Send + Sync + 'static) -> (u16, SearchLog) {
    let searches: SearchLog = Arc::default();
    let log = searches.clone();
    let port = crate::harness::proxy_to(&crate::harness::es_url(), move |seen| {
        if seen.request_line.contains("_cluster/settings") {
            return Action::Rewrite(
                "\"search.max_buckets\":\"65535\"",
                "\"search.max_buckets\":\"500\"",
            );
        }
        // Composite pages of pairs only: the fetch of the outlier pair's events (its
        // summary names event fields, filled per event) is a search too, and the lead
        // request (a composite over the parent alone) is not a page of pairs.
        if !seen.request_line.contains("/_search")
            || !seen.body.contains("\"composite\"")
            || seen.body.contains("\"lead\":{\"terms\"")
        {
            return Action::Forward;
        }
        let after = after_key(&seen.body);
        let mut l = log.lock().unwrap();
        let first_after = l.iter().find_map(|(a, _)| a.clone());
        // The second page is the first one with an after_key.
        let page2 = after.is_some() && (first_after.is_none() || first_after == after);
        let drop = page2 && drop_page2();
        l.push((after, drop));
        if drop {
            Action::Drop
        } else {
            Action::Forward
        }
    });
    (port, searches)
}

/// The first page was asked once, every request for the second page carried the same
/// after_key, and the counts are exact.
fn assert_resumed(run: &crate::harness::Run, seen: &[(Option<Value>, bool)]) {
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        seen.iter().filter(|(a, _)| a.is_none()).count(),
        1,
        "{seen:?}"
    );
    let dropped_after = seen.iter().find(|(_, d)| *d).expect("a drop").0.clone();
    let answered = seen
        .iter()
        .filter(|(a, d)| *a == dropped_after && !d)
        .count();
    assert_eq!(answered, 1, "page 2 answered once: {seen:?}");
    let uc = &run.json()["use_cases"][0];
    assert_eq!(uc["buckets_read"], 1200, "{uc}");
    assert_eq!(uc["pages"], 3, "{uc}");
    assert_eq!(uc["outliers"].as_array().unwrap().len(), 1, "{uc}");
    assert_eq!(uc["outliers"][0]["target"], "rare.exe");
}

#[test]
fn paging_resumes_from_the_last_after_key_when_connections_drop() {
    // Every connection carrying the second page is dropped three times in a row; the
    // retries of that one request ask for it again with the same after_key.
    let idx = TestIndex::new("resume");
    let conf = one_parent_with_a_rare_child(&idx, 1199);
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let (port, searches) = paging_proxy(move || d.fetch_add(1, Ordering::SeqCst) < 3);
    let run = run_behind(port, &conf);
    assert_eq!(drops.load(Ordering::SeqCst), 4, "3 drops, then the answer");
    let seen = searches.lock().unwrap().clone();
    assert_eq!(seen.iter().filter(|(_, d)| *d).count(), 3, "{seen:?}");
    assert_resumed(&run, &seen);
}

#[test]
fn paging_waits_out_an_outage_longer_than_the_retries_and_resumes() {
    // The second page's connections are dropped 9 times in a row: more than the 6 attempts
    // of one request (retries with backoff, about 8-12 s), so the request fails and paging
    // must wait for the cluster and ask for the same page again; nothing read so far is
    // lost. Counted, not timed: the fault is the same however slow the machine is.
    const DROPS: usize = 9;
    let idx = TestIndex::new("outage");
    let conf = one_parent_with_a_rare_child(&idx, 1199);
    let dropped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let d = dropped.clone();
    let (port, searches) = paging_proxy(move || {
        d.fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| (n < DROPS).then_some(n + 1),
        )
        .is_ok()
    });
    let run = run_behind(port, &conf);
    let seen = searches.lock().unwrap().clone();
    assert_eq!(seen.iter().filter(|(_, d)| *d).count(), DROPS, "{seen:?}");
    assert!(
        run.stderr.contains("resuming from the last after_key"),
        "{}",
        run.stderr
    );
    assert_resumed(&run, &seen);
}

#[test]
fn a_partial_shard_failure_fails_the_use_case_and_flags_nothing() {
    let (idx, _) = loaded("partial");
    // The node answers fully; the proxy turns the page into one with a failed shard,
    // as a cluster with a lost shard copy would answer with partial results allowed.
    let port = proxy(|seen| {
        if seen.request_line.contains("/_search") {
            Action::Rewrite("\"failed\":0", "\"failed\":1")
        } else {
            Action::Forward
        }
    });
    let conf = idx.config("", CASE);
    let run = run_behind(port, &conf);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let uc = &run.json()["use_cases"][0];
    assert!(
        uc["error"].as_str().unwrap().contains("partial results"),
        "{uc}"
    );
    assert!(uc["outliers"].as_array().unwrap().is_empty());
    assert!(idx.tagged_ids().is_empty());
}

#[test]
fn killed_during_tagging_then_run_again_tags_every_outlier_exactly_once() {
    // Every event is an outlier (float, high, 0), tagging throttled to take seconds (one
    // batch of 1,000 events, then 2 s per batch); the process is killed with SIGKILL once
    // its tagging task has written its first batch, then run again.
    let idx = TestIndex::new("sigkill");
    let n = 4000;
    idx.load(&spread_events(n));
    let conf = idx.config("", EVERY_EVENT);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_esoutliers"))
        .args([
            "-q",
            "run",
            "--config",
            path_str(&conf),
            "--requests-per-second",
            "500",
        ])
        .env("ES_URL", crate::harness::es_url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = crate::harness::es_url();
    let seen = wait_for_tagging(&url, &idx.name, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    // The kill hit tagging: the task had written some events, not all.
    assert!(seen.updated < n as u64, "killed after tagging: {seen:?}");
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The first run's server-side task outlives its client and may still be finishing
    // (both runs are idempotent): wait for its end, then it selected every event.
    let first = finished_task(&url, &seen.id);
    assert_eq!(first["response"]["total"], n, "{first}");
    let after = idx.snapshot();
    assert_eq!(after.len(), n);
    assert_each_tagged_once(&after);
}

#[test]
fn sigterm_stops_the_run_between_requests_and_says_so() {
    // Two use cases (detected together, tagged one after the other); SIGTERM arrives
    // while the first one's (throttled) tagging task runs (seen in `_tasks` with its
    // first batch written). That task completes (it is one request), the second use
    // case's tagging never starts, the report says why, and the exit status is 1.
    let idx = TestIndex::new("sigterm");
    let n = 3000;
    idx.load(&spread_events(n));
    let second = EVERY_EVENT
        .replace("[terms_all]", "[terms_second]")
        .replace("under", "below");
    let conf = idx.config("", &format!("{EVERY_EVENT}\n{second}"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_esoutliers"))
        .args([
            "-q",
            "run",
            "--config",
            path_str(&conf),
            "--format",
            "json",
            "--requests-per-second",
            "600",
        ])
        .env("ES_URL", crate::harness::es_url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let seen = wait_for_tagging(&crate::harness::es_url(), &idx.name, &mut child);
    assert!(seen.updated < n as u64, "signalled after tagging: {seen:?}");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The signal arrived during the first use case's tagging task, which completed; the
    // run stopped before the next request (the check after tagging) and says so, and
    // nothing is tagged twice.
    let first_error = report["use_cases"][0]["error"].as_str().unwrap_or_default();
    assert!(
        first_error.contains("stopped by a signal before the check after tagging"),
        "the stop came during tagging: {report}"
    );
    let stopped: Vec<&Value> = report["use_cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| {
            u["error"]
                .as_str()
                .is_some_and(|e| e.contains("stopped by a signal"))
        })
        .collect();
    assert!(!stopped.is_empty(), "{report}");
    assert_eq!(report["use_cases"][1]["status"], "failed", "{report}");
    // The first use case's tagging is one request, sent before the signal: it completed
    // (every event tagged once); the signal stopped the check after tagging, which fails
    // the use case without undoing anything.
    assert_ne!(report["use_cases"][0]["status"], "ok", "{report}");
    let after = idx.snapshot();
    let tagged = after
        .values()
        .filter(|(_, s)| s.get("outliers").is_some())
        .count();
    assert_eq!(tagged, n, "the task sent before the signal completed");
    assert_each_tagged_once(&after);
}

/// `GET _tasks/<id>` once the task has ended (it waits up to 120 s): the stored task with
/// its `response`.
fn finished_task(url: &str, id: &str) -> Value {
    let t: Value = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(150))
        .build()
        .unwrap()
        .get(format!(
            "{url}/_tasks/{id}?wait_for_completion=true&timeout=120s"
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(t["completed"], true, "task {id}: {t}");
    t
}

/// A node (or cluster) of a test's own, started on creation and stopped and removed when
/// dropped, also when the test fails: a node left running would be taken over by the next
/// run, from another checkout. Its ports are chosen free at run time and held until it is
/// dropped (after the node is removed).
struct OwnNode {
    port: u16,
    nodes: u32,
    _ports: PortLease,
}

impl OwnNode {
    /// Starts `nodes` nodes on free consecutive HTTP ports and checks that the node
    /// answering on the first is the one started here (esnode.sh would use anything that
    /// answers there).
    fn up(nodes: u32) -> OwnNode {
        let ports = PortLease::take(nodes as u16);
        let node = OwnNode {
            port: ports.first,
            nodes,
            _ports: ports,
        };
        esnode_cluster(&["up"], node.port, nodes);
        let info: Value = reqwest::blocking::get(node.url()).unwrap().json().unwrap();
        let name = info["cluster_name"].as_str().unwrap_or_default();
        assert!(
            name.starts_with("esoutliers-") && name.ends_with(&format!("-{}", node.port)),
            "the node at {} is not the one started here: {info}",
            node.url()
        );
        if nodes > 1 {
            // A cluster of more than one node obeys the disk watermarks (a single node
            // ignores them): on a machine whose disk build artefacts have filled past 90%
            // no shard would be allocated. These tests are about nodes going away, not
            // about disk space.
            let r = reqwest::blocking::Client::new()
                .put(format!("{}/_cluster/settings", node.url()))
                .json(&json!({ "transient": { "cluster.routing.allocation.disk.threshold_enabled": false } }))
                .send()
                .unwrap();
            assert!(r.status().is_success(), "{}", r.text().unwrap());
        }
        node
    }

    /// The HTTP address of node 1.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnNode {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/esnode.sh");
        let _ = std::process::Command::new("bash")
            .args([script, "clean"])
            .env("ES_PORT", self.port.to_string())
            .env("ES_NODES", self.nodes.to_string())
            .output();
    }
}

/// `esoutliers run --format json` on the node at `url` with tagging throttled to 500
/// events a second (5,000 events: about 10 s), in the background.
fn spawn_throttled_run(url: &str, conf: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_esoutliers"))
        .args([
            "run",
            "--config",
            path_str(conf),
            "--format",
            "json",
            "--requests-per-second",
            "500",
        ])
        .env("ES_URL", url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// `scripts/esnode.sh <cmd>` for a node of its own on `port`.
fn esnode(cmd: &str, port: u16) {
    esnode_cluster(&[cmd], port, 1);
}

/// `scripts/esnode.sh <args>` for a cluster of its own of `nodes` nodes from `port` on.
fn esnode_cluster(args: &[&str], port: u16, nodes: u32) {
    let cmd = args.join(" ");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/esnode.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .env("ES_PORT", port.to_string())
        .env("ES_NODES", nodes.to_string())
        .env("ES_HEAP", if nodes > 1 { "1500m" } else { "1g" })
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "esnode {cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn node_restarted_during_tagging_every_outlier_ends_up_tagged_once() {
    // A node of its own (the shared test node must stay up for the other tests). Tagging
    // is throttled to take ~10 s; the node is stopped once the task has written its first
    // batch, and started again. The lost task is submitted again once the node is back;
    // the run completes.
    let node = OwnNode::up(1);
    let (port, url) = (node.port, node.url());
    let idx = TestIndex::on(&url, "restart", 1);
    let n = 5000;
    idx.load(&spread_events(n));
    let conf = idx.config("", EVERY_EVENT);
    let mut child = spawn_throttled_run(&url, &conf);
    let seen = wait_for_tagging(&url, &idx.name, &mut child);
    assert!(seen.updated < n as u64, "stopped after tagging: {seen:?}");
    esnode("down", port);
    esnode("up", port);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let after = idx.snapshot();
    drop(idx);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("submitting it again") || stderr.contains("still waiting"),
        "the restart was seen: {stderr}"
    );
    // ... by the tagging task the test saw running before the stop.
    assert!(
        stderr.contains(&format!("task {}", seen.id)),
        "the log names task {}: {stderr}",
        seen.id
    );
    assert_eq!(after.len(), n);
    assert_each_tagged_once(&after);
}

#[test]
fn a_page_over_search_max_buckets_is_halved_not_resent() {
    // A node of its own with search.max_buckets = 100, behind a proxy that claims 1000:
    // the first page (1,000 buckets) is refused with too_many_buckets by the node itself,
    // and esoutliers halves the page until the node accepts it. The counts stay exact.
    let node = OwnNode::up(1);
    let url = node.url();
    let c = reqwest::blocking::Client::new();
    let r = c
        .put(format!("{url}/_cluster/settings"))
        .json(&json!({ "transient": { "search.max_buckets": 100 } }))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let idx = TestIndex::on(&url, "halve", 1);
    // 450 pairs: only the count-1 child is below 2.
    let conf = one_parent_with_a_rare_child(&idx, 449);
    let upstream = url.clone();
    let proxy_port = crate::harness::proxy_to(&upstream, |seen| {
        if seen.request_line.contains("_cluster/settings") {
            Action::Rewrite(
                "\"search.max_buckets\":\"100\"",
                "\"search.max_buckets\":\"1000\"",
            )
        } else {
            Action::Forward
        }
    });
    let run = run_behind(proxy_port, &conf);
    drop(idx);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("halving"), "{}", run.stderr);
    let uc = &run.json()["use_cases"][0];
    assert_eq!(uc["buckets_read"], 450, "{uc}");
    assert!(uc["pages"].as_u64().unwrap() >= 5, "{uc}");
    assert_eq!(uc["outliers"].as_array().unwrap().len(), 1);
    assert_eq!(uc["outliers"][0]["target"], "rare.exe");
}

/// Loads 5,000 events and one bystander (outside the window) into `idx`, starts a tagging
/// run throttled to ~10 s, stops node 3 of the cluster on `port` once the tagging task has
/// written its first batch, waits until node 1 has seen node 3 leave, checks that the
/// same task still runs (the stop came during tagging), and starts node 3 again. Asserts
/// the run ended well: exit 0, no failure left, every event tagged exactly once, the
/// bystander unchanged, and a report that agrees with what happened. Returns the report's
/// tagging section.
fn tag_while_node3_restarts(port: u16, idx: &TestIndex) -> Value {
    let url = format!("http://127.0.0.1:{port}");
    let n = 5000;
    let mut docs = spread_events(n);
    docs.push((
        "bystander".into(),
        process_event("p0.exe", "c0.exe", &hours_ago(24.0 * 400.0), "process"),
    ));
    idx.load(&docs);
    let shards: Value = reqwest::blocking::Client::new()
        .get(format!("{url}/_cat/shards/{}?format=json", idx.name))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        shards
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["node"] == "Node 3"),
        "node 3 holds shards of the index: {shards}"
    );
    let before = idx.snapshot();
    let conf = idx.config("", EVERY_EVENT);
    let mut child = spawn_throttled_run(&url, &conf);
    let seen = wait_for_tagging(&url, &idx.name, &mut child);
    esnode_cluster(&["stop-node", "3"], port, 3);
    let two = format!("{url}/_cluster/health?wait_for_nodes=2&timeout=1s");
    wait_until(
        "node 1 to see node 3 leave",
        std::time::Duration::from_secs(60),
        || {
            let h: Value = reqwest::blocking::get(&two).ok()?.json().ok()?;
            (h["timed_out"] == false).then_some(())
        },
    );
    // Tagging outlasts the stop: each slice sleeps ~10 s (throttled) after its first
    // batch, and a bulk meant for a shard that left waits up to 1 min for it.
    let still: Option<ByQueryTask> = running_byquery_task(&url, &idx.name);
    assert_eq!(
        still.map(|t| t.id),
        Some(seen.id.clone()),
        "the task seen before the stop still ran after node 3 had left"
    );
    esnode_cluster(&["start-node", "3"], port, 3);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{report:#}");
    assert_eq!(report["use_cases"][0]["status"], "ok", "{report}");
    let tagging = report["use_cases"][0]["tagging"].clone();
    eprintln!(
        "{}: tagging with node 3 stopped and started: {tagging}",
        idx.name
    );
    assert!(
        tagging["failures"].as_array().unwrap().is_empty(),
        "{tagging}"
    );
    assert_eq!(tagging["version_conflicts"], 0, "{tagging}");
    let retried = tagging["retried_failures"].as_u64().unwrap();
    // Every event gained its entry once, whichever task or pass wrote it, and the check
    // after tagging found it. (Events a failed task wrote after its last progress report
    // are counted as noops by the task sent again: updated + noops is exact, the split
    // is not.)
    let (updated, noops) = (
        tagging["updated"].as_u64().unwrap(),
        tagging["noops"].as_u64().unwrap(),
    );
    assert_eq!(updated + noops, n as u64, "{tagging}");
    assert!(noops == 0 || retried > 0, "{tagging}");
    assert_eq!(tagging["checked"], n, "{tagging}");
    assert_eq!(tagging["verified"], n, "{tagging}");
    // Another pass, or a task submitted again, only ever for a transient failure, and
    // each one is in the log.
    assert!(
        tagging["passes"].as_u64().unwrap() == 1 || retried > 0,
        "{tagging}"
    );
    assert_eq!(
        stderr.contains("transient failure"),
        retried > 0,
        "{stderr}"
    );
    let after = idx.snapshot();
    assert_eq!(after.len(), n + 1);
    let (tagged, untouched): (BTreeMap<_, _>, BTreeMap<_, _>) =
        after.into_iter().partition(|(id, _)| id != "bystander");
    assert_each_tagged_once(&tagged);
    assert_eq!(untouched["bystander"], before["bystander"]);
    tagging
}

#[test]
fn node_of_three_stopped_and_started_during_tagging_every_outlier_tagged_once() {
    // A three-node cluster of its own (three free ports chosen at run time); esoutliers
    // talks to node 1.
    let cluster = OwnNode::up(3);
    let (port, url) = (cluster.port, cluster.url());
    // 1. The usual layout: 6 shards, one replica each. Whether the stop hits the task
    //    depends on which copies its scrolls read; either way nothing may fail.
    let replicated = TestIndex::replicated(&url, "threenode", 6, 1);
    tag_while_node3_restarts(port, &replicated);
    drop(replicated);
    // 2. An index whose only copy lives on node 3: the stop always hits the task (its
    //    scroll and its shard go away). esoutliers waits for the shard to come back and
    //    tags the rest in another pass.
    let pinned = TestIndex::replicated(&url, "pinned", 1, 0);
    let r = reqwest::blocking::Client::new()
        .put(format!("{url}/{}/_settings", pinned.name))
        .json(&json!({ "index.routing.allocation.require._name": "Node 3" }))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let health: Value = reqwest::blocking::Client::new()
        .get(format!(
            "{url}/_cluster/health/{}?wait_for_status=green&wait_for_no_relocating_shards=true&timeout=60s",
            pinned.name
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        health["timed_out"], false,
        "the shard moved to node 3: {health}"
    );
    let tagging = tag_while_node3_restarts(port, &pinned);
    drop(pinned);
    assert!(
        tagging["retried_failures"].as_u64().unwrap() > 0,
        "{tagging}"
    );
}
