//! The command line on the real node: every subcommand, every format, exit codes, and
//! credentials that never show up in any output.

use serde_json::{json, Value};

use crate::harness::{
    esoutliers, esoutliers_env, hours_ago, path_str, process_event, proxy, Action, TestIndex,
    RARE_CASE as CASE,
};

fn loaded(label: &str) -> TestIndex {
    let idx = TestIndex::new(label);
    let mut d: Vec<(String, Value)> = Vec::new();
    for i in 0..300 {
        d.push((
            format!("a{i}"),
            process_event("winword.exe", "splwow64.exe", &hours_ago(1.0), "process"),
        ));
    }
    d.push((
        "rare".into(),
        process_event("winword.exe", "cmd.exe", &hours_ago(1.0), "process"),
    ));
    idx.load(&d);
    idx
}

#[test]
fn check_lists_use_cases_and_plan_prints_requests_without_a_cluster() {
    let idx = TestIndex::new("checkplan");
    let conf = idx.config("", CASE);
    let check = esoutliers_env(
        &["check", "--config", path_str(&conf)],
        &[("ES_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        check.stdout.contains("terms_rare") && check.stdout.contains("pct_of_avg_value"),
        "{}",
        check.stdout
    );
    let plan = esoutliers_env(
        &[
            "plan",
            "--config",
            path_str(&conf),
            "--now",
            "2026-11-28T00:00:00Z",
            "--baseline",
            "30",
            "--page-size",
            "500",
            "--requests-per-second",
            "250",
        ],
        &[("ES_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let v: Value = serde_json::from_str(&plan.stdout).unwrap();
    let requests = v[0]["requests"].as_array().unwrap();
    let named = |what: &str| {
        requests
            .iter()
            .find(|r| r["request"].as_str().unwrap().starts_with(what))
            .unwrap_or_else(|| panic!("no request {what}: {}", plan.stdout))
    };
    let first = &named("count pairs: first")["body"];
    assert_eq!(
        first["aggs"]["pairs"]["composite"]["sources"][0]["a0"]["terms"]["field"],
        "process.parent.name"
    );
    assert_eq!(first["aggs"]["pairs"]["composite"]["size"], 500);
    // --baseline 30: counts over 30 days ending at --now; detection in the window. (The
    // page shown is a partition's: the use case's query, then the partition's range.)
    let range = &first["query"]["bool"]["filter"][0]["bool"]["filter"][0]["range"]["@timestamp"];
    assert_eq!(range["gte"], "2026-10-29T00:00:00Z", "{range}");
    assert_eq!(range["lte"], "2026-11-28T00:00:00Z");
    assert_eq!(v[0]["baseline_window"]["start"], "2026-10-29T00:00:00Z");
    let recent = &named("count findings in the detection window")["body"];
    assert_eq!(
        recent["query"]["bool"]["filter"][0]["range"]["@timestamp"]["gte"],
        v[0]["window"]["start"]
    );
    let tag = named("tag the outlier pairs");
    assert_eq!(tag["params"]["requests_per_second"], "250");
    assert_eq!(tag["params"]["wait_for_completion"], "false");
}

#[test]
fn folder_of_configs_runs_in_name_order_and_globs_select_use_cases() {
    let idx = loaded("folder");
    let dir = idx.dir.path().join("confs");
    std::fs::create_dir(&dir).unwrap();
    let general = format!(
        "[general]\nes_index_pattern={}\nhistory_window_days=1\nes_save_results=0\n",
        idx.name
    );
    std::fs::write(
        dir.join("b.conf"),
        format!(
            "{general}\n{}",
            CASE.replace("[terms_rare]", "[terms_rare_b]")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("a.conf"),
        format!(
            "{general}\n{}",
            CASE.replace("[terms_rare]", "[terms_rare_a]")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not a config").unwrap();
    let run = esoutliers(&["run", "--config", path_str(&dir), "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let names: Vec<String> = run.json()["use_cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["terms_rare_a", "terms_rare_b"]);
    let run = esoutliers(&[
        "run",
        "--config",
        path_str(&dir),
        "--format",
        "json",
        "--use-case",
        "*_b",
    ]);
    let names: Vec<Value> = run.json()["use_cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("terms_rare_b")]);
    let none = esoutliers(&["run", "--config", path_str(&dir), "--use-case", "nothing*"]);
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("matches no use case"),
        "{}",
        none.stderr
    );
}

#[test]
fn since_and_until_override_the_window() {
    let idx = loaded("since");
    let conf = idx.config("", CASE);
    // The events are 1 hour old: a window that ended 2 hours ago sees none of them.
    let run = esoutliers(&[
        "run",
        "--config",
        path_str(&conf),
        "--format",
        "json",
        "--dry-run",
        "--since",
        "3d",
        "--until",
        "2h",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["use_cases"][0]["events_in_window"], 0);
    let run = esoutliers(&[
        "run",
        "--config",
        path_str(&conf),
        "--format",
        "json",
        "--dry-run",
        "--since",
        "3h",
    ]);
    assert_eq!(run.json()["use_cases"][0]["events_in_window"], 301);
    let bad = esoutliers(&["run", "--config", path_str(&conf), "--since", "yesterday"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--since yesterday"), "{}", bad.stderr);
}

#[test]
fn every_format_reports_the_outlier() {
    let idx = loaded("formats");
    let conf = idx.config("es_save_results=0", CASE);
    let table = esoutliers(&["run", "--config", path_str(&conf), "--format", "table"]);
    assert_eq!(table.code, 0);
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.contains("winword.exe") && l.contains("cmd.exe") && l.contains("150.50")),
        "{}",
        table.stdout
    );
    let json = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(
        json.json()["use_cases"][0]["outliers"][0]["target"],
        "cmd.exe"
    );
    let out = idx.dir.path().join("report.html");
    let html = esoutliers(&[
        "run",
        "--config",
        path_str(&conf),
        "--format",
        "html",
        "--output",
        path_str(&out),
    ]);
    assert_eq!(html.code, 0, "{}", html.stderr);
    assert!(html.stdout.is_empty(), "the report went to the file");
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(
        page.contains("<tr class=\"outlier\"><td>winword.exe</td><td>cmd.exe</td>"),
        "{page}"
    );
}

#[test]
fn a_second_run_of_the_same_config_is_refused_while_one_holds_the_lock() {
    let idx = loaded("lock");
    let conf = idx.config("", CASE);
    // Hold the same lock the binary takes (a file named after the canonical config path,
    // in XDG_RUNTIME_DIR when set).
    let canon = std::fs::canonicalize(&conf).unwrap();
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    canon.hash(&mut h);
    let runtime = idx.dir.path().join("run");
    std::fs::create_dir(&runtime).unwrap();
    let runtime_dir = path_str(&runtime).to_string();
    let path = runtime.join(format!("esoutliers-{:016x}.lock", h.finish()));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap();
    f.lock().unwrap();
    let run = esoutliers_env(
        &["run", "--config", path_str(&conf)],
        &[("XDG_RUNTIME_DIR", &runtime_dir)],
    );
    drop(f);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("another esoutliers run"),
        "{}",
        run.stderr
    );
    assert!(idx.tagged_ids().is_empty(), "the refused run wrote nothing");
    let again = esoutliers_env(
        &["run", "--config", path_str(&conf)],
        &[("XDG_RUNTIME_DIR", &runtime_dir)],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
}

/// An authenticating proxy in front of the real node: Elasticsearch 7.10.2's Apache-2.0
/// build has no security layer, so the node itself cannot refuse a password. Answers 401
/// unless the request carries `Authorization: <expected>`.
fn auth_proxy(expected: String) -> u16 {
    proxy(move |seen| {
        if seen.authorization.as_deref() == Some(expected.as_str()) {
            Action::Forward
        } else {
            Action::Respond(401, r#"{"error":{"type":"security_exception","reason":"missing or wrong credentials"},"status":401}"#.into())
        }
    })
}

fn b64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut o = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                o.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}

#[test]
fn credentials_never_appear_in_any_output() {
    let secret = "s3cr3t-Pa55word-4711";
    let api_key = "QVBJS0VZLXNlY3JldC0xMjM0";
    let idx = loaded("creds");
    let port_basic = auth_proxy(format!("Basic {}", b64(&format!("detector:{secret}"))));
    let port_key = auth_proxy(format!("ApiKey {api_key}"));
    let conf = idx.config("", CASE);
    let url_basic = format!("http://127.0.0.1:{port_basic}");
    let url_key = format!("http://127.0.0.1:{port_key}");
    let mut outputs = Vec::new();
    for format in ["table", "json", "html"] {
        let r = esoutliers_env(
            &[
                "-vv",
                "run",
                "--config",
                path_str(&conf),
                "--format",
                format,
                "--dry-run",
            ],
            &[
                ("ES_URL", &url_basic),
                ("ES_USER", "detector"),
                ("ES_PASSWORD", secret),
            ],
        );
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        assert!(r.stdout.contains("cmd.exe"), "{format}");
        outputs.push(r.stdout + &r.stderr);
    }
    // Credentials in the URL, and an API key.
    let r = esoutliers_env(
        &["-vv", "run", "--config", path_str(&conf), "--dry-run"],
        &[(
            "ES_URL",
            &format!("http://detector:{secret}@127.0.0.1:{port_basic}"),
        )],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    outputs.push(r.stdout + &r.stderr);
    let r = esoutliers_env(
        &["-vv", "run", "--config", path_str(&conf), "--dry-run"],
        &[("ES_URL", &url_key), ("ES_API_KEY", api_key)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    outputs.push(r.stdout + &r.stderr);
    // Refused credentials: exit 3, the URL named, the password not.
    let r = esoutliers_env(
        &["-vv", "run", "--config", path_str(&conf)],
        &[
            ("ES_URL", &url_basic),
            ("ES_USER", "detector"),
            ("ES_PASSWORD", "wrong-and-secret-too"),
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(&url_basic) && r.stderr.contains("refused the credentials"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("wrong-and-secret-too"));
    outputs.push(r.stdout + &r.stderr);
    let plan = esoutliers_env(
        &["plan", "--config", path_str(&conf)],
        &[("ES_PASSWORD", secret), ("ES_API_KEY", api_key)],
    );
    outputs.push(plan.stdout + &plan.stderr);
    for o in &outputs {
        assert!(
            !o.contains(secret)
                && !o.contains(api_key)
                && !o.contains(&b64(&format!("detector:{secret}"))),
            "credential leaked:\n{o}"
        );
    }
}

#[test]
fn html_report_renders_in_headless_chromium_with_a_chart_per_flagged_parent() {
    let idx = TestIndex::new("chromium");
    let mut d: Vec<(String, Value)> = Vec::new();
    for (parent, usual) in [
        ("winword.exe", "splwow64.exe"),
        ("excel.exe", "conhost.exe"),
    ] {
        for i in 0..300 {
            d.push((
                format!("{parent}-{i}"),
                process_event(parent, usual, &hours_ago(1.0), "process"),
            ));
        }
        d.push((
            format!("{parent}-rare"),
            process_event(parent, "cmd.exe", &hours_ago(1.0), "process"),
        ));
    }
    idx.load(&d);
    let conf = idx.config("es_save_results=0", CASE);
    let out = idx.dir.path().join("report.html");
    let run = esoutliers(&[
        "run",
        "--config",
        path_str(&conf),
        "--format",
        "html",
        "--output",
        path_str(&out),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let profile = idx.dir.path().join("chromium-profile");
    let dom = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", out.display()),
        ])
        .output()
        .expect("chromium must be installed (Debian package chromium; .ci/run installs it)");
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("<tr class=\"outlier\">").count(), 2, "{dom}");
    assert_eq!(
        dom.matches("<figure class=\"chart\"").count(),
        2,
        "one chart per flagged parent"
    );
    assert_eq!(dom.matches("class=\"bar outlier\"").count(), 2);
    assert_eq!(dom.matches("class=\"frontier\"").count(), 2);
    assert!(
        dom.contains("data-aggregator=\"winword.exe\"")
            && dom.contains("data-aggregator=\"excel.exe\"")
    );
    // es_save_results=0: the page says that nothing was written.
    assert_eq!(
        dom.matches("<p class=\"tagging\">nothing written</p>")
            .count(),
        1,
        "{dom}"
    );
}

#[test]
fn baseline_window_counts_history_but_tags_only_todays_events() {
    // History (10 days ago): winword.exe -> splwow64.exe x300, winword.exe -> cmd.exe x1.
    // Today (1 hour ago): winword.exe -> cmd.exe x1, winword.exe -> splwow64.exe x2.
    // Detection window 1 day, baseline 30 days: counts splwow64 302, cmd 2 -> mean 152,
    // 2% -> 3.04: cmd.exe (2) is rare. Only today's cmd.exe event is tagged, not the old
    // one. Without the baseline, today's counts (cmd 1, splwow64 2 -> mean 1.5, 2% ->
    // 0.03) flag nothing.
    let idx = TestIndex::new("baseline");
    let mut d: Vec<(String, Value)> = Vec::new();
    for i in 0..300 {
        d.push((
            format!("old-usual-{i}"),
            process_event("winword.exe", "splwow64.exe", &hours_ago(240.0), "process"),
        ));
    }
    d.push((
        "old-cmd".into(),
        process_event("winword.exe", "cmd.exe", &hours_ago(240.0), "process"),
    ));
    d.push((
        "new-cmd".into(),
        process_event("winword.exe", "cmd.exe", &hours_ago(1.0), "process"),
    ));
    for i in 0..2 {
        d.push((
            format!("new-usual-{i}"),
            process_event("winword.exe", "splwow64.exe", &hours_ago(1.0), "process"),
        ));
    }
    idx.load(&d);
    let case = CASE.replace("trigger_sensitivity=1", "trigger_sensitivity=2");
    let plain = idx.config("", &case);
    // The harness writes history_window_days=30; make the detection window one day.
    let text = std::fs::read_to_string(&plain)
        .unwrap()
        .replace("history_window_days=30", "history_window_days=1");
    std::fs::write(&plain, text).unwrap();
    let run = esoutliers(&[
        "run",
        "--config",
        path_str(&plain),
        "--format",
        "json",
        "--dry-run",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.json()["use_cases"][0]["outliers"]
        .as_array()
        .unwrap()
        .is_empty());

    let run = esoutliers(&[
        "run",
        "--config",
        path_str(&plain),
        "--format",
        "json",
        "--baseline",
        "30",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let uc = &run.json()["use_cases"][0];
    assert_eq!(uc["outliers"][0]["target"], "cmd.exe");
    assert_eq!(uc["outliers"][0]["term_count"], 2);
    assert!(uc["baseline_start"].is_string());
    assert_eq!(idx.tagged_ids(), vec!["new-cmd".to_string()]);

    // The same from the config key.
    let text = std::fs::read_to_string(&plain)
        .unwrap()
        .replace("[terms_rare]", "[terms_rare]\nbaseline_window_days=30");
    std::fs::write(&plain, text).unwrap();
    let run = esoutliers(&[
        "run",
        "--config",
        path_str(&plain),
        "--format",
        "json",
        "--dry-run",
    ]);
    assert_eq!(
        run.json()["use_cases"][0]["outliers"][0]["target"],
        "cmd.exe"
    );
}
