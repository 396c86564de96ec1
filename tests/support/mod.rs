//! What the fault tests share: PostgreSQL databases (the shared server's, or a private
//! server the test may stop and start), real `kairos serve` processes, a webhook receiver
//! that counts deliveries per idempotency key, and the checks of a finished load.

#![allow(dead_code)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const KEY: &str = "faults-test-key";
/// The workspace key every process of one database shares.
pub const SECRET: &str = "5f1e0c3b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skip a test for a missing requirement, or fail under `CI=true`.
pub fn skip(reason: &str) {
    assert!(!in_ci(), "needed in CI: {reason}");
    eprintln!("skipped: {reason}");
}

// ----- PostgreSQL -----

/// A database of its own on a PostgreSQL server, dropped by [`Database::drop`].
pub struct PgDatabase {
    admin: DatabaseConnection,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    /// A fresh database on the server at `host:port` (user `postgres`, trust auth); `None`
    /// (a printed skip, a failure under `CI=true`) when the server is unreachable.
    pub async fn create(port: u16) -> Option<PgDatabase> {
        let admin_url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let admin = match Database::connect(&admin_url).await {
            Ok(db) => db,
            Err(e) => {
                skip(&format!("PostgreSQL at 127.0.0.1:{port} is unreachable ({e})"));
                return None;
            }
        };
        let name = format!("kairos_faults_{}", uuid::Uuid::new_v4().simple());
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
        let url = format!("postgres://postgres@127.0.0.1:{port}/{name}");
        Some(PgDatabase { admin, name, url })
    }

    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.url).await.unwrap()
    }

    pub async fn drop(self) {
        let _ = self.admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await;
    }

    /// Run `test` against the database at `url`, then drop the database, even when the
    /// test fails.
    pub async fn around<F: Future<Output = ()> + Send + 'static>(self, test: impl FnOnce(String) -> F) {
        let outcome = tokio::spawn(test(self.url.clone())).await;
        self.drop().await;
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL server of the test's own (so it can be stopped without disturbing the
/// other tests): a cluster in a temporary folder owned by `postgres`, on a free port.
pub struct PrivatePg {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl PrivatePg {
    /// `None` (a printed skip, a failure under `CI=true`) without PostgreSQL's binaries.
    pub fn init() -> Option<PrivatePg> {
        if !Path::new(PG_BIN).join("initdb").exists() {
            skip(&format!("PostgreSQL's binaries are not in {PG_BIN}"));
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap().success());
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(Path::new(PG_BIN).join("initdb"))
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        Some(PrivatePg { dir, port: free_port() })
    }

