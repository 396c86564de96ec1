//! End-to-end tests of the `kairos` binary: validation of a deliberately broken fixture
//! set (every problem kind, with its pointer and message), formatting, journey tests and
//! simulation, all through the real command line.

use kairos_engine::problem::Kind;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn kairos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kairos")).args(args).current_dir(root()).output().expect("kairos runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn every_problem_kind_is_reported_with_its_pointer_node_and_message() {
    let fixtures = root().join("tests/fixtures/invalid");
    let expected: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("expected.json")).unwrap()).unwrap();
    let mut kinds_seen = std::collections::HashSet::new();
    for (file, want) in &expected {
        let path = fixtures.join(file);
        let out = kairos(&["validate", "--format", "json", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{file} must fail validation");
        let report: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{file}: {e}: {}", stdout(&out)));
        let got = report[0]["problems"].as_array().unwrap();
        let key = |p: &Value| (p["code"].clone(), p["pointer"].clone(), p.get("node").cloned().unwrap_or(Value::Null));
        let got_keys: Vec<_> = got.iter().map(key).collect();
        let want_keys: Vec<_> = want.as_array().unwrap().iter().map(key).collect();
        assert_eq!(got_keys, want_keys, "{file}: problems differ; got {}", serde_json::to_string_pretty(got).unwrap());
        for (g, w) in got.iter().zip(want.as_array().unwrap()) {
            if let Some(text) = w.get("contains").and_then(Value::as_str) {
                let message = g["message"].as_str().unwrap();
                assert!(message.contains(text), "{file}: `{message}` should contain `{text}`");
            }
            for pos in ["line", "column"] {
                if let Some(n) = w.get(pos) {
                    assert_eq!(&g[pos], n, "{file}: {pos}");
                }
            }
            kinds_seen.insert(g["code"].as_str().unwrap().to_string());
        }
    }
    for kind in Kind::ALL {
        assert!(kinds_seen.contains(kind.code()), "no fixture proves `{}`", kind.code());
    }
}

#[test]
fn text_output_names_file_pointer_and_node() {
    let out = kairos(&["validate", "tests/fixtures/invalid/missing_node.json"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("missing_node.json: 1 problem(s)"), "{text}");
    assert!(text.contains("/nodes/0/next [node `a`]: the `next` port points at `sned_welcome`"), "{text}");
}

#[test]
fn the_examples_are_valid_canonical_tested_and_the_schemas_current() {
    for args in [
        &["validate", "workflows"][..],
        &["fmt", "--check", "workflows"],
        &["test", "workflows"],
        &["schema", "--check", "--dir", "workflows"],
    ] {
        let out = kairos(args);
        assert!(
            out.status.success(),
            "kairos {args:?} failed:\n{}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = kairos(&["test", "workflows"]);
    let text = stdout(&out);
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("journeys: ") && last.ends_with(" passed, 0 failed"), "{last}");
    let passed: usize = last.trim_start_matches("journeys: ").split(' ').next().unwrap().parse().unwrap();
    let journeys = std::fs::read_dir(root().join("workflows"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name().into_string().unwrap();
            name.ends_with(".json") && !name.ends_with(".test.json") && !name.ends_with("schema.json")
        })
        .count();
    assert!(
        passed >= 3 * journeys,
        "each of the {journeys} examples should carry at least 3 cases, found {passed} in all"
    );
    assert!(!text.contains("no tests"), "every example has tests:\n{text}");
}

#[test]
fn every_example_references_the_schema() {
    for entry in std::fs::read_dir(root().join("workflows")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        if !name.ends_with(".json") || name.ends_with("schema.json") {
            continue;
        }
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let want = if name.ends_with(".test.json") { "./test.schema.json" } else { "./schema.json" };
        assert_eq!(doc["$schema"], json!(want), "{name}");
    }
    let mut templates = 0;
    for entry in std::fs::read_dir(root().join("workflows/templates")).unwrap() {
        let path = entry.unwrap().path();
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["$schema"], json!("../template.schema.json"), "{}", path.display());
        templates += 1;
    }
    assert!(templates >= 3, "the examples have a template library");
}

#[test]
fn fmt_rewrites_a_scrambled_file_into_the_canonical_bytes() {
    let original = std::fs::read_to_string(root().join("workflows/abandoned-cart.json")).unwrap();
    // Same journey: compact, keys in another order.
    let doc: Value = serde_json::from_str(&original).unwrap();
    let mut reordered = serde_json::Map::new();
    for (k, v) in doc.as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), v.clone());
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("abandoned-cart.json");
    std::fs::write(&file, serde_json::to_string(&Value::Object(reordered)).unwrap()).unwrap();
    let path = file.to_str().unwrap();

    let check = kairos(&["fmt", "--check", path]);
    assert_eq!(check.status.code(), Some(1), "{}", stdout(&check));
    assert!(stdout(&check).contains("not in canonical form"));
    assert!(kairos(&["fmt", path]).status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    assert!(kairos(&["fmt", "--check", path]).status.success());
}

#[test]
fn a_failing_journey_test_shows_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("workflows/abandoned-cart.json"), dir.path().join("abandoned-cart.json")).unwrap();
    let test = json!({
        "tests": [{
            "name": "expects the reminder too early",
            "contact": { "id": "c1", "attributes": { "email": "a@example.com" } },
            "events": [ { "at": "0s", "name": "cart_updated", "properties": { "cart_id": "k1", "item_count": 1 } } ],
            "expect": { "sends": [ { "node": "send_reminder", "channel": "email", "at": "30m" } ] }
        }]
    });
    std::fs::write(dir.path().join("abandoned-cart.test.json"), test.to_string()).unwrap();
    let out = kairos(&["test", dir.path().to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("✗ expects the reminder too early"), "{text}");
    assert!(text.contains("-      30m  run 1  email    send_reminder"), "{text}");
    assert!(text.contains("+       1h  run 1  email    send_reminder"), "{text}");
    assert!(text.contains("timed out waiting for `order_completed`"), "the timeline is shown:\n{text}");
    assert!(text.trim_end().ends_with("journeys: 0 passed, 1 failed"), "{text}");
}

