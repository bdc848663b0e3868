//! The real-node harness: unique indices, bulk loading, running the esoutliers binary,
//! and reading back what is in the index. No mocks: the node is a real Elasticsearch.
//! For fault tests: waits on conditions with a deadline (a running `_update_by_query`
//! task, read from `_tasks`), never fixed sleeps, and free HTTP ports for nodes of a
//! test's own, chosen at run time and held by a lock file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Value};

pub fn es_url() -> String {
    std::env::var("ES_URL").unwrap_or_else(|_| "http://127.0.0.1:9200".to_string())
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .unwrap()
}

/// Replicas of every test index: `ES_TEST_REPLICAS` (default 0; `make test-cluster` runs
/// the suite on a three-node cluster with 1).
fn replicas() -> u32 {
    std::env::var("ES_TEST_REPLICAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A fresh index, deleted when dropped.
pub struct TestIndex {
    pub name: String,
    /// The node holding it.
    pub url: String,
    pub dir: tempfile::TempDir,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl TestIndex {
    /// Creates `it-<label>-<pid>-<n>` with keyword mappings for strings, one shard.
    pub fn new(label: &str) -> TestIndex {
        TestIndex::with_shards(label, 1)
    }

    /// As [`TestIndex::new`] with `shards` primary shards.
    pub fn with_shards(label: &str, shards: u32) -> TestIndex {
        TestIndex::on(&es_url(), label, shards)
    }

    /// As [`TestIndex::with_shards`] on the node at `url`.
    pub fn on(url: &str, label: &str, shards: u32) -> TestIndex {
        TestIndex::replicated(url, label, shards, replicas())
    }

    /// As [`TestIndex::on`] with `replicas` replicas of each shard.
    pub fn replicated(url: &str, label: &str, shards: u32, replicas: u32) -> TestIndex {
        let name = format!(
            "it-{label}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        )
        .to_lowercase();
        let c = client();
        let _ = c.delete(format!("{url}/{name}")).send();
        let r = c
            .put(format!("{url}/{name}"))
            .json(&json!({
                "settings": { "number_of_shards": shards, "number_of_replicas": replicas },
                "mappings": {
                    "dynamic_templates": [ { "strings": { "match_mapping_type": "string", "mapping": { "type": "keyword" } } } ],
                    "properties": { "@timestamp": { "type": "date" } }
                }
            }))
            .send()
            .unwrap_or_else(|e| panic!("the test node at {url} is not reachable ({e}); run `make es-up`"));
        assert!(
            r.status().is_success(),
            "create index {name}: {}",
            r.text().unwrap()
        );
        TestIndex {
            name,
            url: url.to_string(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Adds explicit field mappings (`properties`) before any event is loaded.
    pub fn put_mapping(&self, properties: Value) {
        let r = client()
            .put(format!("{}/{}/_mapping", self.url, self.name))
            .json(&json!({ "properties": properties }))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "mapping: {}", r.text().unwrap());
    }

    /// Indexes `docs` as (id, source) and refreshes.
    pub fn load(&self, docs: &[(String, Value)]) {
        let mut body = String::new();
        for (id, d) in docs {
            body.push_str(&json!({ "index": { "_id": id } }).to_string());
            body.push('\n');
            body.push_str(&d.to_string());
            body.push('\n');
        }
        let r = client()
            .post(format!("{}/{}/_bulk?refresh=true", self.url, self.name))
            .header("Content-Type", "application/x-ndjson")
            .body(body)
            .send()
            .unwrap();
        let v: Value = r.json().unwrap();
        assert_eq!(v["errors"], json!(false), "bulk: {v}");
    }

    /// Every document: id -> (_seq_no, _source), read with one search.
    pub fn snapshot(&self) -> BTreeMap<String, (u64, Value)> {
        let c = client();
        c.post(format!("{}/{}/_refresh", self.url, self.name))
            .send()
            .unwrap();
        let v: Value = c
            .post(format!("{}/{}/_search", self.url, self.name))
            .json(&json!({ "size": 10000, "seq_no_primary_term": true, "query": { "match_all": {} } }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["_id"].as_str().unwrap().to_string(),
                    (h["_seq_no"].as_u64().unwrap(), h["_source"].clone()),
                )
            })
            .collect()
    }

    /// Ids of documents tagged `outlier`.
    pub fn tagged_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .snapshot()
            .into_iter()
            .filter(|(_, (_, s))| {
                s["tags"]
                    .as_array()
                    .is_some_and(|t| t.contains(&json!("outlier")))
            })
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        ids
    }

    /// Writes a config file for this index; `use_case` is the body of a `[terms_*]` section.
    pub fn config(&self, general_extra: &str, sections: &str) -> PathBuf {
        let path = self.dir.path().join("case.conf");
        let text = format!(
            "[general]\nes_index_pattern={}\ntimestamp_field=@timestamp\nhistory_window_days=30\nhistory_window_hours=0\n{general_extra}\n\n{sections}\n",
            self.name
        );
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl TestIndex {
    /// Copies `tests/cases/<case>.conf`, pointed at this index.
    pub fn case(&self, case: &str) -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/cases")
            .join(format!("{case}.conf"));
        let text =
            std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("es_index_pattern=") {
                    format!("es_index_pattern={}", self.name)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let path = self.dir.path().join(format!("{case}.conf"));
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TestIndex {
    fn drop(&mut self) {
        if std::env::var("KEEP_TEST_INDICES").is_err() {
            let _ = client()
                .delete(format!("{}/{}", self.url, self.name))
                .send();
        }
    }
}

/// The result of running the esoutliers binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("report is not JSON ({e}): {}\n{}", self.stdout, self.stderr)
        })
    }
}

/// Runs `esoutliers <args>` against the test node.
pub fn esoutliers(args: &[&str]) -> Run {
    esoutliers_env(args, &[])
}

pub fn esoutliers_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_esoutliers"));
    cmd.args(args)
        .env("ES_URL", es_url())
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run esoutliers");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An RFC 3339 timestamp `hours` before now.
pub fn hours_ago(hours: f64) -> String {
    let t = time::OffsetDateTime::now_utc() - time::Duration::seconds_f64(hours * 3600.0);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A process event (ECS fields).
pub fn process_event(parent: &str, child: &str, ts: &str, category: &str) -> Value {
    json!({
        "@timestamp": ts,
        "event": { "category": category },
        "host": { "name": "ws-1" },
        "process": { "name": child, "parent": { "name": parent } }
    })
}

/// What a [`proxy`] does with one request.
pub enum Action {
    /// Pass it to the node and its answer back.
    Forward,
    /// Answer with this status and JSON body (plus `Retry-After: 0` for 429/503).
    Respond(u16, String),
    /// Close the connection without an answer.
    Drop,
    /// Pass it to the node, then replace `from` with `to` in the answer's body.
    Rewrite(&'static str, &'static str),
    /// Answer 429 (a rejected execution) asking to come back in this many seconds.
    Throttle(u64),
}

/// One request as the proxy sees it.
pub struct Seen {
    /// e.g. `POST /it-x/_search?filter_path=...`
    pub request_line: String,
    /// The `Authorization` header value, if any.
    pub authorization: Option<String>,
    /// How many requests this proxy saw before this one.
    pub n: usize,
    /// The request body (JSON for every request esoutliers sends).
    pub body: String,
}

/// A small HTTP/1.1 proxy in front of the real node, for faults and authentication the
/// node cannot produce itself (429 storms, dropped connections, partial shard results,
/// a password check on an Apache-2.0 build without security). One request per
/// connection; `decide` picks the [`Action`]. Returns the port on 127.0.0.1.
pub fn proxy(decide: impl Fn(&Seen) -> Action + Send + Sync + 'static) -> u16 {
    proxy_to(&es_url(), decide)
}

/// As [`proxy`], in front of the node at `url`.
pub fn proxy_to(url: &str, decide: impl Fn(&Seen) -> Action + Send + Sync + 'static) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = url.trim_start_matches("http://").to_string();
    let decide = Arc::new(decide);
    let count = Arc::new(AtomicU32::new(0));
    std::thread::spawn(move || {
        for conn in listener.incoming().take(5000) {
            let Ok(client) = conn else { continue };
            let (upstream, decide, count) = (upstream.clone(), decide.clone(), count.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut head = Vec::new();
                let mut request_line = String::new();
                let mut authorization = None;
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let lower = line.to_ascii_lowercase();
                    if request_line.is_empty() {
                        request_line = line.trim().to_string();
                    }
                    if lower.starts_with("authorization:") {
                        authorization = Some(line["authorization:".len()..].trim().to_string());
                    }
                    if lower.starts_with("content-length:") {
                        len = line["content-length:".len()..].trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("connection:") || lower.starts_with("accept-encoding:") {
                        continue;
                    }
                    if line == "\r\n" {
                        head.extend_from_slice(b"Connection: close\r\n\r\n");
                        break;
                    }
                    head.extend_from_slice(line.as_bytes());
                }
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let seen = Seen {
                    request_line,
                    authorization,
                    n: count.fetch_add(1, Ordering::SeqCst) as usize,
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let mut client = client;
                let forward = |head: &[u8], body: &[u8]| -> Vec<u8> {
                    let mut up = TcpStream::connect(&upstream).unwrap();
                    up.write_all(head).unwrap();
                    up.write_all(body).unwrap();
                    let mut resp = Vec::new();
                    let _ = up.read_to_end(&mut resp);
                    resp
                };
                match decide(&seen) {
                    Action::Forward => {
                        let _ = client.write_all(&forward(&head, &body));
                    }
                    Action::Respond(status, msg) => {
                        let _ = write!(
                            client,
                            "HTTP/1.1 {status} Fault\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: 0\r\nConnection: close\r\n\r\n{msg}",
                            msg.len()
                        );
                    }
                    Action::Drop => {
                        let _ = client.shutdown(std::net::Shutdown::Both);
                    }
                    Action::Throttle(secs) => {
                        let msg = r#"{"error":{"root_cause":[{"type":"es_rejected_execution_exception","reason":"rejected execution"}],"type":"es_rejected_execution_exception","reason":"rejected execution"},"status":429}"#;
                        let _ = write!(
                            client,
                            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: {secs}\r\nConnection: close\r\n\r\n{msg}",
                            msg.len()
                        );
                    }
                    Action::Rewrite(from, to) => {
                        let resp = forward(&head, &body);
                        let text = String::from_utf8_lossy(&resp).into_owned();
                        let (h, b) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
                        let b = b.replace(from, to);
                        let h: String = h
                            .lines()
                            .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
                            .map(|l| format!("{l}\r\n"))
                            .collect();
                        let _ = write!(client, "{h}Content-Length: {}\r\n\r\n{b}", b.len());
                    }
                }
            });
        }
    });
    port
}

/// `n` process events one hour old, spread over 5 parents and 11 children.
pub fn spread_events(n: usize) -> Vec<(String, Value)> {
    (0..n)
        .map(|i| {
            (
                format!("e{i}"),
                process_event(
                    &format!("p{}.exe", i % 5),
                    &format!("c{}.exe", i % 11),
                    &hours_ago(1.0),
                    "process",
                ),
            )
        })
        .collect()
}

/// A use case under which every event is an outlier (float, high, 0: any count > 0), so
/// tagging touches every event.
pub const EVERY_EVENT: &str = "[terms_all]
aggregator=process.parent.name
target=process.name
trigger_on=high
trigger_method=float
trigger_sensitivity=0
outlier_type=process execution
outlier_reason=every event
outlier_summary={process.name} under {process.parent.name}
";

/// Every document carries exactly one outlier entry and the `outlier` tag once.
pub fn assert_each_tagged_once(docs: &BTreeMap<String, (u64, Value)>) {
    for (id, (_, src)) in docs {
        assert_eq!(src["outliers"]["total_outliers"], json!(1), "{id}: {src}");
        assert_eq!(
            src["outliers"]["summary"].as_array().map(Vec::len),
            Some(1),
            "{id}"
        );
        assert_eq!(src["tags"], json!(["outlier"]), "{id}");
    }
}

/// The seed use case on ECS fields, without a filter: rare child process per parent,
/// pct_of_avg_value 1%.
pub const RARE_CASE: &str = "[terms_rare]
aggregator=process.parent.name
target=process.name
trigger_on=low
trigger_method=pct_of_avg_value
trigger_sensitivity=1
outlier_type=process execution
outlier_reason=rare child process
outlier_summary=rare child process {process.name} for {process.parent.name}
";

/// Polls `probe` every 50 ms until it gives a value, and returns it; panics naming `what`
/// once `deadline` has passed. The one way a fault test waits: on a condition, never for
/// a fixed time.
pub fn wait_until<T>(
    what: &str,
    deadline: std::time::Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "waited {deadline:?} for {what}; it did not happen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A running `_update_by_query` task as `GET _tasks?actions=*byquery&detailed` lists it.
#[derive(Debug, Clone)]
pub struct ByQueryTask {
    /// The id esoutliers polls (`node:number`): the leader when the task is sliced.
    pub id: String,
    /// Events updated so far: the leader's count plus those of its running slices (a
    /// sliced leader counts only its finished slices).
    pub updated: u64,
}

/// The running `_update_by_query` task on `index` at `url`, if any: the task whose
/// description names `[index]` and that has no parent, with its slices' counts added.
pub fn running_byquery_task(url: &str, index: &str) -> Option<ByQueryTask> {
    let v: Value = client()
        .get(format!("{url}/_tasks?actions=*byquery&detailed=true"))
        .send()
        .ok()?
        .json()
        .ok()?;
    let named = format!("[{index}]");
    let tasks: Vec<(&String, &Value)> = v["nodes"]
        .as_object()?
        .values()
        .filter_map(|n| n["tasks"].as_object())
        .flatten()
        .filter(|(_, t)| {
            t["description"]
                .as_str()
                .is_some_and(|d| d.contains(&named))
        })
        .collect();
    let (id, _) = tasks
        .iter()
        .find(|(_, t)| t.get("parent_task_id").is_none())?;
    let mine = |(tid, t): &&(&String, &Value)| {
        *tid == *id || t["parent_task_id"].as_str() == Some(id.as_str())
    };
    let updated = tasks
        .iter()
        .filter(mine)
        .map(|(_, t)| t["status"]["updated"].as_u64().unwrap_or(0))
        .sum();
    Some(ByQueryTask {
        id: id.to_string(),
        updated,
    })
}

/// Waits until the tagging task of `child` (an esoutliers run) on `index` at `url` is
/// under way: visible in `_tasks` and its first batch written (its scrolls are open),
/// while `child` still runs. Panics with the run's output if it ends first, and after
/// 180 s (counting on a loaded machine included).
pub fn wait_for_tagging(url: &str, index: &str, child: &mut std::process::Child) -> ByQueryTask {
    wait_until(
        &format!("the tagging task on {index} to write its first batch"),
        std::time::Duration::from_secs(180),
        || {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!("esoutliers ended ({status}) before its tagging task was seen: {err}");
            }
            running_byquery_task(url, index).filter(|t| t.updated > 0)
        },
    )
}

/// The lowest and highest HTTP port a node of a test's own may get: below 9300 because
/// the node runner (scripts/esnode.sh) hands out HTTP ports up to 9299 only, and clear
/// of the ports make targets fix (9200, 9260, 9270-9272) and of those older versions of
/// these tests used (9282-9286), which another checkout may still run.
const OWN_PORTS: std::ops::RangeInclusive<u16> = 9210..=9259;

/// `n` consecutive HTTP ports for a node (or cluster) of a test's own, free when chosen
/// and reserved until dropped: each port's lock file (in the system's temporary folder)
/// is held exclusively, so test threads and concurrent runs from other checkouts never
/// pick the same port. Node `i` also binds transport port `first + 100 + i - 1`
/// (scripts/esnode.sh: the transport port follows the HTTP port); it is checked free too.
pub struct PortLease {
    /// The first port; node `i` (from 1) serves `first + i - 1`, as esnode.sh says.
    pub first: u16,
    _locks: Vec<std::fs::File>,
}

impl PortLease {
    /// Leases `n` consecutive free ports from [`OWN_PORTS`], trying every start once from
    /// a place that differs per process and call. Panics when none is free.
    pub fn take(n: u16) -> PortLease {
        let (lo, hi) = (*OWN_PORTS.start(), *OWN_PORTS.end());
        let span = hi - lo + 2 - n;
        let seed = std::process::id() as u64
            + SEQ.fetch_add(1, Ordering::SeqCst) as u64
            + std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as u64;
        for k in 0..span as u64 {
            let first = lo + ((seed + k) % span as u64) as u16;
            let locks: Option<Vec<std::fs::File>> = (first..first + n).map(lock_port).collect();
            if let Some(locks) = locks {
                return PortLease {
                    first,
                    _locks: locks,
                };
            }
        }
        panic!("no {n} consecutive free ports in {OWN_PORTS:?}");
    }
}

/// The lock of HTTP port `port`, if it could be taken and nothing listens on the port or
/// on its transport port `port + 100` (the runner itself moves on to the next HTTP port
/// when a connection succeeds; a bind proves more).
fn lock_port(port: u16) -> Option<std::fs::File> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
    let path = std::env::temp_dir().join(format!("esoutliers-it-port-{port}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .ok()?;
    file.try_lock().ok()?;
    for p in [port, port + 100] {
        TcpListener::bind((Ipv4Addr::LOCALHOST, p)).ok()?;
        let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, p));
        let t = std::time::Duration::from_millis(200);
        if TcpStream::connect_timeout(&v6, t).is_ok() {
            return None;
        }
    }
    Some(file)
}

/// A file of a parity case, `tests/parity/<case>/<name>` (what ee-outliers 0.2.17 wrote on
/// hand-made events; see tests/parity/README.md).
pub fn parity_file(case: &str, name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/parity")
        .join(case)
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The events of a parity case, each with its `event.id` as document id.
pub fn parity_events(case: &str) -> Vec<(String, Value)> {
    parity_file(case, "events.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["event"]["id"].as_str().unwrap().to_string(), v)
        })
        .collect()
}