    fn pg_ctl(&self, args: &[&str]) {
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(Path::new(PG_BIN).join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Start the server and wait until it accepts connections. `fsync=off` is safe here:
    /// the test stops the server, never the machine, and the OS keeps what was written.
    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        self.pg_ctl(&["-w", "-t", "60", "-o", &options, "-l", log.to_str().unwrap(), "start"]);
    }

    /// Stop the server at once: no checkpoint, no goodbye to the clients (a crash, as far
    /// as they can tell).
    pub fn stop_immediately(&self) {
        self.pg_ctl(&["-w", "-m", "immediate", "stop"]);
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(Path::new(PG_BIN).join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

// ----- kairos serve -----

/// A `kairos serve` process; killed when dropped.
pub struct Kairos {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
}

/// How to start one process.
pub struct Spawn<'a> {
    pub role: &'a str,
    pub database_url: &'a str,
    /// Journeys to load at start.
    pub load: Option<PathBuf>,
    /// Where its log goes.
    pub log: PathBuf,
    /// Extra environment (e.g. `LD_PRELOAD`).
    pub env: Vec<(String, String)>,
}

impl Kairos {
    pub async fn start(spawn: Spawn<'_>) -> Kairos {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_kairos"));
        command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--role", spawn.role])
            .args(["--database-url", spawn.database_url])
            .args(["--deliver-webhooks", "--lease", "2s", "--webhook-timeout", "1s"])
            .env("KAIROS_API_KEY", KEY)
            .env("KAIROS_SECRET_KEY", SECRET)
            .env("KAIROS_LOG", "warn,kairos_engine=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&spawn.log).unwrap());
        if let Some(dir) = &spawn.load {
            command.arg("--load").arg(dir);
        }
        for (k, v) in spawn.env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("kairos serve starts");
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&base, &mut child, Some(&spawn.log)).await;
        Kairos { child, base, log: spawn.log }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success(), "kill {signal} {pid}");
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGSTOP: the process is frozen (its connections stay open) until [`Kairos::resume`].
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One counter of its `/metrics`.
    pub async fn metric(&self, name: &str) -> Option<u64> {
        let text = reqwest::get(format!("{}/metrics", self.base)).await.ok()?.text().await.ok()?;
        text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    }
}

/// Wait until the server at `base` is ready (a minute at most); fail, with its log, if
/// the process exits first.
pub async fn wait_ready(base: &str, child: &mut Child, log: Option<&Path>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
            && r.status() == 200
        {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let log = log.and_then(|l| std::fs::read_to_string(l).ok()).unwrap_or_default();
            panic!("kairos serve exited ({status}): {log}");
        }
        assert!(Instant::now() < deadline, "kairos serve did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for Kairos {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- The load -----

/// The journey every fault test runs: a delay, a webhook to `url`, a shorter delay, exit.
pub fn write_journey(dir: &Path, url: &str, delay: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let journey = json!({
        "id": "faults", "name": "Fault test",
        "trigger": { "type": "event", "event": "started", "next": "wait" },
        "settings": { "reentry": "always" },
        "nodes": [
            { "id": "wait", "type": "delay", "duration": delay, "next": "notify" },
            { "id": "notify", "type": "send", "message": { "channel": "webhook", "url": url,
              "body": { "contact": "{{contact.id}}" } }, "next": "linger" },
            { "id": "linger", "type": "delay", "duration": "1s", "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    });
    std::fs::write(dir.join("faults.json"), journey.to_string()).unwrap();
}

/// What each run's timeline must be, entry by entry (node/kind), with nothing twice.
pub const EXPECTED_HISTORY: &str = "-/entered,wait/node_entered,wait/waiting_until,notify/node_entered,notify/sent,\
                                    linger/node_entered,linger/waiting_until,done/node_entered,done/completed";

/// Start `count` journeys through the API's `/v1/batch`.
pub async fn ingest(api: &str, count: usize) {
    ingest_range(api, 0..count).await
}

/// Start the journeys of contacts `c<n>` for `n` in `range`: 500 events a request, four
/// requests at a time.
pub async fn ingest_range(api: &str, range: std::ops::Range<usize>) {
    use futures::StreamExt;
    let client = reqwest::Client::new();
    let chunks: Vec<Vec<usize>> = range.collect::<Vec<_>>().chunks(500).map(<[usize]>::to_vec).collect();
    futures::stream::iter(chunks)
        .for_each_concurrent(4, |chunk| {
            let client = client.clone();
            async move {
                let batch: Vec<Value> = chunk
                    .iter()
                    .map(|n| json!({ "type": "track", "userId": format!("c{n}"), "event": "started", "messageId": format!("m{n}") }))
                    .collect();
                let r = client
                    .post(format!("{api}/v1/batch"))
                    .bearer_auth(KEY)
                    .json(&json!({ "batch": batch }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            }
        })
        .await;
}

// ----- The webhook receiver -----

/// Deliveries seen, per `Idempotency-Key`: how many and when the first came.
#[derive(Default)]
pub struct Deliveries {
    pub by_key: HashMap<String, (u32, DateTime<Utc>)>,
    pub without_key: u32,
}

/// A webhook endpoint on 127.0.0.1 that answers 200 and counts.
pub struct Receiver {
    pub url: String,
    pub seen: Arc<Mutex<Deliveries>>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let seen = Arc::new(Mutex::new(Deliveries::default()));
        let data = web::Data::from(seen.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
            .workers(2)
            .backlog(4096)
            .shutdown_timeout(0)
            .listen(listener)
            .unwrap()
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver { url: format!("http://127.0.0.1:{port}/hook"), seen, server: handle }
    }

    /// (distinct keys, deliveries in all).
    pub fn counts(&self) -> (usize, u64) {
        let seen = self.seen.lock().unwrap();
        (seen.by_key.len(), seen.by_key.values().map(|(n, _)| u64::from(*n)).sum())
    }

    pub async fn stop(self) {
        self.server.stop(false).await;
    }
}

async fn receive(req: HttpRequest, seen: web::Data<Mutex<Deliveries>>) -> HttpResponse {
    let now = Utc::now();
    let mut seen = seen.lock().unwrap();
    match req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()) {
        Some(key) => seen.by_key.entry(key.to_string()).or_insert((0, now)).0 += 1,
        None => seen.without_key += 1,
    }
    HttpResponse::Ok().finish()
}

// ----- The checks -----

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all(Statement::from_string(db.get_database_backend(), sql.to_string())).await.unwrap()
}

/// (runs completed, runs in all).
pub async fn run_counts(db: &DatabaseConnection) -> (i64, i64) {
    let r = &rows(db, "SELECT COUNT(*) FILTER (WHERE status = 'completed') AS done, COUNT(*) AS all_runs FROM runs")
        .await[0];
    (r.try_get("", "done").unwrap(), r.try_get("", "all_runs").unwrap())
}

/// Each run's id, start and latest timeline entry.
pub async fn run_times(db: &DatabaseConnection) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
    let ms =
        |r: &sea_orm::QueryResult, c: &str| DateTime::from_timestamp_millis(r.try_get::<i64>("", c).unwrap()).unwrap();
    rows(db, "SELECT r.id, r.started_at, MAX(h.at) AS last_at FROM runs r JOIN run_history h ON h.run_id = r.id GROUP BY r.id, r.started_at")
        .await
        .iter()
        .map(|r| (r.try_get("", "id").unwrap(), ms(r, "started_at"), ms(r, "last_at")))
        .collect()
}

/// Wait until `count` runs completed and the receiver saw `count` keys (at most `within`).
pub async fn wait_for_all(db: &DatabaseConnection, receiver: &Receiver, count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (done, _) = run_counts(db).await;
        let (keys, _) = receiver.counts();
        if done >= count as i64 && keys >= count {
            return;
        }
        assert!(Instant::now() < deadline, "only {done} of {count} runs completed and {keys} messages arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Everything a finished load must show: every run completed with exactly the expected
/// timeline (no entry twice: no stale commit landed), one outbox row per run, sent, and
/// the receiver saw exactly those keys. Returns how many deliveries were repeats (the
/// same key again: a worker that died or stalled after sending, before recording it).
pub async fn check_finished(db: &DatabaseConnection, receiver: &Receiver, count: usize) -> u64 {
    let (done, all) = run_counts(db).await;
    assert_eq!((done, all), (count as i64, count as i64), "every run completed");
    let timelines = rows(
        db,
        "SELECT seq, COUNT(*) AS n FROM (SELECT run_id, string_agg(COALESCE(node, '-') || '/' || kind, ',' ORDER BY id) AS seq \
         FROM run_history GROUP BY run_id) t GROUP BY seq ORDER BY n DESC",
    )
    .await;
    let timelines: Vec<(String, i64)> =
        timelines.iter().map(|r| (r.try_get("", "seq").unwrap(), r.try_get("", "n").unwrap())).collect();
    assert_eq!(timelines, vec![(EXPECTED_HISTORY.to_string(), count as i64)], "every run has the same timeline");
    let outbox = &rows(
        db,
        "SELECT COUNT(*) AS n, COUNT(DISTINCT key) AS keys, COUNT(DISTINCT run_id) AS runs, \
         COUNT(*) FILTER (WHERE status = 'sent') AS sent FROM outbox",
    )
    .await[0];
    let get = |c: &str| outbox.try_get::<i64>("", c).unwrap();
    assert_eq!(
        (get("n"), get("keys"), get("runs"), get("sent")),
        (count as i64, count as i64, count as i64, count as i64),
        "one outbox row per run, each sent"
    );
    let keys: Vec<String> =
        rows(db, "SELECT key FROM outbox").await.iter().map(|r| r.try_get("", "key").unwrap()).collect();
    let seen = receiver.seen.lock().unwrap();
    assert_eq!(seen.without_key, 0, "every delivery carried its Idempotency-Key");
    assert_eq!(seen.by_key.len(), count, "the receiver saw one key per run");
    for key in &keys {
        assert!(seen.by_key.contains_key(key), "the message {key} never arrived");
    }
    seen.by_key.values().map(|(n, _)| u64::from(n - 1)).sum()
}
