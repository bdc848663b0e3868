//! The secured cluster (issue: TLS with an own CA, real users and roles, least
//! privilege): OpenSearch 2.19.1 with its security plugin, started by `make es-up-secure`
//! (scripts/esnode-secure.sh), which writes `.esnode/secure/env` with the URL, the CA and
//! the users' passwords. Every test here reads that file; without it (or with the node
//! down) each test prints a loud SKIPPED line and passes, unless
//! `ESOUTLIERS_REQUIRE_SECURE=1` (set by .ci/run), where it fails.
//!
//! Users (scripts/esnode-secure.sh): `detector` holds the role README documents,
//! `reader` the same without any write, `partial` the detector's privileges on
//! `secure-part-a*` only, `admin` everything (used only to set up and read back).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::harness::{hours_ago, path_str, process_event, Run};

/// `.esnode/secure/env`, read as KEY=VALUE lines.
struct Secure {
    env: BTreeMap<String, String>,
}

impl Secure {
    /// The secured node, or `None` after a loud message when it is not up.
    fn get(test: &str) -> Option<Secure> {
        let path = std::env::var("ES_SECURE_ENV")
            .map(PathBuf::from)
            .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(".esnode/secure/env"));
        let required = std::env::var("ESOUTLIERS_REQUIRE_SECURE").is_ok_and(|v| v == "1");
        let skip = |why: String| -> Option<Secure> {
            assert!(
                !required,
                "{test}: the secured node is required here: {why}"
            );
            eprintln!("\n!!!! SKIPPED {test}: {why}; start it with `make es-up-secure`\n");
            None
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            return skip(format!("no {}", path.display()));
        };
        let env: BTreeMap<String, String> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let s = Secure { env };
        match s.as_admin(reqwest::Method::GET, "").send() {
            Ok(r) if r.status().is_success() => Some(s),
            Ok(r) => skip(format!("{} answers {} to the admin", s.url(), r.status())),
            Err(e) => skip(format!("{} does not answer ({e})", s.url())),
        }
    }

    fn var(&self, k: &str) -> &str {
        self.env.get(k).map(String::as_str).unwrap_or_default()
    }

    fn url(&self) -> &str {
        self.var("ES_URL")
    }

    fn port(&self) -> &str {
        self.url().rsplit(':').next().unwrap_or_default()
    }

    fn admin(&self) -> reqwest::blocking::Client {
        let ca = std::fs::read(self.var("ES_CA_CERT")).unwrap();
        reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap()
    }

    fn as_admin(&self, m: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.admin()
            .request(m, format!("{}/{}", self.url(), path))
            .basic_auth(self.var("ADMIN_USER"), Some(self.var("ADMIN_PASSWORD")))
    }

    /// A fresh index `secure-<label>-<pid>` with keyword strings, loaded with `docs`.
    fn index(&self, label: &str, docs: &[(String, Value)]) -> SecureIndex<'_> {
        let name = format!("secure-{label}-{}", std::process::id());
        self.index_named(&name, docs)
    }

    fn index_named(&self, name: &str, docs: &[(String, Value)]) -> SecureIndex<'_> {
        let _ = self.as_admin(reqwest::Method::DELETE, name).send();
        let r = self
            .as_admin(reqwest::Method::PUT, name)
            .json(&json!({
                "settings": { "number_of_shards": 1, "number_of_replicas": 0 },
                "mappings": {
                    "dynamic_templates": [ { "strings": { "match_mapping_type": "string", "mapping": { "type": "keyword" } } } ],
                    "properties": { "@timestamp": { "type": "date" } }
                }
            }))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().unwrap());
        let mut body = String::new();
        for (id, d) in docs {
            body.push_str(&json!({ "index": { "_id": id } }).to_string());
            body.push('\n');
            body.push_str(&d.to_string());
            body.push('\n');
        }
        if !body.is_empty() {
            let r = self
                .as_admin(reqwest::Method::POST, &format!("{name}/_bulk?refresh=true"))
                .header("Content-Type", "application/x-ndjson")
                .body(body)
                .send()
                .unwrap();
            let v: Value = r.json().unwrap();
            assert_eq!(v["errors"], json!(false), "{v}");
        }
        SecureIndex {
            node: self,
            name: name.to_string(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Runs esoutliers against the secured node with `env` on top of a clean
    /// environment (no ES_* from the caller's shell).
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_esoutliers"));
        cmd.args(args).env_remove("RUST_LOG");
        for k in [
            "ES_URL",
            "ES_USER",
            "ES_PASSWORD",
            "ES_PASSWORD_FILE",
            "ES_API_KEY",
            "ES_API_KEY_FILE",
            "ES_CA_CERT",
        ] {
            cmd.env_remove(k);
        }
        cmd.env("ES_URL", self.url());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The detector's environment.
    fn detector(&self) -> Vec<(&str, &str)> {
        vec![
            ("ES_CA_CERT", self.var("ES_CA_CERT")),
            ("ES_USER", self.var("ES_USER")),
            ("ES_PASSWORD", self.var("ES_PASSWORD")),
        ]
    }
}

struct SecureIndex<'a> {
    node: &'a Secure,
    name: String,
    dir: tempfile::TempDir,
}