#[test]
fn simulate_prints_the_timeline_and_json() {
    let args = [
        "simulate",
        "workflows/abandoned-cart.json",
        "--contact",
        "tests/fixtures/simulate/contact.json",
        "--events",
        "tests/fixtures/simulate/cart-events.json",
    ];
    let out = kairos(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(text.contains("entered on `cart_updated` (correlation cart-1)"), "{text}");
    assert!(text.contains("1 run(s), 2 message(s) sent"), "{text}");

    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let sim: Value = serde_json::from_slice(&kairos(&json_args).stdout).unwrap();
    let sends = sim["sends"].as_array().unwrap();
    assert_eq!(sends[0]["offset"], "1h");
    assert_eq!(sends[0]["message"]["to"], "ann@example.com");
    assert_eq!(sends[1]["offset"], "1d 1h");
    assert_eq!(sends[1]["message"]["channel"], "sms");
    assert_eq!(sim["runs"][0]["status"], "completed");
}

#[test]
fn bad_input_files_give_clear_errors_not_panics() {
    let out = kairos(&["validate", "does/not/exist.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read does/not/exist.json"));
    let out = kairos(&["simulate", "workflows/abandoned-cart.json", "--contact", "workflows/abandoned-cart.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a contact"));
}

#[test]
fn the_readme_examples_are_valid() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let blocks: Vec<&str> = readme.split("```json\n").skip(1).map(|b| b.split("```").next().unwrap()).collect();
    assert!(blocks.len() >= 2, "the README shows a journey and a test file");
    let journey = kairos_engine::validate(blocks[0]).unwrap_or_else(|p| panic!("README journey: {p:#?}"));
    assert_eq!(journey.id(), "welcome-mini");
    // The send node that waits for its webhook's answer (a `jsonc` block), in a journey.
    let node: serde_json::Value =
        serde_json::from_str(readme.split("```jsonc\n").nth(1).unwrap().split("```").next().unwrap()).unwrap();
    let exits = ["check_tier", "alert_ops"].map(|id| serde_json::json!({ "id": id, "type": "exit" }));
    let doc = serde_json::json!({ "id": "crm", "name": "CRM", "trigger": { "type": "api", "next": "sync_crm" },
        "nodes": [node, exits[0], exits[1]] });
    kairos_engine::validate(&doc.to_string()).unwrap_or_else(|p| panic!("README send node: {p:#?}"));
    let tests = kairos_engine::journey_test::parse(blocks[1]).unwrap();
    assert_eq!(tests.tests.len(), 1);
    // The delivery settings, as `PUT /v1/settings/delivery` takes them (with `version`).
    let mut delivery: serde_json::Value = serde_json::from_str(blocks[2]).unwrap();
    assert!(delivery.as_object_mut().unwrap().remove("version").is_some());
    let delivery: kairos_engine::pressure::DeliverySettings = serde_json::from_value(delivery).unwrap();
    assert!(delivery.compile("").unwrap().quiet_hours.is_some());
}

#[test]
fn migrate_and_api_keys_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/k.db", dir.path().display());
    let out = kairos(&["migrate", "--database-url", &url]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("k.db").exists());

    let created = kairos(&["apikey", "create", "--name", "ci", "--database-url", &url]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let secret = stdout(&created).trim().to_string();
    assert!(secret.starts_with("kairos_") && secret.len() > 60, "{secret}");
    let list = stdout(&kairos(&["apikey", "list", "--database-url", &url]));
    let prefix: String = secret.chars().take(12).collect();
    assert!(list.contains(&prefix) && list.contains("active"), "{list}");
    assert!(!list.contains(&secret), "the secret is never shown again");

    assert!(kairos(&["apikey", "revoke", &prefix, "--database-url", &url]).status.success());
    assert!(stdout(&kairos(&["apikey", "list", "--database-url", &url])).contains("revoked"));
    let unknown = kairos(&["apikey", "revoke", "nope", "--database-url", &url]);
    assert_eq!(unknown.status.code(), Some(1));
}

