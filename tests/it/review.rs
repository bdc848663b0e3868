//! The morning review on the real node: notifications to a real SMTP server run by the
//! test (aiosmtpd, `support/smtp_sink.py`, TLS with a certificate made here by openssl)
//! and to a real HTTP receiver; the history folder, `report --history`, and the HTML in
//! headless Chromium (screenshots under target/review-artefacts/); `tune`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::harness::{esoutliers, hours_ago, path_str, process_event, TestIndex, RARE_CASE};

const USER: &str = "bot@example.org";
const PASSWORD: &str = "hunter2-Secret-Value";
const HOOK_SECRET: &str = "T0KEN-in-the-path";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A test CA and a server certificate it signed for 127.0.0.1 (ca, cert, key): rustls
/// refuses a self-signed certificate used as the server's own.
fn certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    let openssl = |args: &[&str]| {
        let ok = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stderr(Stdio::null())
            .status()
            .expect("openssl must be installed");
        assert!(ok.success(), "openssl {args:?}");
    };
    std::fs::write(
        p("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=esoutliers test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "smtp-key.pem",
        "-out",
        "leaf.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "smtp-cert.pem",
    ]);
    (p("ca.pem"), p("smtp-cert.pem"), p("smtp-key.pem"))
}

/// The SMTP server of one test; stopped when dropped.
struct SmtpSink {
    child: Child,
    port: u16,
    out: PathBuf,
    /// The CA that signed the server's certificate (`smtp_ca_cert`).
    ca: PathBuf,
}

