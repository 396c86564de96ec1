//! Proof under faults, on PostgreSQL with real `kairos serve` processes: workers killed
//! and frozen mid-run, the database restarted mid-load, a worker's wall clock jumping.
//! Each test creates and drops its own database (or runs a PostgreSQL server of its own).

mod support;

use std::time::{Duration, Instant};
use support::{Kairos, PgDatabase, PrivatePg, Receiver, Spawn};

/// The journeys of the multi-worker test.
const JOURNEYS: usize = 20_000;

/// A process of `role` whose log is `<dir>/<name>.log`; the API process loads the journeys.
fn spawn<'a>(role: &'a str, url: &'a str, dir: &std::path::Path, name: &str) -> Spawn<'a> {
    Spawn {
        role,
        database_url: url,
        load: (role == "api").then(|| dir.join("journeys")),
        log: dir.join(format!("{name}.log")),
        env: vec![],
    }
}

/// Wait until the receiver has seen at least `n` messages.
async fn wait_for_messages(receiver: &Receiver, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while receiver.counts().0 < n {
        assert!(Instant::now() < deadline, "fewer than {n} messages arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Three workers share the load; one is killed with SIGKILL, another frozen with SIGSTOP
/// for longer than its leases and then let go. Every run completes with exactly its
/// timeline (the frozen worker's late commits are fenced out), every message arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_survive_kill_9_and_sigstop() {
    let Some(db) = PgDatabase::create(5432).await else { return };
    db.around(three_workers).await;
}

async fn three_workers(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    support::write_journey(&dir.path().join("journeys"), &receiver.url, "2s");
    let started = Instant::now();
    let api = Kairos::start(spawn("api", &url, dir.path(), "api")).await;
    let mut workers = Vec::new();
    for i in 0..3 {
        workers.push(Kairos::start(spawn("worker", &url, dir.path(), &format!("worker{i}"))).await);
    }
    let conn = sea_orm::Database::connect(&url).await.unwrap();
    let ingest_started = Instant::now();
    support::ingest(&api.base, JOURNEYS).await;
    let ingest_took = ingest_started.elapsed();

    // Once messages flow, every worker holds claimed runs and leased messages.
    wait_for_messages(&receiver, JOURNEYS / 10).await;
    let first_tenth = started.elapsed();
    workers[0].kill_9();
    let at_kill = receiver.counts();
    workers[1].pause();
    // Longer than the leases of its runs (2 s) and of its messages (2 s + 2 × 1 s).
    tokio::time::sleep(Duration::from_secs(5)).await;
    workers[1].resume();
    let at_resume = receiver.counts();

    support::wait_for_all(&conn, &receiver, JOURNEYS, Duration::from_secs(240)).await;
    let all_done = started.elapsed();
    // Give a duplicate or a stale commit every chance to appear.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stale = workers[1].metric("kairos_stale_commits_total").await;
    let repeats = support::check_finished(&conn, &receiver, JOURNEYS).await;
    // A repeat is a message sent by a worker that died or froze before recording it (the
    // batches the two of them had in flight, 16 per webhook lease), or one whose answer
    // took longer than the 1 s timeout on a loaded machine: sent again with the same key.
    assert!(repeats <= 4 * 16, "{repeats} messages arrived twice");
    eprintln!(
        "{JOURNEYS} journeys on 3 workers: ingest {ingest_took:?}, at the kill {} messages, after the pause {}, \
         repeats {repeats}, stale commits fenced on the paused worker {stale:?}; a tenth sent at {first_tenth:?}, \
         all done at {all_done:?}, checked at {:?}",
        at_kill.0,
        at_resume.0,
        started.elapsed()
    );
    drop(workers);
    drop(api);
    receiver.stop().await;
}

/// PostgreSQL stops at once (`pg_ctl stop -m immediate`: a crash to its clients) while
/// runs are being stepped and messages sent, and comes back: every process logs the
/// failures, backs off, reconnects and finishes; no run is lost, no message doubled
/// beyond the batches in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_mid_load_loses_no_run() {
    let Some(pg) = PrivatePg::init() else { return };
    pg.start();
    let db = PgDatabase::create(pg.port).await.expect("the private server is up");
    let pg = std::sync::Arc::new(pg);
    let server = pg.clone();
    db.around(move |url| restart_mid_load(url, server)).await;
}

const RESTART_JOURNEYS: usize = 4_000;

async fn restart_mid_load(url: String, pg: std::sync::Arc<PrivatePg>) {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    support::write_journey(&dir.path().join("journeys"), &receiver.url, "1s");
    let started = Instant::now();
    let api = Kairos::start(spawn("api", &url, dir.path(), "api")).await;
    let workers = vec![
        Kairos::start(spawn("worker", &url, dir.path(), "worker0")).await,
        Kairos::start(spawn("worker", &url, dir.path(), "worker1")).await,
    ];
    let conn = sea_orm::Database::connect(&url).await.unwrap();
    support::ingest_range(&api.base, 0..RESTART_JOURNEYS / 2).await;
    wait_for_messages(&receiver, RESTART_JOURNEYS / 10).await;
    drop(conn);
    pg.stop_immediately();
    let at_stop = receiver.counts().0;
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.start();
    let down = started.elapsed();
    // The API reconnects too: the second half goes in after the restart.
    support::ingest_range(&api.base, RESTART_JOURNEYS / 2..RESTART_JOURNEYS).await;
    let conn = sea_orm::Database::connect(&url).await.unwrap();
    support::wait_for_all(&conn, &receiver, RESTART_JOURNEYS, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let repeats = support::check_finished(&conn, &receiver, RESTART_JOURNEYS).await;
    assert!(repeats <= 4 * 16, "{repeats} messages arrived twice");
    // Every worker saw its connections cut; the ones caught in a transaction logged it
    // as an error and retried (others only waited for a connection).
    let logs: Vec<String> = workers.iter().map(Kairos::log_text).collect();
    for log in &logs {
        assert!(log.contains("terminating connection"), "a worker did not see the outage: {log}");
    }
    assert!(logs.iter().any(|l| l.contains("ERROR")), "no worker logged a failure: {logs:?}");
    for p in workers.iter().chain([&api]) {
        assert!(
            reqwest::get(format!("{}/readyz", p.base)).await.unwrap().status() == 200,
            "every process still serves"
        );
    }
    eprintln!(
        "{RESTART_JOURNEYS} journeys on 2 workers, PostgreSQL stopped (immediate) at {at_stop} messages and back at \
         {down:?}; repeats {repeats}; all done and checked at {:?}",
        started.elapsed()
    );
    drop(workers);
    drop(api);
    receiver.stop().await;
}

/// libfaketime's preload library (Debian's `faketime` package), where it is installed.
fn libfaketime() -> Option<std::path::PathBuf> {
    let found = std::fs::read_dir("/usr/lib")
        .ok()?
        .filter_map(Result::ok)
        .map(|d| d.path().join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.exists());
    if found.is_none() {
        support::skip("libfaketime is not installed (apt-get install faketime)");
    }
    found
}

const CLOCK_JOURNEYS: usize = 2_000;

/// One worker's wall clock jumps an hour forwards, then an hour back (libfaketime, read
/// from a file the test rewrites), while runs wait out a 5 s delay. Time comes from
/// PostgreSQL, so no run resumes before its delay by the database's clock — neither on
/// the jumping worker nor on the other — and every run completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wall_clock_jump_on_one_worker_fires_no_timer_early() {
    let Some(lib) = libfaketime() else { return };
    let Some(db) = PgDatabase::create(5432).await else { return };
    db.around(move |url| clock_jumps(url, lib)).await;
}

async fn clock_jumps(url: String, lib: std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    support::write_journey(&dir.path().join("journeys"), &receiver.url, "5s");
    let offset = dir.path().join("faketime");
    std::fs::write(&offset, "+0").unwrap();
    let started = Instant::now();
    let api = Kairos::start(spawn("api", &url, dir.path(), "api")).await;
    let mut jumping = spawn("worker", &url, dir.path(), "jumping");
    jumping.env = vec![
        ("LD_PRELOAD".into(), lib.display().to_string()),
        ("FAKETIME_TIMESTAMP_FILE".into(), offset.display().to_string()),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ];
    let jumping = Kairos::start(jumping).await;
    let steady = Kairos::start(spawn("worker", &url, dir.path(), "steady")).await;
    let conn = sea_orm::Database::connect(&url).await.unwrap();

    // An hour ahead while the runs start and wait, then an hour behind, then right again.
    std::fs::write(&offset, "+1h").unwrap();
    support::ingest(&api.base, CLOCK_JOURNEYS).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::write(&offset, "-1h").unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::write(&offset, "+0").unwrap();
    support::wait_for_all(&conn, &receiver, CLOCK_JOURNEYS, Duration::from_secs(120)).await;
    support::check_finished(&conn, &receiver, CLOCK_JOURNEYS).await;

    // By PostgreSQL's clock (this machine's, which the receiver reads too): no message
    // before its run's delay was over, and no timeline entry in the future.
    let database_now = kairos_engine::store::database_time(&conn).await.unwrap();
    let runs = support::run_times(&conn).await;
    let worked = jumping.metric("kairos_transitions_total").await.unwrap_or(0);
    assert!(worked > 0, "the jumping worker stepped runs too");
    let earliest = {
        let seen = receiver.seen.lock().unwrap();
        let mut earliest = Duration::MAX;
        for (run, started_at, last_entry) in &runs {
            let key = format!("{run}:notify:1");
            let (_, arrived) = seen.by_key.get(&key).unwrap_or_else(|| panic!("no message {key}"));
            let waited = (*arrived - *started_at).to_std().unwrap_or_default();
            assert!(waited >= Duration::from_secs(5), "run {run} sent its message {waited:?} after it started");
            earliest = earliest.min(waited);
            assert!(
                *last_entry <= database_now,
                "run {run} has a timeline entry at {last_entry}, after {database_now}"
            );
        }
        earliest
    };
    eprintln!(
        "{CLOCK_JOURNEYS} journeys, one worker's clock +1h then -1h: the earliest message {earliest:?} after its run \
         started (delay 5 s); the jumping worker committed {worked} transitions; done in {:?}",
        started.elapsed()
    );
    drop((jumping, steady, api));
    receiver.stop().await;
}