impl SecureIndex<'_> {
    /// A config over `pattern` (default: this index) saving results.
    fn config(&self, pattern: Option<&str>, sections: &str) -> PathBuf {
        let path = self.dir.path().join("case.conf");
        std::fs::write(
            &path,
            format!(
                "[general]\nes_index_pattern={}\ntimestamp_field=@timestamp\nhistory_window_days=30\nhistory_window_hours=0\nes_save_results=1\n\n{sections}\n",
                pattern.unwrap_or(&self.name)
            ),
        )
        .unwrap();
        path
    }

    /// id -> _source, read by the admin.
    fn docs(&self) -> BTreeMap<String, Value> {
        let _ = self
            .node
            .as_admin(reqwest::Method::POST, &format!("{}/_refresh", self.name))
            .send();
        let v: Value = self
            .node
            .as_admin(reqwest::Method::POST, &format!("{}/_search", self.name))
            .json(&json!({ "size": 10000, "query": { "match_all": {} } }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["_id"].as_str().unwrap().to_string(), h["_source"].clone()))
            .collect()
    }

    fn tagged(&self) -> Vec<String> {
        self.docs()
            .into_iter()
            .filter(|(_, s)| s.get("outliers").is_some())
            .map(|(id, _)| id)
            .collect()
    }
}

impl Drop for SecureIndex<'_> {
    fn drop(&mut self) {
        let _ = self
            .node
            .as_admin(reqwest::Method::DELETE, &self.name)
            .send();
    }
}

/// 200 usual children of winword.exe and one cmd.exe, an hour old.
fn one_rare() -> Vec<(String, Value)> {
    let mut d: Vec<(String, Value)> = (0..200)
        .map(|i| {
            (
                format!("u{i}"),
                process_event("winword.exe", "splwow64.exe", &hours_ago(1.0), "process"),
            )
        })
        .collect();
    d.push((
        "rare".into(),
        process_event("winword.exe", "cmd.exe", &hours_ago(1.0), "process"),
    ));
    d
}

const TERMS: &str = "[terms_rare]
aggregator=process.parent.name
target=process.name
trigger_on=low
trigger_method=pct_of_avg_value
trigger_sensitivity=1
outlier_type=process execution
outlier_reason=rare child process
outlier_summary=rare {process.name}
";

const SIMPLEQUERY: &str = "[simplequery_cmd]
es_query_filter=process.name:cmd.exe
outlier_type=shell
outlier_reason=cmd started
outlier_summary=cmd under {process.parent.name}
";

const SUDDEN: &str = "[sudden_appearance_new]
aggregator=process.parent.name
target=process.name
history_window_days=1
sliding_window_size=00:08:00
sliding_window_step_size=00:04:00
outlier_type=first observation
outlier_reason=sudden process
outlier_summary=sudden {process.name}
run_model=1
test_model=0
";

/// The one line esoutliers prints on stderr for a refused connection.
fn error_lines(r: &Run) -> Vec<&str> {
    r.stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect()
}

