//! Crash safety of the real `kairos serve` process: journeys in flight survive `kill -9`,
//! and no message is sent twice.

use kairos_engine::store::{self, Store};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const JOURNEYS: usize = 20_000;

mod support;

struct Server {
    child: Child,
    base: String,
}

async fn start(dir: &std::path::Path, port: u16) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kairos"))
        // A short lease: the runs the killed server had claimed are due again sooner.
        .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--lease", "2s", "--load"])
        .arg(dir.join("journeys"))
        .arg("--database-url")
        .arg(format!("sqlite://{}/kairos.db", dir.display()))
        .env("KAIROS_API_KEY", support::KEY)
        .env("KAIROS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kairos serve starts");
    let base = format!("http://127.0.0.1:{port}");
    support::wait_ready(&base, &mut child, None).await;
    Server { child, base }
}

fn kill_9(server: &mut Server) {
    // SIGKILL: no chance to finish anything.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

async fn counts(s: &Store) -> (u64, u64, i64) {
    let completed = store::count_runs_by_status(s.reader())
        .await
        .unwrap()
        .into_iter()
        .find(|(status, _)| status == "completed")
        .map_or(0, |(_, n)| n);
    (
        store::count_messages(s.reader()).await.unwrap(),
        store::count_distinct_message_keys(s.reader()).await.unwrap(),
        completed,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journeys_in_flight_survive_kill_9_and_send_each_message_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("journeys")).unwrap();
    let journey = json!({
        "id": "crash", "name": "Crash test",
        "trigger": { "type": "event", "event": "started", "next": "wait" },
        "settings": { "reentry": "always" },
        "nodes": [
            { "id": "wait", "type": "delay", "duration": "2s", "next": "notify" },
            { "id": "notify", "type": "send", "message": { "channel": "webhook", "url": "https://example.com/hook",
              "body": { "contact": "{{contact.id}}" } }, "next": "linger" },
            { "id": "linger", "type": "delay", "duration": "1s", "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    });
    std::fs::write(dir.path().join("journeys/crash.json"), journey.to_string()).unwrap();
    let port = support::free_port();
    let began = Instant::now();
    let mut server = start(dir.path(), port).await;

    support::ingest(&server.base, JOURNEYS).await;
    let ingested = began.elapsed();
    // Kill as soon as the first messages are written: sends have begun, and every run is
    // still in flight (each waits a further second after its send).
    let db = Store::connect(&format!("sqlite://{}/kairos.db", dir.path().display())).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while counts(&db).await.0 == 0 {
        assert!(Instant::now() < deadline, "no message was sent");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    kill_9(&mut server);
    let (before, _, completed_before) = counts(&db).await;
    assert!(completed_before < JOURNEYS as i64, "runs were in flight at the kill");

    let killed = began.elapsed();
    let mut server = start(dir.path(), port).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (n, _, completed) = counts(&db).await;
        if n >= JOURNEYS as u64 && completed >= JOURNEYS as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {JOURNEYS} messages and {completed} completed runs after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate every chance to appear, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill_9(&mut server);

    let (messages, keys, _) = counts(&db).await;
    assert_eq!(messages, JOURNEYS as u64, "exactly one message per journey");
    assert_eq!(keys, JOURNEYS as u64, "distinct idempotency keys");
    let by_status: std::collections::HashMap<String, i64> =
        store::count_runs_by_status(db.reader()).await.unwrap().into_iter().collect();
    assert_eq!(by_status.get("completed").copied(), Some(JOURNEYS as i64), "every run completed: {by_status:?}");
    assert_eq!(by_status.len(), 1, "no run is stuck: {by_status:?}");
    eprintln!(
        "at the kill: {before} messages, {completed_before} runs completed; after the restart: {messages} messages; \
         ingested at {ingested:?}, killed at {killed:?}, all done at {:?}",
        began.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("journeys")).unwrap();
    let mut server = start(dir.path(), support::free_port()).await;
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not stop within 15 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status:?}");
    assert!(reqwest::get(format!("{}/healthz", server.base)).await.is_err(), "nothing listens any more");
}
