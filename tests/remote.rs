//! `kairos push | pull | diff` against a real server: the app runs in-process on a free
//! port with a fresh SQLite database, and the real `kairos` binary talks to it over HTTP.

use kairos::{Application, Settings};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KEY: &str = "remote-test-key";

/// The six example journeys.
const JOURNEYS: [&str; 11] = [
    "abandoned-cart",
    "birthday-offer",
    "downgrade-save",
    "lead-nurture",
    "post-purchase",
    "re-engagement",
    "vip-loyalty",
    "we-miss-you",
    "weekly-digest",
    "welcome-series",
    "win-back",
];

const SEGMENTS: [&str; 4] = ["engaged-subscribers", "high-intent-leads", "inactive-30", "vip"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

struct Server {
    rt: tokio::runtime::Runtime,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let url = format!("sqlite://{}/kairos.db", dir.path().display());
        let app = rt.block_on(async {
            let mut settings = Settings::new("127.0.0.1:0", url);
            settings.api_key = Some(KEY.into());
            settings.background = false;
            Application::build(settings).await.expect("the app starts")
        });
        let base = format!("http://127.0.0.1:{}", app.port());
        rt.spawn(app.run_until_stopped());
        Server { rt, base, http: reqwest::Client::new(), _dir: dir }
    }

    /// A request with the key: (status, JSON body or `null`).
    fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.rt.block_on(async {
            let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(KEY);
            if let Some(b) = body {
                req = req.json(b);
            }
            let r = req.send().await.expect("the request is sent");
            let status = r.status().as_u16();
            (status, serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null))
        })
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None)
    }

    /// The `kairos` binary pointed at this server with the key.
    fn kairos(&self, args: &[&str]) -> Output {
        kairos_with(args, &[("KAIROS_SERVER", &self.base), ("KAIROS_API_KEY", KEY)])
    }
}

/// The binary with exactly these `KAIROS_SERVER` / `KAIROS_API_KEY` variables.
fn kairos_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kairos"));
    cmd.args(args).env_remove("KAIROS_SERVER").env_remove("KAIROS_API_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("kairos runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

/// The example template library (`workflows/templates/`).
const TEMPLATES: [&str; 3] = ["footer", "northwind", "welcome-email"];

/// A copy of `workflows/` (journeys, their tests, the schemas and the template library) in a new temp folder.
fn copy_of_workflows() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() { copy(&path, &target) } else { std::fs::copy(&path, &target).map(drop).unwrap() }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&root().join("workflows"), dir.path());
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Change a journey file in place (written back compact, so not canonical).
fn edit(path: &Path, f: impl FnOnce(&mut Value)) {
    let mut v = read_json(path);
    f(&mut v);
    std::fs::write(path, v.to_string()).unwrap();
}

fn node_mut<'a>(journey: &'a mut Value, id: &str) -> &'a mut Value {
    journey["nodes"].as_array_mut().unwrap().iter_mut().find(|n| n["id"] == id).unwrap()
}