#[test]
fn bench_delivers_webhooks_over_http_and_reports_the_rate_and_latency() {
    let out = kairos(&["bench", "--webhooks", "200", "--json", "--timeout-secs", "60"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(report["webhooks"], 200);
    assert_eq!(report["journeys"], 0);
    assert!(report["webhook_messages_per_sec"].as_f64().unwrap() > 0.0, "{report}");
    let (p50, p99) =
        (report["webhook_latency_p50_ms"].as_f64().unwrap(), report["webhook_latency_p99_ms"].as_f64().unwrap());
    assert!(p50 <= p99, "{report}");
}

/// Copy a folder (one level of subfolders) into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn validate_reports_a_broken_template_file_and_every_journey_that_uses_it() {
    let out = kairos(&["validate", "--format", "json", "tests/fixtures/broken-library"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    let problems = |file: &str| -> Vec<(String, String, Option<String>, String)> {
        let entry = report.as_array().unwrap().iter().find(|e| e["file"].as_str().unwrap().ends_with(file));
        let entry = entry.unwrap_or_else(|| panic!("{file} is in the report: {report}"));
        entry["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
                (s("code"), s("pointer"), p["node"].as_str().map(str::to_string), s("message"))
            })
            .collect()
    };
    let footer = problems("templates/footer.json");
    assert_eq!((footer[0].0.as_str(), footer[0].1.as_str()), ("invalid_template", "/content"));
    assert!(footer[0].3.contains("does not compile at line 1, column 50"), "{footer:?}");
    let misnamed = problems("templates/misnamed.json");
    assert_eq!((misnamed[0].0.as_str(), misnamed[0].1.as_str()), ("invalid_id", "/id"));
    let welcome_email = problems("templates/welcome-email.json");
    assert_eq!((welcome_email[0].0.as_str(), welcome_email[0].1.as_str()), ("invalid_template", "/message/body"));
    assert!(welcome_email[0].3.contains("the template `footer` has problems of its own"), "{welcome_email:?}");
    // The journey's problems are at its nodes, never left for send time.
    let journey = problems("broken-library/welcome.json");
    let at: Vec<(&str, &str, Option<&str>)> =
        journey.iter().map(|(c, p, n, _)| (c.as_str(), p.as_str(), n.as_deref())).collect();
    assert_eq!(
        at,
        [
            ("invalid_template", "/nodes/0/message/template", Some("send_welcome")),
            ("invalid_template", "/nodes/1/message/body", Some("send_tips")),
        ]
    );
    assert!(journey[0].3.contains("the template `welcome-email` cannot be used: its `body`"), "{journey:?}");

    // Fixed, the same folder validates, is canonical after fmt, and its journey renders the partial.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("tests/fixtures/broken-library"), dir.path());
    let templates = dir.path().join("templates");
    std::fs::remove_file(templates.join("misnamed.json")).unwrap();
    let footer = std::fs::read_to_string(templates.join("footer.json")).unwrap();
    std::fs::write(templates.join("footer.json"), footer.replace("VIP.</p>", "VIP.{{/if}}</p>")).unwrap();
    let path = dir.path().to_str().unwrap();
    let out = kairos(&["validate", path]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("3 file(s) checked, all valid"), "{}", stdout(&out));
    assert!(kairos(&["fmt", path]).status.success());
    assert!(kairos(&["fmt", "--check", path]).status.success());
    let contact = dir.path().join("contact.json");
    std::fs::write(&contact, r#"{ "id": "c1", "attributes": { "email": "a@example.com", "vip": true } }"#).unwrap();
    let events = dir.path().join("events.json");
    std::fs::write(&events, r#"[ { "at": "0s", "name": "signed_up" } ]"#).unwrap();
    let journey = dir.path().join("welcome.json");
    let args = ["simulate", journey.to_str().unwrap(), "--contact", contact.to_str().unwrap()];
    let out = kairos(&[&args[..], &["--events", events.to_str().unwrap(), "--format", "json"]].concat());
    assert!(out.status.success(), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let sim: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sim["sends"][0]["message"]["body"], "<p>Hi there</p><p>Thanks for being a VIP.</p>");
    assert_eq!(sim["sends"][1]["message"]["body"], "<p>Tip one.</p><p>Thanks for being a VIP.</p>");
}

#[test]
fn serve_refuses_a_bad_retention_with_the_option_named() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/kairos.db", dir.path().display());
    for (args, says) in [
        (["--archive-after", "soon"], "--archive-after: `soon` is not a duration"),
        (["--retention", "6 months"], "--retention: `6 months` uses months"),
        (["--retention", "30m"], "--retention (30m) must be longer than --archive-after (1h)"),
    ] {
        let out = kairos(&["serve", "--database-url", &url, "--bind", "127.0.0.1:0", args[0], args[1]]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert!(!dir.path().join("kairos.db").exists(), "refused before touching the database");
}