impl SmtpSink {
    fn start(dir: &Path, mode: &str) -> SmtpSink {
        let (ca, cert, key) = certificate(dir);
        let out = dir.join(format!("mail-{mode}"));
        std::fs::create_dir_all(&out).unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args([mode, &port.to_string()])
            .args([&out, &cert, &key])
            .args([USER, PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (.ci/run installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP sink did not start (pip install aiosmtpd)"
        );
        SmtpSink {
            child,
            port,
            out,
            ca,
        }
    }

    /// Messages received, in order.
    fn messages(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// A local HTTP receiver: answers each POST with the next status of `statuses` (200 once
/// they run out) and keeps (path, body) of each.
/// The (path, body) of each request a [`receiver`] took.
type Posts = Arc<Mutex<Vec<(String, String)>>>;

fn receiver(statuses: Vec<u16>) -> (u16, Posts) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            r.read_line(&mut first).unwrap();
            let mut len = 0;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
            seen.lock()
                .unwrap()
                .push((path, String::from_utf8_lossy(&body).into_owned()));
            let status = statuses.next().unwrap_or(200);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (port, got)
}

/// Two flagged parents (winword.exe -> cmd.exe, excel.exe -> cmd.exe), 300 usual events
/// each; the rare events have ids `<parent>-rare`.
fn load_rare(idx: &TestIndex) {
    let mut d: Vec<(String, Value)> = Vec::new();
    for (parent, usual) in [
        ("winword.exe", "splwow64.exe"),
        ("excel.exe", "conhost.exe"),
    ] {
        for i in 0..300 {
            d.push((
                format!("{parent}-{i}"),
                process_event(parent, usual, &hours_ago(2.0), "process"),
            ));
        }
        d.push((
            format!("{parent}-rare"),
            process_event(parent, "cmd.exe", &hours_ago(1.0), "process"),
        ));
    }
    idx.load(&d);
}

fn notifier(sink: &SmtpSink, security: &str, user: &str, extra: &str) -> String {
    format!(
        "[notifier]\nemail_notifier=1\nnotification_email=soc@example.org\nsmtp_user={user}\nsmtp_pass={}\n\
         smtp_server=127.0.0.1\nsmtp_port={}\nsmtp_security={security}\nsmtp_ca_cert={}\nmax_cache_ignore=1000\n{extra}\n",
        if user.is_empty() { "" } else { PASSWORD },
        sink.port,
        sink.ca.display()
    )
}

fn notified_case() -> String {
    format!("{RARE_CASE}should_notify=1\n")
}

#[test]
fn new_outliers_are_mailed_over_tls_and_posted_once_and_never_twice_while_cached() {
    let idx = TestIndex::new("notify-tls");
    load_rare(&idx);
    let sink = SmtpSink::start(idx.dir.path(), "tls");
    let (hport, posts) = receiver(vec![503]);
    let hook = format!("http://127.0.0.1:{hport}/hooks/{HOOK_SECRET}");
    let conf = idx.config(
        "",
        &format!(
            "{}\n{}",
            notifier(&sink, "tls", USER, &format!("webhook_url={hook}")),
            notified_case()
        ),
    );
    let run = |extra: &[&str]| {
        let mut a = vec!["-v", "run", "--config", path_str(&conf), "--format", "json"];
        a.extend_from_slice(extra);
        esoutliers(&a)
    };
    let first = run(&[]);
    assert_eq!(first.code, 0, "{}\n{}", first.stderr, first.stdout);
    let mails = sink.messages();
    assert_eq!(mails.len(), 2, "one message per new summary");
    let mut subjects: Vec<String> = mails
        .iter()
        .map(|m| {
            // Headers unfolded (a long subject is folded over lines, RFC 5322 2.2.3).
            let data = m["data"].as_str().unwrap().replace("\r\n ", " ");
            data.lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap()
                .to_string()
        })
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            "Eagle Eye - outlier alert: rare child process cmd.exe for excel.exe",
            "Eagle Eye - outlier alert: rare child process cmd.exe for winword.exe",
        ]
    );
    for m in &mails {
        assert_eq!(m["authenticated"], true, "logged in with smtp_user");
        assert_eq!(m["from"], USER);
        assert_eq!(m["to"], json!(["soc@example.org"]));
        let data = m["data"].as_str().unwrap();
        assert!(data.contains("========RAW EVENT========"), "{data}");
        // The tagged event itself, as written after tagging.
        assert!(data.contains("-rare\""), "{data}");
        assert!(data.contains("\"outliers\": {"), "{data}");
        assert!(!data.contains(PASSWORD));
    }
    // The receiver answered 503 once: the post was tried again, then taken.
    let p = posts.lock().unwrap().clone();
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[0], p[1]);
    let body: Value = serde_json::from_str(&p[1].1).unwrap();
    assert_eq!(body["outliers"].as_array().unwrap().len(), 2);
    assert!(!p[1].1.contains(PASSWORD));
    let report = first.json();
    let n = &report["notifications"];
    assert_eq!(
        (
            n["new"].as_u64(),
            n["emails_sent"].as_u64(),
            n["webhook_posts"].as_u64()
        ),
        (Some(2), Some(2), Some(1))
    );
    for out in [&first.stdout, &first.stderr] {
        assert!(
            !out.contains(PASSWORD) && !out.contains(HOOK_SECRET),
            "{out}"
        );
    }