#[test]
fn push_creates_each_journey_then_reports_it_unchanged() {
    let server = Server::start();
    let dir = copy_of_workflows();

    let out = server.kairos(&["push", s(dir.path())]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    for id in JOURNEYS {
        assert!(stdout(&out).contains(&format!("{id}: created\n")), "{}", stdout(&out));
    }
    // The audience goes first: the journeys' triggers name its segments.
    assert!(stdout(&out).contains("audience settings: saved\n"), "{}", stdout(&out));
    for id in SEGMENTS {
        assert!(stdout(&out).contains(&format!("segment {id}: created\n")), "{}", stdout(&out));
    }
    let (_, segments) = server.get("/v1/segments");
    let ids: Vec<&str> = segments["segments"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, SEGMENTS);
    assert_eq!(server.get("/v1/audience").1["rfm"], json!({"event": "purchase", "amount_property": "amount"}));
    let (status, page) = server.get("/v1/workflows");
    assert_eq!(status, 200);
    let ids: Vec<&str> = page["data"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, JOURNEYS);
    let (status, detail) = server.get("/v1/workflows/abandoned-cart");
    assert_eq!(status, 200);
    assert_eq!(detail["draft"], read_json(&root().join("workflows/abandoned-cart.json")));
    assert_eq!(detail["valid"], true);
    assert_eq!(detail["live_version"], Value::Null, "push without --publish does not publish");

    // Again: nothing to change. Then one edit: only that journey is updated.
    let out = server.kairos(&["push", s(dir.path())]);
    assert_eq!(code(&out), 0);
    for id in JOURNEYS {
        assert!(stdout(&out).contains(&format!("{id}: unchanged\n")), "{}", stdout(&out));
    }
    assert!(stdout(&out).contains("audience settings: unchanged\n"), "{}", stdout(&out));
    assert!(stdout(&out).contains("segment vip: unchanged\n"), "{}", stdout(&out));
    edit(&dir.path().join("audience/segments/vip.json"), |s| s["name"] = json!("Best customers"));
    edit(&dir.path().join("win-back.json"), |j| j["name"] = json!("Win back lapsed buyers"));
    let out = server.kairos(&["push", s(dir.path())]);
    assert!(stdout(&out).contains("win-back: updated\n"), "{}", stdout(&out));
    assert!(stdout(&out).contains("segment vip: updated\n"), "{}", stdout(&out));
    assert_eq!(server.get("/v1/segments/vip").1["name"], "Best customers");
    assert!(stdout(&out).contains("abandoned-cart: unchanged\n"), "{}", stdout(&out));
    assert_eq!(server.get("/v1/workflows/win-back").1["name"], "Win back lapsed buyers");
}

#[test]
fn push_publish_creates_versions_and_republishes_only_changes() {
    let server = Server::start();
    let dir = copy_of_workflows();

    let out = server.kairos(&["push", "--publish", s(dir.path())]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    for id in JOURNEYS {
        assert!(stdout(&out).contains(&format!("{id}: created, published v1\n")), "{}", stdout(&out));
        let (status, version) = server.get(&format!("/v1/workflows/{id}/versions/1"));
        assert_eq!(status, 200, "{id} has version 1");
        assert_eq!(version["live"], true);
        assert_eq!(version["definition"], read_json(&root().join(format!("workflows/{id}.json"))));
    }

    let out = server.kairos(&["push", "--publish", s(dir.path())]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("abandoned-cart: unchanged, publish unchanged (v1 is live)\n"), "{}", stdout(&out));

    edit(&dir.path().join("abandoned-cart.json"), |j| {
        node_mut(j, "send_reminder")["message"]["subject"] = json!("Your cart misses you");
    });
    let out = server.kairos(&["push", "--publish", s(dir.path())]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("abandoned-cart: updated, published v2\n"), "{}", stdout(&out));
    assert!(stdout(&out).contains("win-back: unchanged, publish unchanged (v1 is live)\n"), "{}", stdout(&out));
    let (status, mut v2) = server.get("/v1/workflows/abandoned-cart/versions/2");
    assert_eq!(status, 200);
    assert_eq!(node_mut(&mut v2["definition"], "send_reminder")["message"]["subject"], "Your cart misses you");
    assert_eq!(server.get("/v1/workflows/win-back/versions/2").0, 404);
}

#[test]
fn pull_into_an_empty_dir_writes_files_byte_identical_to_workflows() {
    let server = Server::start();
    let out = server.kairos(&["push", "--publish", s(&root().join("workflows"))]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));

    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("pulled");
    let out = server.kairos(&["pull", s(&target)]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let mut names: Vec<String> =
        std::fs::read_dir(&target).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let mut expected: Vec<String> =
        JOURNEYS.iter().flat_map(|id| [format!("{id}.json"), format!("{id}.test.json")]).collect();
    expected.push("templates".into());
    expected.push("audience".into());
    expected.sort();
    assert_eq!(names, expected, "each journey, the tests push uploaded, the template library and the audience");
    let mut audience: Vec<String> = vec!["audience/settings.json".into()];
    audience.extend(SEGMENTS.iter().map(|id| format!("audience/segments/{id}.json")));
    for file in &audience {
        let pulled = std::fs::read(target.join(file)).unwrap();
        let original = std::fs::read(root().join("workflows").join(file)).unwrap();
        assert!(pulled == original, "{file} is byte-identical to workflows/{file}");
        assert!(stdout(&out).contains(&format!("{file}: written\n")), "{}", stdout(&out));
    }
    for id in TEMPLATES {
        let file = format!("templates/{id}.json");
        let pulled = std::fs::read(target.join(&file)).unwrap();
        let original = std::fs::read(root().join("workflows").join(&file)).unwrap();
        assert!(pulled == original, "{file} is byte-identical to workflows/{file}");
        assert!(stdout(&out).contains(&format!("{file}: written\n")), "{}", stdout(&out));
    }
    for id in JOURNEYS {
        for file in [format!("{id}.json"), format!("{id}.test.json")] {
            let pulled = std::fs::read(target.join(&file)).unwrap();
            let original = std::fs::read(root().join("workflows").join(&file)).unwrap();
            assert!(pulled == original, "{file} is byte-identical to workflows/{file}");
            assert!(stdout(&out).contains(&format!("{file}: written\n")), "{}", stdout(&out));
        }
    }

    // Again: nothing is rewritten; a test file that differs from the server's is replaced.
    std::fs::write(target.join("abandoned-cart.test.json"), "not even json").unwrap();
    let out = server.kairos(&["pull", s(&target)]);
    assert_eq!(code(&out), 0);
    for id in JOURNEYS {
        assert!(stdout(&out).contains(&format!("{id}.json: unchanged\n")), "{}", stdout(&out));
    }
    assert!(stdout(&out).contains("abandoned-cart.test.json: written\n"), "{}", stdout(&out));
    assert!(stdout(&out).contains("win-back.test.json: unchanged\n"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read(target.join("abandoned-cart.test.json")).unwrap(),
        std::fs::read(root().join("workflows/abandoned-cart.test.json")).unwrap()
    );
}

#[test]
fn push_uploads_each_journeys_tests_and_reports_a_refused_file() {
    let server = Server::start();
    let dir = copy_of_workflows();
    let out = server.kairos(&["push", s(dir.path())]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("abandoned-cart: tests uploaded (9 case(s))\n"), "{}", stdout(&out));
    let (status, tests) = server.get("/v1/workflows/abandoned-cart/tests");
    assert_eq!(status, 200);
    assert_eq!(tests, read_json(&root().join("workflows/abandoned-cart.test.json")));

    // Formatting alone is no change; a test naming a node the journey lacks is refused.
    edit(&dir.path().join("win-back.test.json"), |_| {});
    edit(&dir.path().join("abandoned-cart.test.json"), |t| {
        t["tests"][0]["expect"]["sends"][0]["node"] = json!("send_nothing");
    });
    let out = server.kairos(&["push", s(dir.path())]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("win-back: tests unchanged\n"), "{text}");
    assert!(
        text.contains("abandoned-cart: tests refused by the server: 422 Unprocessable Entity (invalid_tests)"),
        "{text}"
    );
    assert!(
        text.contains("/tests/0/expect/sends/0/node: the journey has no node `send_nothing` (missing_node)"),
        "{text}"
    );
    assert!(text.contains("10 journey(s) pushed, 1 refused"), "{text}");
}

#[test]
fn pull_reports_a_draft_it_cannot_export_and_goes_on() {
    let server = Server::start();
    let out = server.kairos(&["push", s(&root().join("workflows/win-back.json"))]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    // A half-finished draft saved by the editor: no trigger yet.
    let (status, _) = server.call(
        reqwest::Method::POST,
        "/v1/workflows",
        Some(&json!({"id": "half-done", "name": "Half done", "nodes": []})),
    );
    assert_eq!(status, 201);

    let target = tempfile::tempdir().unwrap();
    let out = server.kairos(&["pull", s(target.path())]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("half-done: not written"), "{text}");
    assert!(text.contains("422 Unprocessable Entity (invalid_workflow)"), "{text}");
    assert!(text.contains("/trigger: the required field `trigger` is missing (missing_field)"), "{text}");
    assert!(text.contains("win-back.json: written"), "{text}");
    assert!(target.path().join("win-back.json").exists());
    assert!(!target.path().join("half-done.json").exists());
}

#[test]
fn diff_reports_exactly_the_edited_node_and_exits_1() {
    let server = Server::start();
    let dir = copy_of_workflows();
    assert_eq!(code(&server.kairos(&["push", s(dir.path())])), 0);

    edit(&dir.path().join("abandoned-cart.json"), |j| {
        node_mut(j, "send_reminder")["message"]["subject"] = json!("Still thinking it over?");
    });
    let out = server.kairos(&["diff", s(dir.path())]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out),
        "~ abandoned-cart\n    ~ send_reminder: message changed\n1 journey(s) differ, 10 identical; 0 template(s) differ, 3 identical\n"
    );
}

#[test]
fn diff_of_an_identical_dir_exits_0_whatever_the_formatting() {
    let server = Server::start();
    let dir = copy_of_workflows();
    assert_eq!(code(&server.kairos(&["push", s(dir.path())])), 0);

    let out = server.kairos(&["diff", s(dir.path())]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), "no differences (11 journey(s) and 3 template(s) identical)\n");

    // Same journey, other bytes (compact, not canonical): still no difference.
    edit(&dir.path().join("post-purchase.json"), |_| {});
    let out = server.kairos(&["diff", s(dir.path())]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

#[test]
fn diff_reports_a_layout_only_change_as_such() {
    let server = Server::start();
    let dir = copy_of_workflows();
    assert_eq!(code(&server.kairos(&["push", s(dir.path())])), 0);

    edit(&dir.path().join("win-back.json"), |j| {
        j["layout"]["exit_lapsed"]["x"] = json!(480);
    });
    let out = server.kairos(&["diff", s(dir.path())]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stdout(&out),
        "~ win-back: layout only (moved: exit_lapsed)\n1 journey(s) differ, 10 identical; 0 template(s) differ, 3 identical\n"
    );

    // Together with a real change, the layout is one line among others.
    edit(&dir.path().join("win-back.json"), |j| j["description"] = json!("Bring lapsed buyers back."));
    let out = server.kairos(&["diff", s(dir.path())]);
    assert_eq!(
        stdout(&out),
        "~ win-back\n    ~ description changed\n    ~ layout: moved exit_lapsed\n1 journey(s) differ, 10 identical; 0 template(s) differ, 3 identical\n"
    );
}

#[test]
fn diff_reports_nodes_added_removed_and_changed_and_journeys_on_one_side_only() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.json");
    let small = json!({
        "id": "small", "name": "Small",
        "trigger": { "type": "api", "next": "wait" },
        "nodes": [
            { "id": "wait", "type": "delay", "duration": "1h", "next": "mail" },
            { "id": "mail", "type": "send", "message": { "channel": "email", "subject": "Hi", "body": "<p>Hi</p>" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    });
    std::fs::write(&path, small.to_string()).unwrap();
    std::fs::copy(root().join("workflows/win-back.json"), dir.path().join("win-back.json")).unwrap();
    assert_eq!(code(&server.kairos(&["push", s(dir.path())])), 0);

    // Locally: another trigger and re-entry, `mail` replaced by `text`, `wait` changed;
    // win-back deleted; a new journey.
    edit(&path, |j| {
        j["trigger"] = json!({ "type": "event", "event": "signed_up", "next": "wait" });
        j["settings"] = json!({ "reentry": "always" });
        j["nodes"] = json!([
            { "id": "wait", "type": "delay", "duration": "2h", "next": "text" },
            { "id": "text", "type": "send", "message": { "channel": "sms", "body": "Hi" }, "next": "done" },
            { "id": "done", "type": "exit" }
        ]);
    });
    std::fs::remove_file(dir.path().join("win-back.json")).unwrap();
    let mut other = small.clone();
    other["id"] = json!("other");
    std::fs::write(dir.path().join("other.json"), other.to_string()).unwrap();

    let out = server.kairos(&["diff", s(dir.path())]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "+ other: new, not on the server ({})\n\
             ~ small\n    ~ trigger: event, type changed\n    ~ settings: reentry changed\n    \
             ~ wait: duration, next changed\n    + text: added (send)\n    - mail: removed (send)\n\
             - win-back: only on the server\n\
             3 journey(s) differ, 0 identical\n",
            dir.path().join("other.json").display()
        )
    );
}

#[test]
fn push_refuses_an_invalid_file_with_every_problem_and_creates_nothing_for_it() {
    let server = Server::start();
    let dir = copy_of_workflows();
    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        json!({
            "id": "broken", "name": "Broken",
            "trigger": { "type": "event", "event": "signed_up", "next": "wait" },
            "nodes": [
                { "id": "wait", "type": "delay", "duration": "soon", "next": "nowhere" },
                { "id": "done", "type": "exit" }
            ]
        })
        .to_string(),
    )
    .unwrap();

    let out = server.kairos(&["push", s(dir.path())]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("{}: refused, 3 problem(s); nothing pushed", broken.display())), "{text}");
    assert!(text.contains("  /nodes/0/duration [node `wait`]: "), "{text}");
    assert!(text.contains("  /nodes/0/next [node `wait`]: "), "{text}");
    assert!(text.contains("  /nodes/1 [node `done`]: "), "{text}");
    assert!(text.contains("11 journey(s) pushed, 1 refused"), "{text}");
    assert_eq!(server.get("/v1/workflows/broken").0, 404, "nothing was created for the broken file");
    assert_eq!(server.get("/v1/workflows/abandoned-cart").0, 200, "the valid files were pushed");
}

#[test]
fn a_missing_api_key_is_a_clear_error_with_exit_code_2() {
    let dir = copy_of_workflows();
    for command in ["push", "pull", "diff"] {
        let out = kairos_with(&[command, s(dir.path()), "--server", "http://127.0.0.1:9"], &[]);
        assert_eq!(code(&out), 2, "{command}");
        assert!(
            stderr(&out).contains("error: no API key: pass --api-key KEY or set KAIROS_API_KEY"),
            "{}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty(), "{command} did nothing");
    }
}

#[test]
fn a_wrong_key_or_an_unreachable_server_is_reported_without_a_panic() {
    let server = Server::start();
    let dir = copy_of_workflows();
    let out = kairos_with(&["diff", s(dir.path()), "--server", &server.base, "--api-key", "wrong"], &[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("refused the API key: 401 Unauthorized (invalid_api_key): "), "{}", stderr(&out));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = format!("http://127.0.0.1:{port}");
    let out = kairos_with(&["push", s(dir.path()), "--server", &dead], &[("KAIROS_API_KEY", KEY)]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains(&format!("cannot reach the Kairos server at {dead}")), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
}

#[test]
fn push_saves_templates_as_versions_and_republishing_pins_the_new_one() {
    let server = Server::start();
    let dir = copy_of_workflows();

    let out = server.kairos(&["push", "--publish", s(dir.path())]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
    for id in TEMPLATES {
        assert!(text.contains(&format!("template {id}: created (version 1)\n")), "{text}");
    }
    assert!(text.contains("3 template(s) pushed, 0 refused\n"), "{text}");
    assert!(text.contains("welcome-series: created, published v1\n"), "{text}");
    let pins = |v: u32| server.get(&format!("/v1/workflows/welcome-series/versions/{v}")).1["templates"].clone();
    assert_eq!(
        pins(1),
        json!([{ "id": "footer", "version": 1 }, { "id": "northwind", "version": 1 }, { "id": "welcome-email", "version": 1 }])
    );
    assert_eq!(server.get("/v1/workflows/abandoned-cart/versions/1").1["templates"], json!([]));

    // Nothing changed: no new template version, no new journey version.
    let out = server.kairos(&["push", "--publish", s(dir.path())]);
    assert!(stdout(&out).contains("template footer: unchanged (version 1)\n"), "{}", stdout(&out));
    assert!(stdout(&out).contains("welcome-series: unchanged, publish unchanged (v1 is live)\n"), "{}", stdout(&out));

    // The footer changes: a new template version, and publishing pins it in a new journey version.
    let footer = dir.path().join("templates/footer.json");
    edit(&footer, |t| t["content"] = json!("<p>Northwind, Seattle</p>"));
    let out = server.kairos(&["diff", s(dir.path())]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("~ template footer: content changed\n"), "{}", stdout(&out));
    let out = server.kairos(&["push", "--publish", s(dir.path())]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}");
    assert!(text.contains("template footer: saved as version 2\n"), "{text}");
    assert!(text.contains("welcome-series: unchanged, published v2\n"), "{text}");
    assert!(text.contains("abandoned-cart: unchanged, publish unchanged (v1 is live)\n"), "{text}");
    assert_eq!(pins(2)[0], json!({ "id": "footer", "version": 2 }));
    assert_eq!(pins(1)[0], json!({ "id": "footer", "version": 1 }), "version 1 keeps its pins");
    let out = server.kairos(&["diff", s(dir.path())]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));

    // Pulled back: the template file as it is on the server, in canonical form.
    let tmp = tempfile::tempdir().unwrap();
    let out = server.kairos(&["pull", s(tmp.path())]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let pulled = read_json(&tmp.path().join("templates/footer.json"));
    assert_eq!(pulled["content"], "<p>Northwind, Seattle</p>");
    assert_eq!(pulled["$schema"], "../template.schema.json");

    // A journey whose template is missing locally is refused before anything is sent.
    std::fs::remove_file(dir.path().join("templates/welcome-email.json")).unwrap();
    let out = server.kairos(&["push", s(dir.path())]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("there is no template `welcome-email` in the template library"), "{}", stdout(&out));
}