#[test]
fn the_nodes_ca_is_trusted_with_es_ca_cert_and_without_it_exit_3_says_how_to_pass_it() {
    let Some(s) = Secure::get("ca") else { return };
    let idx = s.index("ca", &one_rare());
    let conf = idx.config(None, TERMS);
    let ok = s.run(
        &["run", "--config", path_str(&conf), "--dry-run"],
        &s.detector(),
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("cmd.exe"), "{}", ok.stdout);

    let no_ca: Vec<_> = s
        .detector()
        .into_iter()
        .filter(|(k, _)| *k != "ES_CA_CERT")
        .collect();
    let other_ca = [
        ("ES_CA_CERT", s.var("OTHER_CA_CERT")),
        ("ES_USER", s.var("ES_USER")),
        ("ES_PASSWORD", s.var("ES_PASSWORD")),
    ];
    for (what, env, says) in [
        (
            "no CA given",
            &no_ca[..],
            "pass that CA as a PEM file with ES_CA_CERT=",
        ),
        (
            "another CA given",
            &other_ca[..],
            "not signed by the CA in ES_CA_CERT",
        ),
    ] {
        let r = s.run(&["run", "--config", path_str(&conf)], env);
        assert_eq!(r.code, 3, "{what}: {}", r.stderr);
        let lines = error_lines(&r);
        assert_eq!(lines.len(), 1, "{what}: one error line: {}", r.stderr);
        assert!(
            lines[0].contains("TLS certificate of https://127.0.0.1:")
                && lines[0].contains("is not trusted")
                && lines[0].contains(says),
            "{what}: {}",
            lines[0]
        );
        // No stack of TLS internals.
        for internal in ["UnknownIssuer", "client error", "Connect", "rustls"] {
            assert!(!r.stderr.contains(internal), "{what}: {}", r.stderr);
        }
    }
    assert!(idx.tagged().is_empty(), "refused runs wrote nothing");
}

#[test]
fn a_certificate_for_another_host_name_fails_with_exit_3_and_insecure_connects_with_a_warning() {
    let Some(s) = Secure::get("host") else { return };
    let idx = s.index("host", &one_rare());
    let conf = idx.config(None, TERMS);
    // The node's certificate names 127.0.0.1 and esnode-secure.test, not localhost.
    let other_host = format!("https://localhost:{}", s.port());
    let mut env = s.detector();
    env.push(("ES_URL", &other_host));
    let r = s.run(&["run", "--config", path_str(&conf)], &env);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let lines = error_lines(&r);
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(
        lines[0].contains(&other_host) && lines[0].contains("not valid for that host name"),
        "{}",
        lines[0]
    );
    assert!(idx.tagged().is_empty());

    // --insecure: connects despite the name (and without the CA), and says so.
    let env = [
        ("ES_URL", other_host.as_str()),
        ("ES_USER", s.var("ES_USER")),
        ("ES_PASSWORD", s.var("ES_PASSWORD")),
    ];
    let r = s.run(
        &[
            "run",
            "--insecure",
            "--config",
            path_str(&conf),
            "--dry-run",
        ],
        &env,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("WARN")
            && r.stderr
                .contains("--insecure: TLS certificates are NOT verified"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("cmd.exe"));
}

#[test]
fn refused_credentials_exit_3_naming_the_url_without_credentials_and_write_nothing() {
    let Some(s) = Secure::get("auth") else { return };
    let idx = s.index("auth", &one_rare());
    let conf = idx.config(None, TERMS);
    let ca = s.var("ES_CA_CERT");
    let url_with_creds = s
        .url()
        .replace("https://", "https://detector:wrong-in-url@");
    let rows: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "wrong password",
            vec![
                ("ES_CA_CERT", ca),
                ("ES_USER", "detector"),
                ("ES_PASSWORD", "wrong-Secret-1"),
            ],
        ),
        (
            "unknown user",
            vec![
                ("ES_CA_CERT", ca),
                ("ES_USER", "nobody"),
                ("ES_PASSWORD", "wrong-Secret-2"),
            ],
        ),
        ("missing credentials", vec![("ES_CA_CERT", ca)]),
        (
            "user without password",
            vec![("ES_CA_CERT", ca), ("ES_USER", "detector")],
        ),
        (
            "wrong password in the URL",
            vec![("ES_CA_CERT", ca), ("ES_URL", &url_with_creds)],
        ),
    ];
    for (what, env) in rows {
        for cmd in ["run", "untag"] {
            let r = s.run(&[cmd, "--config", path_str(&conf)], &env);
            assert_eq!(r.code, 3, "{what} ({cmd}): {}", r.stderr);
            assert!(
                r.stderr.contains(&format!(
                    "the cluster at {} refused the credentials (HTTP 401)",
                    s.url()
                )),
                "{what} ({cmd}): {}",
                r.stderr
            );
            let all = format!("{}{}", r.stdout, r.stderr);
            assert!(
                !all.contains("wrong-Secret") && !all.contains("wrong-in-url"),
                "{what}: {all}"
            );
        }
    }
    assert!(idx.tagged().is_empty(), "nothing written");
}