    // Again: both summaries are in the cache, nothing is sent.
    let second = run(&[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(sink.messages().len(), 2);
    assert_eq!(posts.lock().unwrap().len(), 2);
    let n = &second.json()["notifications"];
    assert_eq!(
        (n["new"].as_u64(), n["already_notified"].as_u64()),
        (Some(0), Some(2))
    );

    // A corrupt state file: every outlier is new again, and the run says so.
    let state = n["state_files"][0].as_str().unwrap().to_string();
    std::fs::write(&state, "{not json").unwrap();
    let third = run(&[]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(sink.messages().len(), 4);
    let n = &third.json()["notifications"];
    assert!(
        n["notes"][0]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "{n}"
    );
    let _ = std::fs::remove_file(&state);
}

#[test]
fn starttls_without_login_delivers_and_a_failed_send_gives_exit_4_with_tagging_done() {
    let idx = TestIndex::new("notify-starttls");
    load_rare(&idx);
    let sink = SmtpSink::start(idx.dir.path(), "starttls");
    let conf = idx.config(
        "",
        &format!(
            "{}\n{}",
            notifier(&sink, "starttls", "", ""),
            notified_case()
        ),
    );
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, run.stdout);
    let mails = sink.messages();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[0]["authenticated"], false);
    assert_eq!(
        mails[0]["from"], "soc@example.org",
        "no smtp_user: the recipient sends"
    );
    let state = run.json()["notifications"]["state_files"][0]
        .as_str()
        .unwrap()
        .to_string();
    let _ = std::fs::remove_file(&state);

    // Nothing listens on this port: the mail is not sent, tagging is done, exit 4.
    let idx2 = TestIndex::new("notify-fail");
    load_rare(&idx2);
    let mut dead = SmtpSink::start(idx2.dir.path(), "none");
    dead.port = free_port();
    let conf = idx2.config(
        "",
        &format!("{}\n{}", notifier(&dead, "none", USER, ""), notified_case()),
    );
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let report = run.json();
    let n = &report["notifications"];
    assert_eq!(n["failures"].as_array().unwrap().len(), 2, "{n}");
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
    assert_eq!(report["use_cases"][0]["status"], "ok");
    assert_eq!(
        idx2.tagged_ids(),
        vec!["excel.exe-rare", "winword.exe-rare"]
    );
    let _ = std::fs::remove_file(n["state_files"][0].as_str().unwrap());
}

/// The screenshots and pages of the HTML checks.
fn artefacts() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/review-artefacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Renders `page` in headless Chromium with no network (a proxy that does not exist):
/// its DOM, and a screenshot `<name>-<width>.png` at each width.
fn chromium(page: &Path, name: &str, dir: &Path) -> String {
    let profile = dir.join(format!("chromium-{name}"));
    let common = |c: &mut Command| {
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    };
    for width in [380, 1400] {
        let shot = artefacts().join(format!("{name}-{width}.png"));
        let mut c = Command::new("chromium");
        common(&mut c);
        let out = c
            .arg(format!("--window-size={width},1800"))
            .arg(format!("--screenshot={}", shot.display()))
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium must be installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 1000,
            "empty screenshot"
        );
    }
    let mut c = Command::new("chromium");
    common(&mut c);
    let out = c
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn history_marks_new_recurring_and_gone_and_report_renders_it_in_chromium() {
    let idx = TestIndex::new("history");
    load_rare(&idx);
    let conf = idx.config("", RARE_CASE);
    let hist = idx.dir.path().join("history");
    let run = |fmt: &str| {
        esoutliers(&[
            "run",
            "--config",
            path_str(&conf),
            "--history",
            path_str(&hist),
            "--format",
            fmt,
        ])
    };
    let first = run("json");
    assert_eq!(first.code, 0, "{}\n{}", first.stderr, first.stdout);
    let j = first.json();
    assert_eq!(j["history"]["earlier_runs"], 0);
    // The events tagged in the window, in one histogram.
    let buckets = j["use_cases"][0]["over_time"]["buckets"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        buckets.iter().map(|b| b[1].as_u64().unwrap()).sum::<u64>(),
        2
    );
    assert!(
        buckets.len() > 40 && buckets.len() <= 61,
        "{}",
        buckets.len()
    );

    // Tonight: excel's rare event is gone, powerpnt.exe -> cmd.exe is new.
    reqwest::blocking::Client::new()
        .delete(format!(
            "{}/{}/_doc/excel.exe-rare?refresh=true",
            crate::harness::es_url(),
            idx.name
        ))
        .send()
        .unwrap();
    let mut d: Vec<(String, Value)> = (0..300)
        .map(|i| {
            (
                format!("pp-{i}"),
                process_event("powerpnt.exe", "conhost.exe", &hours_ago(2.0), "process"),
            )
        })
        .collect();
    d.push((
        "pp-rare".into(),
        process_event("powerpnt.exe", "cmd.exe", &hours_ago(1.0), "process"),
    ));
    idx.load(&d);
    let second = run("table");
    assert_eq!(second.code, 0, "{}", second.stderr);
    let t = &second.stdout;
    assert!(
        t.contains("against 1 earlier run(s): 1 new, 1 recurring, 1 gone"),
        "{t}"
    );
    assert!(
        t.contains("     new        rare child process cmd.exe for powerpnt.exe"),
        "{t}"
    );
    assert!(
        t.contains("     recurring  rare child process cmd.exe for winword.exe"),
        "{t}"
    );
    assert!(
        t.contains("     gone       rare child process cmd.exe for excel.exe"),
        "{t}"
    );

    let kept: Vec<PathBuf> = std::fs::read_dir(&hist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 2);
    #[cfg(unix)]
    for k in &kept {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(k).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // `report` renders the newest run against the others, without the cluster.
    let page = idx.dir.path().join("review.html");
    let rep = crate::harness::esoutliers_env(
        &[
            "report",
            "--history",
            path_str(&hist),
            "--log-scale",
            "--output",
            path_str(&page),
        ],
        &[("ES_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(rep.code, 0, "{}", rep.stderr);
    let dom = chromium(&page, "history", idx.dir.path());
    std::fs::copy(&page, artefacts().join("history.html")).unwrap();
    assert_eq!(
        dom.matches("<tr class=\"outlier new\">").count(),
        1,
        "{dom}"
    );
    assert_eq!(dom.matches("<tr class=\"outlier recurring\">").count(), 1);
    assert!(dom.contains(
        "<span class=\"mark gone\">gone</span> rare child process cmd.exe for excel.exe"
    ));
    assert_eq!(
        dom.matches("<rect class=\"night\"").count(),
        1,
        "both runs on one night"
    );
    assert!(dom.contains("<figure class=\"over-time\">"));
    assert!(dom.contains("(log scale)"));
    // --last 1: the newest run alone, so everything in it is new.
    let rep = esoutliers(&["report", "--history", path_str(&hist), "--last", "1"]);
    assert_eq!(rep.stdout.matches("<tr class=\"outlier new\">").count(), 2);
}

#[test]
fn a_page_of_1000_outliers_stays_under_1_mb_and_renders_offline() {
    // 1,000 parents, each with one child seen 5 times and one seen once; float 2 (low)
    // flags every child seen once.
    let idx = TestIndex::new("html-1000");
    let mut d: Vec<(String, Value)> = Vec::new();
    for p in 0..1000 {
        let parent = format!("parent-{p:04}.exe");
        for i in 0..5 {
            d.push((
                format!("{p}-{i}"),
                process_event(&parent, "usual.exe", &hours_ago(2.0), "process"),
            ));
        }
        d.push((
            format!("{p}-rare"),
            process_event(
                &parent,
                &format!("rare-{p}.exe"),
                &hours_ago(1.0),
                "process",
            ),
        ));
    }
    idx.load(&d);
    let case = RARE_CASE
        .replace("trigger_method=pct_of_avg_value", "trigger_method=float")
        .replace("trigger_sensitivity=1", "trigger_sensitivity=2");
    let conf = idx.config("es_save_results=0", &case);
    let page = idx.dir.path().join("big.html");
    let run = esoutliers(&[
        "run",
        "--config",
        path_str(&conf),
        "--format",
        "html",
        "--output",
        path_str(&page),
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, run.stdout);
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 1_000_000, "{size} bytes");
    let dom = chromium(&page, "outliers-1000", idx.dir.path());
    assert_eq!(dom.matches("<tr class=\"outlier\">").count(), 1000);
}

#[test]
fn tune_counts_once_and_shows_more_pairs_as_the_sensitivity_grows() {
    // winword.exe: splwow64 x300, conhost x20, cmd x1 -> mean 107; 1% = 1.07 flags cmd,
    // 20% = 21.4 flags conhost too.
    let idx = TestIndex::new("tune");
    let mut d: Vec<(String, Value)> = Vec::new();
    for (child, n) in [("splwow64.exe", 300), ("conhost.exe", 20), ("cmd.exe", 1)] {
        for i in 0..n {
            d.push((
                format!("{child}-{i}"),
                process_event("winword.exe", child, &hours_ago(1.0), "process"),
            ));
        }
    }
    idx.load(&d);
    let conf = idx.config("", RARE_CASE);
    let before = idx.snapshot();
    let run = esoutliers(&[
        "tune",
        "--config",
        path_str(&conf),
        "--use-case",
        "rare",
        "--sensitivities",
        "0.5,1,20",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, run.stdout);
    let j = run.json();
    let steps: Vec<(f64, u64)> = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["sensitivity"].as_f64().unwrap(),
                s["pairs"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(steps, vec![(0.5, 0), (1.0, 1), (20.0, 2)]);
    assert_eq!(
        j["steps"][2]["appeared"],
        json!(["winword.exe -> conhost.exe"])
    );
    // The field check, the lead request and one composite page: one dry run's counting
    // pass.
    assert_eq!(j["pages"], 1);
    assert!(j["requests"].as_u64().unwrap() <= 4, "{}", j["requests"]);
    assert_eq!(idx.snapshot(), before, "tune never writes");
    let html = idx.dir.path().join("tune.html");
    let run = esoutliers(&[
        "tune",
        "--config",
        path_str(&conf),
        "--use-case",
        "rare",
        "--methods",
        "--format",
        "html",
        "--output",
        path_str(&html),
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, run.stdout);
    let dom = chromium(&html, "tune", idx.dir.path());
    assert_eq!(
        dom.matches("<figure class=\"tune\"").count(),
        9,
        "one chart per trigger method"
    );
}

#[test]
fn a_webhook_alone_posts_the_new_outliers_and_a_dry_run_sends_nothing() {
    let idx = TestIndex::new("notify-hook");
    load_rare(&idx);
    let (hport, posts) = receiver(Vec::new());
    let conf = idx.config(
        "",
        &format!(
            "[notifier]\nemail_notifier=0\nwebhook_url=http://127.0.0.1:{hport}/hook/{HOOK_SECRET}\n\n{}",
            notified_case()
        ),
    );
    let dry = esoutliers(&[
        "run",
        "--config",
        path_str(&conf),
        "--format",
        "json",
        "--dry-run",
    ]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let n = &dry.json()["notifications"];
    assert_eq!(
        (n["new"].as_u64(), n["dry_run"].as_bool()),
        (Some(2), Some(true))
    );
    assert!(posts.lock().unwrap().is_empty(), "a dry run sends nothing");

    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "table"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("0 e-mail(s) sent, 1 webhook post(s)"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(HOOK_SECRET));
    let p = posts.lock().unwrap().clone();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].0, format!("/hook/{HOOK_SECRET}"));
    let body: Value = serde_json::from_str(&p[0].1).unwrap();
    let mut summaries: Vec<&str> = body["outliers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["summary"].as_str().unwrap())
        .collect();
    summaries.sort();
    assert_eq!(
        summaries,
        vec![
            "rare child process cmd.exe for excel.exe",
            "rare child process cmd.exe for winword.exe"
        ]
    );
    // The tagged event travels with each outlier.
    assert_eq!(
        body["outliers"][0]["event"]["_source"]["process"]["name"],
        "cmd.exe"
    );
    let j = esoutliers(&[
        "run",
        "--config",
        path_str(&conf),
        "--format",
        "json",
        "--dry-run",
    ])
    .json();
    let _ = std::fs::remove_file(j["notifications"]["state_files"][0].as_str().unwrap());
}