#[test]
fn the_detector_role_runs_every_model_end_to_end_and_untags() {
    let Some(s) = Secure::get("detector") else {
        return;
    };
    let idx = s.index("detector", &one_rare());
    let conf = idx.config(None, &format!("{TERMS}\n{SIMPLEQUERY}\n{SUDDEN}"));
    let r = s.run(
        &["run", "--config", path_str(&conf), "--format", "json"],
        &s.detector(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rep = r.json();
    let ucs = rep["use_cases"].as_array().unwrap();
    assert_eq!(ucs.len(), 3);
    for uc in ucs {
        assert_eq!(uc["status"], "ok", "{uc}");
        assert!(uc["tagging"]["updated"].as_u64().unwrap() >= 1, "{uc}");
    }
    let docs = idx.docs();
    let models = docs["rare"]["outliers"]["model_name"].as_array().unwrap();
    for m in ["rare", "cmd", "new"] {
        assert!(models.contains(&json!(m)), "{}", docs["rare"]);
    }

    let u = s.run(&["untag", "--config", path_str(&conf)], &s.detector());
    assert_eq!(u.code, 0, "{}", u.stderr);
    assert!(idx.tagged().is_empty(), "untag removed every entry");
}

#[test]
fn a_user_without_write_privilege_gets_exit_1_naming_it_and_nothing_is_tagged() {
    let Some(s) = Secure::get("reader") else {
        return;
    };
    let idx = s.index("reader", &one_rare());
    let conf = idx.config(None, TERMS);
    let env = [
        ("ES_CA_CERT", s.var("ES_CA_CERT")),
        ("ES_USER", s.var("READER_USER")),
        ("ES_PASSWORD", s.var("READER_PASSWORD")),
    ];
    let r = s.run(
        &["run", "--config", path_str(&conf), "--format", "json"],
        &env,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let err = r.json()["use_cases"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        err.contains("the user lacks the privilege for indices:data/write/update/byquery")
            && err.contains(&idx.name),
        "{err}"
    );
    // Detection ran (the reader may read), tagging was refused before any write.
    assert!(r.json()["use_cases"][0]["outliers"]
        .as_array()
        .is_some_and(|o| !o.is_empty()));
    assert!(idx.tagged().is_empty(), "nothing half-tagged");
}

#[test]
fn a_user_without_access_to_one_index_of_the_pattern_is_told_which() {
    let Some(s) = Secure::get("partial") else {
        return;
    };
    let pid = std::process::id();
    let a = s.index_named(&format!("secure-part-a-{pid}"), &one_rare());
    let b = s.index_named(&format!("secure-part-b-{pid}"), &one_rare());
    let pattern = format!("secure-part-*-{pid}");
    let conf = a.config(Some(&pattern), TERMS);
    let env = [
        ("ES_CA_CERT", s.var("ES_CA_CERT")),
        ("ES_USER", s.var("PARTIAL_USER")),
        ("ES_PASSWORD", s.var("PARTIAL_PASSWORD")),
    ];
    let r = s.run(
        &["run", "--config", path_str(&conf), "--format", "json"],
        &env,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let err = r.json()["use_cases"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        err.contains(&format!("on index {}", b.name))
            && !err.contains(&format!("on indices {}", a.name)),
        "{err}"
    );
    assert!(err.contains("indices:data/read/field_caps"), "{err}");
    assert!(a.tagged().is_empty() && b.tagged().is_empty());
}

#[test]
fn secrets_from_files_work_and_a_bad_file_is_named_without_the_secret() {
    let Some(s) = Secure::get("files") else {
        return;
    };
    let idx = s.index("files", &one_rare());
    let conf = idx.config(None, TERMS);
    let pw_file = idx.dir.path().join("password");
    // As systemd's LoadCredential or an editor leaves it: a trailing newline.
    std::fs::write(&pw_file, format!("{}\n", s.var("ES_PASSWORD"))).unwrap();
    let base = [
        ("ES_CA_CERT", s.var("ES_CA_CERT")),
        ("ES_USER", s.var("ES_USER")),
    ];
    let mut env = base.to_vec();
    env.push(("ES_PASSWORD_FILE", path_str(&pw_file)));
    let r = s.run(&["run", "--config", path_str(&conf), "--dry-run"], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("cmd.exe"));

    let missing = idx.dir.path().join("no-such-file");
    let mut env = base.to_vec();
    env.push(("ES_PASSWORD_FILE", path_str(&missing)));
    let r = s.run(&["run", "--config", path_str(&conf)], &env);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot read ES_PASSWORD_FILE") && r.stderr.contains("no-such-file"),
        "{}",
        r.stderr
    );

    let mut env = base.to_vec();
    env.push(("ES_PASSWORD_FILE", path_str(&pw_file)));
    env.push(("ES_PASSWORD", s.var("ES_PASSWORD")));
    let r = s.run(&["run", "--config", path_str(&conf)], &env);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("both ES_PASSWORD and ES_PASSWORD_FILE are set"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(s.var("ES_PASSWORD")));
    assert!(idx.tagged().is_empty());
}

#[test]
fn credentials_never_appear_in_any_output_on_the_secured_node() {
    let Some(s) = Secure::get("leak") else { return };
    let idx = s.index("leak", &one_rare());
    let conf = idx.config(None, &format!("{TERMS}\n{SIMPLEQUERY}"));
    let pw = s.var("ES_PASSWORD").to_string();
    let admin_pw = s.var("ADMIN_PASSWORD").to_string();
    let pw_file = idx.dir.path().join("password");
    std::fs::write(&pw_file, &pw).unwrap();
    let mut outputs = Vec::new();
    let det = s.detector();
    for format in ["table", "json", "html"] {
        let r = s.run(
            &[
                "-vv",
                "run",
                "--config",
                path_str(&conf),
                "--format",
                format,
            ],
            &det,
        );
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        outputs.push(r.stdout + &r.stderr);
        let u = s.run(&["-vv", "untag", "--config", path_str(&conf)], &det);
        assert_eq!(u.code, 0, "{}", u.stderr);
        outputs.push(u.stdout + &u.stderr);
    }
    // The password in the URL, from a file, refused, and plan.
    let in_url = s
        .url()
        .replace("https://", &format!("https://detector:{pw}@"));
    let r = s.run(
        &[
            "-vv",
            "run",
            "--config",
            path_str(&conf),
            "--dry-run",
            "--format",
            "json",
        ],
        &[("ES_URL", &in_url), ("ES_CA_CERT", s.var("ES_CA_CERT"))],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    outputs.push(r.stdout + &r.stderr);
    let r = s.run(
        &["-vv", "run", "--config", path_str(&conf), "--dry-run"],
        &[
            ("ES_CA_CERT", s.var("ES_CA_CERT")),
            ("ES_USER", "detector"),
            ("ES_PASSWORD_FILE", path_str(&pw_file)),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    outputs.push(r.stdout + &r.stderr);
    let r = s.run(
        &["-vv", "run", "--config", path_str(&conf)],
        &[
            ("ES_CA_CERT", s.var("ES_CA_CERT")),
            ("ES_USER", "admin"),
            ("ES_PASSWORD", &pw),
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    outputs.push(r.stdout + &r.stderr);
    let p = s.run(&["plan", "--config", path_str(&conf)], &det);
    outputs.push(p.stdout + &p.stderr);
    // A report file, too.
    let out = idx.dir.path().join("report.html");
    let r = s.run(
        &[
            "run",
            "--config",
            path_str(&conf),
            "--dry-run",
            "--format",
            "html",
            "--output",
            path_str(&out),
        ],
        &det,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    outputs.push(std::fs::read_to_string(&out).unwrap());
    for o in &outputs {
        assert!(
            !o.contains(&pw) && !o.contains(&admin_pw),
            "credential leaked:\n{o}"
        );
    }
}

#[test]
fn a_report_with_event_values_is_written_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let Some(s) = Secure::get("mode") else { return };
    let idx = s.index("mode", &one_rare());
    let conf = idx.config(None, TERMS);
    let out = idx.dir.path().join("report.json");
    // An existing world-readable file is tightened too.
    std::fs::write(&out, "old").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = s.run(
        &[
            "run",
            "--config",
            path_str(&conf),
            "--dry-run",
            "--format",
            "json",
            "--output",
            path_str(&out),
        ],
        &s.detector(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("cmd.exe"), "the report holds event values");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
}

/// Runs `esoutliers run` on `conf` with the temporary folder at `tmp` and no
/// XDG_RUNTIME_DIR, against no cluster (the lock is taken before connecting).
fn run_with_tmp(conf: &Path, tmp: &Path) -> Run {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_esoutliers"))
        .args(["run", "--config", path_str(conf)])
        .env("TMPDIR", tmp)
        .env_remove("XDG_RUNTIME_DIR")
        .env("ES_URL", "http://127.0.0.1:9")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A config file and a shared temporary folder (world-writable and sticky, as /tmp).
fn lock_fixture() -> (tempfile::TempDir, PathBuf, PathBuf, u32) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let d = tempfile::tempdir().unwrap();
    let conf = d.path().join("case.conf");
    std::fs::write(
        &conf,
        format!("[general]\nes_index_pattern=logs-*\ntimestamp_field=@timestamp\nhistory_window_days=1\n\n{TERMS}"),
    )
    .unwrap();
    let shared = d.path().join("shared-tmp");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let uid = std::fs::metadata(&conf).unwrap().uid();
    (d, conf, shared, uid)
}

#[test]
fn the_run_lock_refuses_a_lock_folder_that_is_a_symbolic_link_in_a_shared_directory() {
    let (d, conf, shared, uid) = lock_fixture();
    let victim = d.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::os::unix::fs::symlink(&victim, shared.join(format!("esoutliers-{uid}"))).unwrap();
    let r = run_with_tmp(&conf, &shared);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("refusing the lock folder"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_dir(&victim).unwrap().count(),
        0,
        "nothing created through the link"
    );
}

#[test]
fn the_run_lock_file_is_never_opened_through_a_symbolic_link() {
    use std::hash::{Hash, Hasher};
    let (d, conf, shared, uid) = lock_fixture();
    // First run: the folder of our own is made (0700); the run then fails to connect.
    let first = run_with_tmp(&conf, &shared);
    assert_eq!(first.code, 3, "{}", first.stderr);
    let dir = shared.join(format!("esoutliers-{uid}"));
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::canonicalize(&conf).unwrap().hash(&mut h);
    let lock = dir.join(format!("esoutliers-{:016x}.lock", h.finish()));
    assert!(lock.exists(), "the lock is where this test expects it");
    // Replace it with a link to a file that must not be created.
    std::fs::remove_file(&lock).unwrap();
    let victim = d.path().join("victim-file");
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    let r = run_with_tmp(&conf, &shared);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot open the lock file"),
        "{}",
        r.stderr
    );
    assert!(!victim.exists(), "nothing created through the link");
}

/// OpenSearch's security plugin has no API keys: `ES_API_KEY_FILE` is proved behind the
/// harness's authenticating proxy in front of the plain node, which forwards only the
/// expected `Authorization: ApiKey ...` header.
#[test]
fn an_api_key_from_a_file_is_sent_as_the_api_key_header() {
    use crate::harness::{esoutliers_env, proxy, Action, TestIndex};
    let key = "S2V5LWlkOnNlY3JldC1hcGkta2V5LTQ3MTE=";
    let idx = TestIndex::new("apikeyfile");
    idx.load(&one_rare());
    let expected = format!("ApiKey {key}");
    let port = proxy(move |seen| {
        if seen.authorization.as_deref() == Some(expected.as_str()) {
            Action::Forward
        } else {
            Action::Respond(
                401,
                r#"{"error":{"type":"security_exception","reason":"missing or wrong credentials"},"status":401}"#.into(),
            )
        }
    });
    let conf = idx.config("", TERMS);
    let key_file = idx.dir.path().join("api-key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let r = esoutliers_env(
        &["-vv", "run", "--config", path_str(&conf), "--dry-run"],
        &[("ES_URL", &url), ("ES_API_KEY_FILE", path_str(&key_file))],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("cmd.exe"), "{}", r.stdout);
    assert!(!r.stdout.contains(key) && !r.stderr.contains(key));
    // Without the file: refused, exit 3.
    let r = esoutliers_env(
        &["run", "--config", path_str(&conf), "--dry-run"],
        &[("ES_URL", &url)],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
}
