//! `kairos bench`: drive the real scheduler and store (SQLite in a fresh file by default)
//! with the system clock and the real background loops, and print what they sustain.
//!
//! Three workloads, which may be combined; with none named the bench runs 100,000
//! journeys and then 10,000 webhooks (the delivery row):
//!
//! - **journeys** (`--journeys N`): trigger → send → delay 5s → branch → send → exit,
//!   all started as fast as ingestion allows (events in batches of 1,000 per `ingest`
//!   call, 4 calls at once on PostgreSQL), then the bench waits until every run has completed and every message (two
//!   per journey) is in the inbox.
//! - **waiting** (`--waiting N`): N runs that wait 30 days; reports memory (the scheduler
//!   must never hold waiting runs in memory) and database bytes per waiting run.
//! - **webhooks** (`--webhooks N`, the delivery row): N runs that each send one webhook, delivered over HTTP
//!   by the real webhook channel to a receiver the bench starts on 127.0.0.1; reports
//!   messages/s and the dispatcher's latency from queued to delivered.

mod processes;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use kairos_engine::clock::{Clock, SystemClock};
use kairos_engine::contact::Event;
use kairos_engine::scheduler::{Config, Incoming, Scheduler};
use kairos_engine::store::{self, Backend, Store};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Args)]
pub struct BenchArgs {
    /// Journeys run end to end (trigger → send → delay 5s → branch → send → exit).
    /// Default 100000, or 0 when `--waiting` is given.
    #[arg(long)]
    journeys: Option<u64>,
    /// Runs to create that wait 30 days (measures memory and bytes per waiting run).
    #[arg(long, default_value_t = 0)]
    waiting: u64,
    /// Webhooks to deliver over HTTP to a local receiver (measures messages/s and the
    /// dispatcher's latency from queued to delivered). Default: 10,000 when no workload
    /// is named (the delivery row of the default table), else none.
    #[arg(long)]
    webhooks: Option<u64>,
    /// Events per `ingest` call.
    #[arg(long, default_value_t = 1000)]
    ingest_batch: usize,
    /// `ingest` calls in flight at once. Default: 4 on PostgreSQL (each runs in a
    /// transaction of its own), 1 on SQLite (one writer: more calls only queue, ahead of
    /// the claims and commits of runs coming due).
    #[arg(long)]
    ingest_concurrency: Option<usize>,
    /// The journey's delay in seconds.
    #[arg(long, default_value_t = 5)]
    delay_secs: u64,
    /// Runs claimed at once by the scheduler (`Config::batch`).
    #[arg(long, default_value_t = Config::default().batch)]
    claim_batch: u64,
    /// Database: a fresh, empty one. Default: a new SQLite file in a temporary directory,
    /// deleted afterwards.
    #[arg(long)]
    database_url: Option<String>,
    /// Keep the temporary database (its path is printed).
    #[arg(long)]
    keep: bool,
    /// Fail if the workload has not finished after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    /// Print exactly one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 when a target is missed.
    #[arg(long)]
    check: bool,
    /// Instead of the workloads: time the parts of ingesting and resuming (no background
    /// loops) on `--journeys` journeys (default 20000), to find where the time goes.
    #[arg(long)]
    breakdown: bool,
    /// Run the journeys in this many `kairos serve --role worker` processes on the shared
    /// database (PostgreSQL, `--database-url`) instead of this process's loops; this process
    /// only ingests. Reports each process's peak RSS.
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Events to post over HTTP to a `kairos serve --role api` process on the same database
    /// (`POST /v1/batch`, 100 a call, 16 calls at once): reports events_ingested_per_sec.
    #[arg(long)]
    http_events: Option<u64>,
}

const JOURNEY_EVENT: &str = "bench_signed_up";
const WAITING_EVENT: &str = "bench_waitlisted";
const WEBHOOK_EVENT: &str = "bench_hooked";
/// Node steps of one journey: send, delay, branch, send, exit.
const STEPS_PER_JOURNEY: u64 = 5;
const MESSAGES_PER_JOURNEY: u64 = 2;

const TARGET_NODE_STEPS_PER_SEC: f64 = 20_000.0;
const TARGET_P99_LATENESS_MS: f64 = 1_000.0;
const TARGET_WAITING_RSS_MB: f64 = 300.0;
const TARGET_HTTP_EVENTS_PER_SEC: f64 = 20_000.0;

fn journey_definition(delay_secs: u64) -> String {
    json!({
        "$schema": "./schema.json",
        "id": "bench",
        "name": "Bench",
        "description": "kairos bench: send, wait, branch on the plan, send, exit.",
        "trigger": { "type": "event", "event": JOURNEY_EVENT, "next": "welcome" },
        "settings": { "reentry": "once", "timezone": "UTC" },
        "nodes": [
            { "id": "welcome", "type": "send",
              "message": { "channel": "email", "subject": "Welcome, {{contact.first_name}}!",
                           "body": "<p>Hello {{contact.first_name}}, your plan is {{contact.plan}}.</p>" },
              "next": "wait" },
            { "id": "wait", "type": "delay", "duration": format!("{delay_secs}s"), "next": "is_pro" },
            { "id": "is_pro", "type": "branch",
              "rules": [ { "name": "pro", "condition": { "left": "contact.plan", "op": "eq", "right": "pro" }, "next": "pro_tips" } ],
              "else": "upgrade_offer" },
            { "id": "pro_tips", "type": "send",
              "message": { "channel": "email", "subject": "Pro tips", "body": "<p>Three things pros do first.</p>" },
              "next": "done" },
            { "id": "upgrade_offer", "type": "send",
              "message": { "channel": "email", "subject": "Go pro, {{contact.first_name}}", "body": "<p>20% off this week.</p>" },
              "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
    .to_string()
}

/// One webhook per run, to the bench's receiver.
fn webhook_definition(url: &str) -> String {
    json!({
        "$schema": "./schema.json",
        "id": "bench-webhook",
        "name": "Bench webhook",
        "description": "kairos bench: one webhook per run, over HTTP.",
        "trigger": { "type": "event", "event": WEBHOOK_EVENT, "next": "notify" },
        "settings": { "reentry": "once", "timezone": "UTC" },
        "nodes": [
            { "id": "notify", "type": "send",
              "message": { "channel": "webhook", "method": "POST", "url": url,
                           "headers": { "Authorization": "Bearer bench" },
                           "body": { "contact": "{{contact.id}}", "event": "{{trigger.name}}" } },
              "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
    .to_string()
}

/// A receiver on 127.0.0.1 that answers every request 204 and counts them.
fn start_receiver() -> anyhow::Result<(String, Arc<std::sync::atomic::AtomicU64>, actix_web::dev::ServerHandle)> {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = web::Data::from(count.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot start the webhook receiver")?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new().app_data(seen.clone()).default_service(web::to(
            |seen: web::Data<std::sync::atomic::AtomicU64>| async move {
                seen.fetch_add(1, Ordering::Relaxed);
                HttpResponse::NoContent().finish()
            },
        ))
    })
    .workers(1)
    .shutdown_timeout(0)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((format!("http://127.0.0.1:{port}/bench"), count, handle))
}

fn waiting_definition() -> String {
    json!({
        "$schema": "./schema.json",
        "id": "bench-waiting",
        "name": "Bench (waiting)",
        "description": "kairos bench --waiting: wait 30 days, then send.",
        "trigger": { "type": "event", "event": WAITING_EVENT, "next": "wait" },
        "nodes": [
            { "id": "wait", "type": "delay", "duration": "30d", "next": "hello" },
            { "id": "hello", "type": "send",
              "message": { "channel": "email", "subject": "A month later", "body": "<p>Still there?</p>" },
              "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
    .to_string()
}

/// Measurements of one bench run; `None` where a workload did not run.
#[derive(Default)]
struct Report {
    backend: &'static str,
    database: String,
    cores: usize,
    journeys: u64,
    waiting: u64,
    ingest_batch: usize,
    ingest_concurrency: usize,
    claim_batch: u64,
    delay_secs: u64,
    // journeys
    setup_contacts_secs: Option<f64>,
    start_phase_secs: Option<f64>,
    run_phase_secs: Option<f64>,
    node_steps: Option<u64>,
    node_steps_per_sec: Option<f64>,
    journeys_started_per_sec: Option<f64>,
    journeys_completed_per_sec: Option<f64>,
    p50_ms: Option<u32>,
    p99_ms: Option<u32>,
    max_ms: Option<u32>,
    lateness_samples: usize,
    messages_delivered: Option<u64>,
    // webhooks
    webhooks: u64,
    webhook_secs: Option<f64>,
    webhooks_per_sec: Option<f64>,
    /// p50 and p99 (ms) from a webhook being queued to its delivery being recorded.
    webhook_latency_ms: Option<(f64, f64)>,
    /// Committed transitions (2 a journey when nothing is stepped twice) and stale commits.
    transitions: Option<u64>,
    stale_commits: Option<u64>,
    /// CPU seconds the process used in the run phase, by thread group, and the busiest thread.
    cpu_secs: Option<f64>,
    /// p50, p99 (ms) and samples of a trivial writer job's latency while journeys start.
    writer_wait_ms: Option<(f64, f64, usize)>,
    cpu_by_group: Vec<(String, f64)>,
    busiest_thread: Option<(String, f64)>,
    // waiting
    waiting_create_secs: Option<f64>,
    waiting_created_per_sec: Option<f64>,
    rss_during_waiting_mb: Vec<f64>,
    rss_after_waiting_mb: Option<f64>,
    db_bytes: Option<u64>,
    db_bytes_per_waiting_run: Option<f64>,
    db_tables: Vec<(String, u64)>,
    peak_rss_workload_mb: Option<f64>,
    count_runs_by_status_ms: Option<f64>,
    rss_after_count_by_status_mb: Option<f64>,
    // HTTP ingestion
    http_events: u64,
    http_secs: Option<f64>,
    events_ingested_per_sec: Option<f64>,
    // both
    /// The process's peak resident set (VmHWM) at the end, the bench's checks included.
    peak_rss_mb: f64,
    /// Worker processes, and every process's peak resident set: (role, MB).
    workers: usize,
    processes: Vec<(String, f64)>,
}

pub fn bench(args: BenchArgs) -> anyhow::Result<bool> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KAIROS_LOG")
        .unwrap_or_else(|_| "warn,sqlx=error,sea_orm=error".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if args.breakdown {
        let parts = runtime.block_on(breakdown(&args))?;
        if args.json {
            println!("{}", Value::Object(parts.iter().map(|p| (p.key.to_string(), p.to_json())).collect()));
        } else {
            print_breakdown(&parts);
        }
        return Ok(true);
    }
    let report = runtime.block_on(run(&args))?;
    let met = targets(&report);
    if args.json {
        println!("{}", to_json(&report, &met));
    } else {
        print_table(&report, &met);
    }
    Ok(!args.check || met.iter().all(|t| t.ok))
}

async fn run(args: &BenchArgs) -> anyhow::Result<Report> {
    // Nothing named: the default table, journeys and a delivery row.
    let defaults =
        args.journeys.is_none() && args.waiting == 0 && args.webhooks.is_none() && args.http_events.is_none();
    let journeys = args.journeys.unwrap_or(if defaults { 100_000 } else { 0 });
    let webhooks = args.webhooks.unwrap_or(if defaults { 10_000 } else { 0 });
    let http_events = args.http_events.unwrap_or(0);
    if journeys == 0 && args.waiting == 0 && webhooks == 0 && http_events == 0 {
        bail!("nothing to do: give --journeys, --waiting, --webhooks or --http-events a number above 0");
    }
    if args.workers > 0 && (args.waiting > 0 || webhooks > 0) {
        bail!("--workers runs the journeys workload only: leave out --waiting and --webhooks");
    }
    if args.ingest_batch == 0 || args.claim_batch == 0 || args.ingest_concurrency == Some(0) {
        bail!("--ingest-batch, --ingest-concurrency and --claim-batch must be above 0");
    }
    let temp = match &args.database_url {
        Some(_) => None,
        None => {
            let dir = std::env::temp_dir().join(format!("kairos-bench-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            Some(TempDir { path: dir, keep: args.keep })
        }
    };
    let url = match (&args.database_url, &temp) {
        (Some(u), _) => u.clone(),
        (None, Some(t)) => format!("sqlite://{}/kairos.db", t.path.display()),
        (None, None) => unreachable!(),
    };
    let store = Store::connect(&url).await.with_context(|| format!("cannot open {url}"))?;
    let mut report = Report {
        backend: match store.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        },
        database: if temp.is_some() { format!("{url} (fresh, temporary)") } else { url.clone() },
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        journeys,
        waiting: args.waiting,
        webhooks,
        ingest_batch: args.ingest_batch,
        ingest_concurrency: ingest_concurrency(args, &store),
        claim_batch: args.claim_batch,
        delay_secs: args.delay_secs,
        http_events,
        workers: args.workers,
        ..Report::default()
    };
    if args.workers > 0 && store.backend() != Backend::Postgres {
        bail!("--workers needs a PostgreSQL --database-url: worker processes share one database");
    }
    if !store::count_runs_by_status(store.reader()).await?.is_empty()
        || store::count_messages(store.reader()).await? > 0
    {
        bail!("the database {url} has runs or messages already; give the bench a fresh one");
    }
    let config = Config { batch: args.claim_batch, ..Config::default() };
    let scheduler = Scheduler::new(store.clone(), Arc::new(SystemClock), config).await?;
    if journeys > 0 {
        publish(&scheduler, &journey_definition(args.delay_secs)).await?;
    }
    if args.waiting > 0 {
        publish(&scheduler, &waiting_definition()).await?;
    }
    let mut router = kairos_engine::delivery::Router::inbox();
    let receiver = if webhooks > 0 {
        let (url, count, handle) = start_receiver()?;
        publish(&scheduler, &webhook_definition(&url)).await?;
        let webhook = kairos_engine::delivery::Webhook::new(kairos_engine::delivery::WebhookConfig::default())
            .context("cannot build the webhook channel's HTTP client")?;
        router = router.route(kairos_engine::nodes::send::Channel::Webhook, Arc::new(webhook));
        Some((count, handle))
    } else {
        None
    };

    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    // The real background loops: here, or in worker processes.
    let (stop, shutdown) = watch::channel(false);
    let mut workers = Vec::new();
    let mut loops = Vec::new();
    if args.workers > 0 {
        let key = format!("sk_bench_{}", uuid::Uuid::new_v4().simple());
        for _ in 0..args.workers {
            workers.push(processes::Serve::start("worker", &url, &key, deadline).await?);
        }
    } else {
        let registry = Arc::new(kairos_engine::delivery::Registry::new(router, None, Default::default()));
        loops.push(tokio::spawn(scheduler.clone().run_loop(shutdown.clone())));
        loops.push(tokio::spawn(scheduler.clone().dispatch_loop(registry, shutdown)));
    }

    let outcome = async {
        if args.waiting > 0 {
            bench_waiting(&scheduler, args, &mut report, deadline).await?;
        }
        if journeys > 0 {
            bench_journeys(&scheduler, args, journeys, &mut report, deadline, &workers).await?;
        }
        if http_events > 0 {
            let r = processes::http_ingest(&url, http_events, deadline).await?;
            let stored = count_events(&store, "bench_viewed").await?;
            if stored != r.events {
                bail!("{} events were posted over HTTP but {stored} were stored", r.events);
            }
            report.http_secs = Some(r.secs);
            report.events_ingested_per_sec = Some(r.events as f64 / r.secs);
            report.processes.extend(r.api_peak_rss_mb.map(|mb| ("api".to_string(), mb)));
        }
        if let Some((count, _)) = &receiver {
            bench_webhooks(&scheduler, args, count, &mut report, deadline).await?;
        }
        anyhow::Ok(())
    }
    .await;
    let _ = stop.send(true);
    for l in loops {
        let _ = l.await;
    }
    if let Some((_, handle)) = receiver {
        handle.stop(false).await;
    }
    outcome?;

    if args.waiting > 0 {
        let bytes = database_bytes(&store, &url).await?;
        report.db_bytes = bytes.total;
        report.db_bytes_per_waiting_run = bytes.total.map(|b| b as f64 / args.waiting as f64);
        report.db_tables = bytes.tables;
    }
    report.peak_rss_mb = proc_status_mb("VmHWM").unwrap_or(0.0);
    for w in &workers {
        report.processes.push((w.role.to_string(), w.peak_rss_mb().unwrap_or(0.0)));
    }
    drop(workers);
    report.processes.insert(0, ("bench".to_string(), report.peak_rss_mb));
    if let Some(t) = &temp
        && t.keep
    {
        eprintln!("The database is kept at {}", t.path.display());
    }
    drop(temp);
    Ok(report)
}

/// A temporary directory, removed on drop unless kept.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

async fn publish(scheduler: &Arc<Scheduler>, text: &str) -> anyhow::Result<()> {
    let journey = kairos_engine::validate(text).map_err(|p| anyhow!("the bench journey is invalid: {p:?}"))?;
    let wf = journey.workflow().clone();
    let doc: Value = serde_json::from_str(text)?;
    let now = scheduler.now();
    let created = scheduler
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                if store::create_workflow(tx, &wf.id, &wf.name, &doc, now).await?.is_none() {
                    return Ok(false);
                }
                store::publish(tx, &wf.id, &wf.to_canonical(), now).await?;
                Ok(true)
            })
        })
        .await?;
    if !created {
        bail!("the database has a workflow `{}` already; give the bench a fresh one", journey.id());
    }
    scheduler.reload_live().await?;
    Ok(())
}

fn event(name: &str, key: &str, now: chrono::DateTime<chrono::Utc>) -> Event {
    let mut e = Event::new(name, now).with_property("source", "bench");
    e.message_id = Some(key.to_string());
    e
}

/// `--ingest-concurrency`, or the default for the database.
fn ingest_concurrency(args: &BenchArgs, store: &Store) -> usize {
    args.ingest_concurrency.unwrap_or(match store.backend() {
        Backend::Postgres => 4,
        Backend::Sqlite => 1,
    })
}

/// Ingest `n` events from contacts `{prefix}{i}`, `batch` per call and up to `concurrency`
/// calls at once (as several API processes or clients would); returns each call's duration.
/// `after_batch` is told how many events are in, as calls finish.
#[allow(clippy::too_many_arguments)]
async fn ingest_all(
    scheduler: &Arc<Scheduler>,
    name: &str,
    prefix: &str,
    n: u64,
    batch: usize,
    concurrency: usize,
    deadline: Instant,
    mut after_batch: impl FnMut(u64),
) -> anyhow::Result<Vec<Duration>> {
    let mut calls = Vec::with_capacity(n as usize / batch + 1);
    let mut in_flight = tokio::task::JoinSet::new();
    let (mut next, mut done) = (0u64, 0u64);
    while done < n {
        while next < n && in_flight.len() < concurrency.max(1) {
            let end = (next + batch as u64).min(n);
            let now = scheduler.now();
            let events: Vec<Incoming> = (next..end)
                .map(|k| Incoming {
                    contact_id: format!("{prefix}{k}"),
                    event: event(name, &format!("{prefix}{k}"), now),
                })
                .collect();
            let scheduler = scheduler.clone();
            in_flight.spawn(async move {
                let t = Instant::now();
                let results = scheduler.ingest(events).await?;
                let started: usize = results.iter().map(|r| r.started.len()).sum();
                anyhow::Ok((t.elapsed(), results.len(), started))
            });
            next = end;
        }
        let Ok(joined) =
            tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), in_flight.join_next()).await
        else {
            bail!("timed out while ingesting: {done} of {n} `{name}` events ingested");
        };
        let Some(joined) = joined else { break };
        let (took, events, started) = joined.context("an ingest call panicked")??;
        if started != events {
            bail!("{} of {events} `{name}` events started no run", events - started);
        }
        calls.push(took);
        done += events as u64;
        after_batch(done);
    }
    Ok(calls)
}

/// Start `--webhooks` runs that each send one webhook, and wait until the receiver has
/// them all and the outbox is empty.
async fn bench_webhooks(
    scheduler: &Arc<Scheduler>,
    args: &BenchArgs,
    received: &std::sync::atomic::AtomicU64,
    report: &mut Report,
    deadline: Instant,
) -> anyhow::Result<()> {
    let n = report.webhooks;
    let t = Instant::now();
    ingest_all(
        scheduler,
        WEBHOOK_EVENT,
        "hook-",
        n,
        args.ingest_batch,
        ingest_concurrency(args, scheduler.store()),
        deadline,
        |_| {},
    )
    .await?;
    let reader = scheduler.store().reader();
    while received.load(Ordering::Relaxed) < n || store::outbox_backlog(reader).await? > 0 {
        if Instant::now() > deadline {
            bail!("timed out delivering webhooks: {} of {n} received", received.load(Ordering::Relaxed));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    report.webhook_secs = Some(secs);
    report.webhooks_per_sec = Some(n as f64 / secs);
    let backend = reader.get_database_backend();
    let sql = "SELECT sent_at - created_at AS d FROM outbox WHERE channel = 'webhook' AND status = 'sent'";
    let mut ms: Vec<i64> = Vec::with_capacity(n as usize);
    for row in reader.query_all(Statement::from_string(backend, sql)).await? {
        ms.push(row.try_get("", "d")?);
    }
    if (ms.len() as u64) < n {
        bail!("{} of {n} webhooks were not delivered (see GET /v1/outbox?status=failed)", n - ms.len() as u64);
    }
    ms.sort_unstable();
    let at = |p: f64| ms[((p / 100.0) * (ms.len() - 1) as f64).round() as usize] as f64;
    report.webhook_latency_ms = Some((at(50.0), at(99.0)));
    Ok(())
}

async fn bench_waiting(
    scheduler: &Arc<Scheduler>,
    args: &BenchArgs,
    report: &mut Report,
    deadline: Instant,
) -> anyhow::Result<()> {
    let n = args.waiting;
    let every = (n / 10).max(1);
    let mut samples = Vec::new();
    let mut next_sample = every;
    let mut last_progress = Instant::now();
    let t0 = Instant::now();
    ingest_all(
        scheduler,
        WAITING_EVENT,
        "w",
        n,
        args.ingest_batch,
        ingest_concurrency(args, scheduler.store()),
        deadline,
        |done| {
            if done >= next_sample || done == n {
                samples.push(proc_status_mb("VmRSS").unwrap_or(0.0));
                next_sample += every;
            }
            if last_progress.elapsed() >= Duration::from_secs(10) {
                last_progress = Instant::now();
                eprintln!(
                    "bench: {done} of {n} waiting runs created ({:.0}/s), RSS {:.0} MB",
                    done as f64 / t0.elapsed().as_secs_f64(),
                    proc_status_mb("VmRSS").unwrap_or(0.0)
                );
            }
        },
    )
    .await?;
    let secs = t0.elapsed().as_secs_f64();
    report.waiting_create_secs = Some(secs);
    report.waiting_created_per_sec = Some(n as f64 / secs);
    report.rss_during_waiting_mb = samples;
    report.rss_after_waiting_mb = proc_status_mb("VmRSS");
    // The peak of the scheduler and ingestion, before the bench's own checks below.
    report.peak_rss_workload_mb = proc_status_mb("VmHWM");

    // Check that they all wait, with a count the (workflow_id, status) index covers.
    let waiting = count_waiting(scheduler.store(), "bench-waiting").await?;
    if waiting < n {
        bail!("{waiting} runs of bench-waiting are waiting, expected {n}");
    }
    // What `/metrics` does (runs by status): how long it takes and what it costs in memory
    // on this many runs.
    let t = Instant::now();
    store::count_runs_by_status(scheduler.store().reader()).await?;
    report.count_runs_by_status_ms = Some(t.elapsed().as_secs_f64() * 1000.0);
    report.rss_after_count_by_status_mb = proc_status_mb("VmRSS");
    Ok(())
}

async fn count_waiting(store: &Store, workflow: &str) -> anyhow::Result<u64> {
    let backend = store.reader().get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM runs WHERE workflow_id = $1 AND status = 'waiting'"
        }
        _ => "SELECT COUNT(*) AS n FROM runs WHERE workflow_id = ? AND status = 'waiting'",
    };
    let row = store.reader().query_one(Statement::from_sql_and_values(backend, sql, [workflow.into()])).await?;
    Ok(row.and_then(|r| r.try_get::<i64>("", "n").ok()).unwrap_or(0) as u64)
}

async fn bench_journeys(
    scheduler: &Arc<Scheduler>,
    args: &BenchArgs,
    n: u64,
    report: &mut Report,
    deadline: Instant,
    workers: &[processes::Serve],
) -> anyhow::Result<()> {
    // Contacts with an email address and a plan (half pro, half free), before the clock starts.
    let t = Instant::now();
    create_contacts(scheduler, n).await?;
    analyze(scheduler.store()).await?;
    report.setup_contacts_secs = Some(t.elapsed().as_secs_f64());

    let m = &scheduler.metrics;
    m.reset_lateness();
    let client = reqwest::Client::new();
    let c0 = Counters::read(scheduler, workers, &client).await?;
    let started0 = m.runs_started.load(Ordering::Relaxed);
    let completed0 = count_status(scheduler, "completed").await?;
    let messages0 = store::count_messages(scheduler.store().reader()).await?;

    let cpu0 = thread_cpu();
    // A probe: how long a trivial writer job (like a claim) waits, every 100 ms.
    let (probe_stop, probe_rx) = watch::channel(false);
    let probe = tokio::spawn(writer_probe(scheduler.store().clone(), probe_rx));
    let t0 = Instant::now();
    let mut last_progress = Instant::now();
    let calls = ingest_all(
        scheduler,
        JOURNEY_EVENT,
        "j",
        n,
        args.ingest_batch,
        ingest_concurrency(args, scheduler.store()),
        deadline,
        |done| {
            if last_progress.elapsed() >= Duration::from_secs(5) {
                last_progress = Instant::now();
                eprintln!(
                    "bench: {done} of {n} journeys started ({:.0}/s); {} messages delivered",
                    done as f64 / t0.elapsed().as_secs_f64(),
                    m.messages_delivered.load(Ordering::Relaxed)
                );
            }
        },
    )
    .await?;
    let start_secs = t0.elapsed().as_secs_f64();
    let _ = probe_stop.send(true);
    let mut waits = probe.await.unwrap_or_default();
    waits.sort_by(f64::total_cmp);
    let pct = |p: f64| waits.get(((p / 100.0) * (waits.len().max(1) - 1) as f64).round() as usize).copied();
    report.writer_wait_ms = Some((pct(50.0).unwrap_or(0.0), pct(99.0).unwrap_or(0.0), waits.len()));
    if let Some(slowest) = calls.iter().max() {
        let mean = calls.iter().sum::<Duration>().as_secs_f64() / calls.len() as f64;
        eprintln!(
            "bench: {n} journeys started in {start_secs:.1}s; ingest call of {} events: mean {:.0} ms, slowest {:.0} ms",
            args.ingest_batch,
            mean * 1000.0,
            slowest.as_secs_f64() * 1000.0
        );
    }

    // Until every run has completed and every message is delivered.
    let (steps_goal, messages_goal) = (n * STEPS_PER_JOURNEY, n * MESSAGES_PER_JOURNEY);
    let end = loop {
        let c = Counters::read(scheduler, workers, &client).await?;
        let (steps, delivered) = (c.steps - c0.steps, c.delivered - c0.delivered);
        let now = Instant::now();
        if steps >= steps_goal && delivered >= messages_goal {
            // Confirm in the store (the counters say so; the rows must too).
            let completed = count_status(scheduler, "completed").await? - completed0;
            let messages = store::count_messages(scheduler.store().reader()).await? - messages0;
            if completed >= n && messages >= messages_goal {
                break now;
            }
        }
        if now > deadline {
            let completed = count_status(scheduler, "completed").await? - completed0;
            let messages = store::count_messages(scheduler.store().reader()).await? - messages0;
            bail!(
                "timed out after {}s: {} of {n} runs started, {completed} of {n} completed, {steps} of {steps_goal} node steps, {messages} of {messages_goal} messages delivered",
                args.timeout_secs,
                m.runs_started.load(Ordering::Relaxed) - started0,
            );
        }
        if last_progress.elapsed() >= Duration::from_secs(5) {
            last_progress = Instant::now();
            eprintln!(
                "bench: {:.0}s: {steps} of {steps_goal} node steps, {delivered} of {messages_goal} messages delivered",
                t0.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(if workers.is_empty() { 10 } else { 100 })).await;
    };
    let secs = (end - t0).as_secs_f64();
    if workers.is_empty() {
        let (groups, busiest) = cpu_delta(&cpu0, &thread_cpu());
        report.cpu_secs = Some(groups.iter().map(|g| g.1).sum());
        report.cpu_by_group = groups;
        report.busiest_thread = Some(busiest);
    }
    let c = Counters::read(scheduler, workers, &client).await?;
    let steps = c.steps - c0.steps;
    report.transitions = Some(c.transitions - c0.transitions);
    report.stale_commits = Some(c.stale - c0.stale);
    report.start_phase_secs = Some(start_secs);
    report.run_phase_secs = Some(secs);
    report.node_steps = Some(steps);
    report.node_steps_per_sec = Some(steps as f64 / secs);
    report.journeys_started_per_sec = Some(n as f64 / start_secs);
    report.journeys_completed_per_sec = Some(n as f64 / secs);
    if workers.is_empty() {
        let (values, samples) = m.lateness_percentiles(&[50.0, 99.0, 100.0]);
        (report.p50_ms, report.p99_ms, report.max_ms) = (values[0], values[1], values[2]);
        report.lateness_samples = samples;
    } else {
        // Per worker; the table shows the worst worker's.
        report.p50_ms = c.lateness.iter().map(|l| l.0).max();
        report.p99_ms = c.lateness.iter().map(|l| l.1).max();
        report.max_ms = c.lateness.iter().map(|l| l.2).max();
        report.lateness_samples = c.lateness.iter().map(|l| l.3).sum();
    }
    report.messages_delivered = Some(store::count_messages(scheduler.store().reader()).await? - messages0);
    Ok(())
}

/// The scheduler's counters, of this process or summed over the worker processes.
struct Counters {
    steps: u64,
    delivered: u64,
    transitions: u64,
    stale: u64,
    /// Per worker: resume lateness p50, p99, max (ms) and samples.
    lateness: Vec<(u32, u32, u32, usize)>,
}

impl Counters {
    async fn read(
        scheduler: &Arc<Scheduler>,
        workers: &[processes::Serve],
        client: &reqwest::Client,
    ) -> anyhow::Result<Counters> {
        if workers.is_empty() {
            let m = &scheduler.metrics;
            return Ok(Counters {
                steps: m.node_steps.load(Ordering::Relaxed),
                delivered: m.messages_delivered.load(Ordering::Relaxed),
                transitions: m.transitions.load(Ordering::Relaxed),
                stale: m.stale_commits.load(Ordering::Relaxed),
                lateness: Vec::new(),
            });
        }
        // The runs' first steps happen here, as the events that start them are ingested.
        let m = &scheduler.metrics;
        let mut c = Counters {
            steps: m.node_steps.load(Ordering::Relaxed),
            delivered: m.messages_delivered.load(Ordering::Relaxed),
            transitions: m.transitions.load(Ordering::Relaxed),
            stale: m.stale_commits.load(Ordering::Relaxed),
            lateness: Vec::new(),
        };
        for w in workers {
            let m = w.metrics(client).await.context("cannot read a worker's /metrics")?;
            let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
            c.steps += get("kairos_node_steps_total") as u64;
            c.delivered += get("kairos_messages_delivered_total") as u64;
            c.transitions += get("kairos_transitions_total") as u64;
            c.stale += get("kairos_stale_commits_total") as u64;
            c.lateness.push((
                get("kairos_resume_lateness_ms{quantile=\"0.5\"}") as u32,
                get("kairos_resume_lateness_ms{quantile=\"0.99\"}") as u32,
                get("kairos_resume_lateness_ms{quantile=\"1\"}") as u32,
                get("kairos_resume_lateness_ms_count") as usize,
            ));
        }
        Ok(c)
    }
}

/// Stored events called `name`.
async fn count_events(store: &Store, name: &str) -> anyhow::Result<u64> {
    let backend = store.reader().get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "SELECT COUNT(*) AS n FROM events WHERE name = $1",
        _ => "SELECT COUNT(*) AS n FROM events WHERE name = ?",
    };
    let row = store
        .reader()
        .query_one(Statement::from_sql_and_values(backend, sql, [name.into()]))
        .await?
        .ok_or_else(|| anyhow!("COUNT(*) returned no row"))?;
    Ok(row.try_get::<i64>("", "n")? as u64)
}

/// Latencies (ms) of a trivial writer job submitted every 100 ms until `stop`.
async fn writer_probe(store: Store, mut stop: watch::Receiver<bool>) -> Vec<f64> {
    let mut out = Vec::new();
    while !*stop.borrow() {
        let t = Instant::now();
        if store.writer().run(|_| Box::pin(async { Ok(()) })).await.is_ok() {
            out.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.changed() => {}
        }
    }
    out
}

async fn count_status(scheduler: &Arc<Scheduler>, status: &str) -> anyhow::Result<u64> {
    let by_status = scheduler.runs_by_status().await?;
    Ok(by_status.iter().find(|(s, _)| s == status).map_or(0, |(_, c)| *c) as u64)
}

async fn create_contacts(scheduler: &Arc<Scheduler>, n: u64) -> anyhow::Result<()> {
    let now = SystemClock.now();
    // 1,000 contacts a transaction, four transactions at once (PostgreSQL runs them side
    // by side; SQLite's writer one after another).
    let mut in_flight = tokio::task::JoinSet::new();
    let mut i = 0;
    while i < n || !in_flight.is_empty() {
        while i < n && in_flight.len() < 4 {
            let end = (i + 1000).min(n);
            let scheduler = scheduler.clone();
            in_flight.spawn(async move {
                scheduler
                    .store()
                    .writer()
                    .run(move |tx| {
                        Box::pin(async move {
                            for k in i..end {
                                let mut attributes = Map::new();
                                attributes.insert("email".into(), format!("j{k}@example.com").into());
                                attributes.insert("first_name".into(), format!("Contact {k}").into());
                                attributes.insert("plan".into(), if k % 2 == 0 { "pro" } else { "free" }.into());
                                store::upsert_contact(
                                    tx,
                                    &format!("j{k}"),
                                    attributes,
                                    None,
                                    store::Merge::Merge,
                                    "bench",
                                    now,
                                )
                                .await?;
                            }
                            Ok(())
                        })
                    })
                    .await
            });
            i = end;
        }
        if let Some(joined) = in_flight.join_next().await {
            joined.context("creating contacts panicked")??;
        }
    }
    Ok(())
}

/// On PostgreSQL, fresh planner statistics for the tables the setup filled: the bench's
/// database is new, and until autovacuum first analyzes a table the planner guesses its
/// contents (a query for 500 contacts' runs then took seconds instead of a millisecond).
/// Warns when autovacuum is off: statistics then never follow the tables as they grow.
async fn analyze(store: &Store) -> anyhow::Result<()> {
    if store.backend() != Backend::Postgres {
        return Ok(());
    }
    let db = store.reader();
    let backend = db.get_database_backend();
    let on = db
        .query_one(Statement::from_string(backend, "SHOW autovacuum"))
        .await?
        .and_then(|r| r.try_get::<String>("", "autovacuum").ok());
    if on.as_deref() != Some("on") {
        eprintln!(
            "bench: warning: PostgreSQL's autovacuum is off, so the planner's statistics do not follow the \
             tables as they grow and the figures are not what a configured server shows (docs/performance.md)"
        );
    }
    db.execute(Statement::from_string(backend, "ANALYZE")).await?;
    Ok(())
}

struct DbBytes {
    total: Option<u64>,
    tables: Vec<(String, u64)>,
}

/// The database's size: for SQLite the file plus its WAL after a checkpoint, with a
/// per-table breakdown when SQLite has `dbstat`; for PostgreSQL `pg_database_size`.
async fn database_bytes(store: &Store, url: &str) -> anyhow::Result<DbBytes> {
    match store.backend() {
        Backend::Postgres => {
            let row = store
                .reader()
                .query_one(Statement::from_string(
                    sea_orm::DatabaseBackend::Postgres,
                    "SELECT pg_database_size(current_database()) AS n",
                ))
                .await?;
            let total = row.and_then(|r| r.try_get::<i64>("", "n").ok()).map(|n| n as u64);
            Ok(DbBytes { total, tables: vec![] })
        }
        Backend::Sqlite => {
            let path = sqlite_path(url).ok_or_else(|| anyhow!("cannot tell the database file from {url}"))?;
            // A separate connection: the store's writer always holds a transaction open
            // while it runs a job, and a checkpoint needs none to be open.
            let conn = sea_orm::Database::connect(url).await?;
            let sqlite = sea_orm::DatabaseBackend::Sqlite;
            conn.execute(Statement::from_string(sqlite, "PRAGMA wal_checkpoint(TRUNCATE)")).await?;
            let mut tables = Vec::new();
            if let Ok(rows) = conn
                .query_all(Statement::from_string(
                    sqlite,
                    "SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC",
                ))
                .await
            {
                for r in rows {
                    if let (Ok(name), Ok(bytes)) = (r.try_get::<String>("", "name"), r.try_get::<i64>("", "bytes")) {
                        tables.push((name, bytes as u64));
                    }
                }
            }
            conn.close().await?;
            let size = |p: &PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
            let mut wal = path.clone().into_os_string();
            wal.push("-wal");
            let total = size(&path) + size(&PathBuf::from(wal));
            Ok(DbBytes { total: Some(total), tables })
        }
    }
}

fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let rest = rest.split('?').next()?;
    (!rest.is_empty() && !rest.contains(":memory:")).then(|| PathBuf::from(rest))
}

/// A `kB` line of `/proc/self/status` (`VmHWM`: peak resident set; `VmRSS`: now), in MB.
fn proc_status_mb(key: &str) -> Option<f64> {
    status_mb("/proc/self/status", key)
}

/// A `kB` figure of a `/proc/<pid>/status` file, in MB.
fn status_mb(path: &str, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))?;
    let kb: f64 = line[key.len() + 1..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU time so far of each live thread of this process: tid → (name, seconds).
fn thread_cpu() -> std::collections::HashMap<String, (String, f64)> {
    let mut out = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return out };
    for entry in dir.flatten() {
        let path = entry.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default().trim().to_string();
        // schedstat: time on the CPU (ns), time waiting to run (ns), timeslices.
        let Ok(stat) = std::fs::read_to_string(path.join("schedstat")) else { continue };
        let ns: f64 = stat.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        out.insert(entry.file_name().to_string_lossy().to_string(), (name, ns / 1e9));
    }
    out
}

/// CPU seconds between two snapshots, by thread group, and the busiest single thread.
fn cpu_delta(
    before: &std::collections::HashMap<String, (String, f64)>,
    after: &std::collections::HashMap<String, (String, f64)>,
) -> (Vec<(String, f64)>, (String, f64)) {
    let mut groups: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    let mut busiest = (String::new(), 0.0);
    for (tid, (name, secs)) in after {
        let d = secs - before.get(tid).map_or(0.0, |b| b.1);
        let group = if name.starts_with("sqlx-sqlite") {
            "sqlite connection threads"
        } else if name.starts_with("tokio") {
            "tokio workers"
        } else {
            "other"
        };
        *groups.entry(group.to_string()).or_default() += d;
        if d > busiest.1 {
            busiest = (format!("{name} ({tid})"), d);
        }
    }
    (groups.into_iter().collect(), busiest)
}

struct Target {
    key: &'static str,
    goal: String,
    ok: bool,
}

fn targets(r: &Report) -> Vec<Target> {
    let mut out = Vec::new();
    if let Some(v) = r.node_steps_per_sec {
        out.push(Target {
            key: "node_steps_per_sec",
            goal: format!("≥ {}", thousands(TARGET_NODE_STEPS_PER_SEC)),
            ok: v >= TARGET_NODE_STEPS_PER_SEC,
        });
    }
    if r.journeys > 0 {
        out.push(Target {
            key: "resume_lateness_p99_ms",
            goal: format!("< {}", thousands(TARGET_P99_LATENESS_MS)),
            ok: r.p99_ms.is_some_and(|p| f64::from(p) < TARGET_P99_LATENESS_MS),
        });
    }
    if let Some(v) = r.events_ingested_per_sec {
        out.push(Target {
            key: "events_ingested_per_sec",
            goal: format!("≥ {}", thousands(TARGET_HTTP_EVENTS_PER_SEC)),
            ok: v >= TARGET_HTTP_EVENTS_PER_SEC,
        });
    }
    if r.waiting > 0 {
        out.push(Target {
            key: "peak_rss_waiting_mb",
            goal: format!("< {TARGET_WAITING_RSS_MB:.0}"),
            ok: r.peak_rss_workload_mb.unwrap_or(r.peak_rss_mb) < TARGET_WAITING_RSS_MB,
        });
    }
    out
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn to_json(r: &Report, targets: &[Target]) -> Value {
    let f = |v: Option<f64>| v.map(round1);
    let mut out = json!({
        "journeys": r.journeys,
        "waiting": r.waiting,
        "database": r.backend,
        "database_url": r.database,
        "cores": r.cores,
        "ingest_batch": r.ingest_batch,
        "ingest_concurrency": r.ingest_concurrency,
        "claim_batch": r.claim_batch,
        "delay_secs": r.delay_secs,
        "node_steps": r.node_steps,
        "node_steps_per_sec": f(r.node_steps_per_sec),
        "journeys_started_per_sec": f(r.journeys_started_per_sec),
        "journeys_completed_per_sec": f(r.journeys_completed_per_sec),
        "resume_lateness_p50_ms": r.p50_ms,
        "resume_lateness_p99_ms": r.p99_ms,
        "resume_lateness_max_ms": r.max_ms,
        "resume_lateness_samples": r.lateness_samples,
        "messages_delivered": r.messages_delivered,
        "webhooks": r.webhooks,
        "webhook_messages_per_sec": f(r.webhooks_per_sec),
        "webhook_latency_p50_ms": r.webhook_latency_ms.map(|l| round1(l.0)),
        "webhook_latency_p99_ms": r.webhook_latency_ms.map(|l| round1(l.1)),
        "transitions": r.transitions,
        "stale_commits": r.stale_commits,
        "workers": r.workers,
        "http_events": r.http_events,
        "http_batch": processes::HTTP_BATCH,
        "events_ingested_per_sec": f(r.events_ingested_per_sec),
        "processes": r.processes.iter().map(|(role, mb)| json!({"role": role, "peak_rss_mb": round1(*mb)})).collect::<Vec<_>>(),
    });
    let more = json!({
        "run_phase_cpu_secs": f(r.cpu_secs),
        "writer_job_wait_p50_ms": r.writer_wait_ms.map(|w| round1(w.0)),
        "writer_job_wait_p99_ms": r.writer_wait_ms.map(|w| round1(w.1)),
        "run_phase_cpu_secs_by_thread_group": r.cpu_by_group.iter().map(|(g, v)| (g.clone(), json!(round1(*v)))).collect::<Map<_, _>>(),
        "run_phase_busiest_thread": r.busiest_thread.as_ref().map(|(n, v)| json!({"thread": n, "cpu_secs": round1(*v)})),
        "setup_contacts_secs": f(r.setup_contacts_secs),
        "start_phase_secs": f(r.start_phase_secs),
        "run_phase_secs": f(r.run_phase_secs),
        "waiting_create_secs": f(r.waiting_create_secs),
        "waiting_created_per_sec": f(r.waiting_created_per_sec),
        "rss_during_waiting_mb": r.rss_during_waiting_mb.iter().map(|v| round1(*v)).collect::<Vec<_>>(),
        "rss_after_waiting_mb": f(r.rss_after_waiting_mb),
        "peak_rss_mb": round1(r.peak_rss_mb),
        "peak_rss_waiting_mb": f(r.peak_rss_workload_mb),
        "count_runs_by_status_ms": f(r.count_runs_by_status_ms),
        "rss_after_count_runs_by_status_mb": f(r.rss_after_count_by_status_mb),
        "db_bytes": r.db_bytes,
        "db_bytes_per_waiting_run": f(r.db_bytes_per_waiting_run),
        "db_bytes_by_table": r.db_tables.iter().map(|(n, b)| (n.clone(), json!(b))).collect::<Map<_, _>>(),
        "targets": targets.iter().map(|t| (t.key.to_string(), json!({"goal": t.goal, "met": t.ok}))).collect::<Map<_, _>>(),
        "targets_met": targets.iter().all(|t| t.ok),
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut out, more) {
        a.extend(b);
    }
    out
}

fn thousands(v: f64) -> String {
    let whole = v.round() as i64;
    let s = whole.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if whole < 0 { format!("-{out}") } else { out }
}

fn print_table(r: &Report, targets: &[Target]) {
    let dash = || "—".to_string();
    let num = |v: Option<f64>| v.map_or_else(dash, thousands);
    let secs = |v: Option<f64>| v.map_or_else(dash, |s| format!("{s:.1} s"));
    let ms = |v: Option<u32>| v.map_or_else(dash, |v| format!("{} ms", thousands(f64::from(v))));
    let target = |key: &str| {
        targets
            .iter()
            .find(|t| t.key == key)
            .map_or_else(String::new, |t| format!("{}  {}", t.goal, if t.ok { "✓" } else { "✗" }))
    };
    let mut rows: Vec<(&str, String, String)> = vec![
        ("journeys", thousands(r.journeys as f64), String::new()),
        ("waiting", thousands(r.waiting as f64), String::new()),
        ("webhooks", thousands(r.webhooks as f64), String::new()),
        ("database", r.backend.to_string(), String::new()),
        (
            "workers",
            if r.workers == 0 { "this process".to_string() } else { format!("{} processes", r.workers) },
            String::new(),
        ),
        ("cores", r.cores.to_string(), String::new()),
        (
            "ingest batch × at once / claim batch",
            format!("{} × {} / {}", r.ingest_batch, r.ingest_concurrency, r.claim_batch),
            String::new(),
        ),
    ];
    if r.journeys > 0 {
        rows.extend([
            ("setup (contacts)", secs(r.setup_contacts_secs), String::new()),
            ("start phase", secs(r.start_phase_secs), String::new()),
            ("run phase", secs(r.run_phase_secs), String::new()),
            ("node_steps", num(r.node_steps.map(|v| v as f64)), String::new()),
            ("node_steps_per_sec", num(r.node_steps_per_sec), target("node_steps_per_sec")),
            ("journeys_started_per_sec", num(r.journeys_started_per_sec), String::new()),
            ("journeys_completed_per_sec", num(r.journeys_completed_per_sec), String::new()),
            ("resume_lateness_p50_ms", ms(r.p50_ms), String::new()),
            ("resume_lateness_p99_ms", ms(r.p99_ms), target("resume_lateness_p99_ms")),
            ("resume_lateness_max_ms", ms(r.max_ms), String::new()),
            ("messages_delivered", num(r.messages_delivered.map(|v| v as f64)), String::new()),
            (
                "transitions / stale commits",
                format!("{} / {}", num(r.transitions.map(|v| v as f64)), num(r.stale_commits.map(|v| v as f64))),
                String::new(),
            ),
        ]);
        if let (Some(cpu), Some(wall)) = (r.cpu_secs, r.run_phase_secs) {
            let groups = r.cpu_by_group.iter().map(|(g, v)| format!("{g} {v:.1}")).collect::<Vec<_>>().join(", ");
            rows.push(("run phase CPU", format!("{cpu:.1} s ({:.2} cores)", cpu / wall), groups));
            if let Some((p50, p99, n)) = r.writer_wait_ms {
                rows.push((
                    "writer job wait while starting",
                    format!("p50 {p50:.0} ms, p99 {p99:.0} ms"),
                    format!("an empty writer job, {n} probes"),
                ));
            }
            if let Some((name, v)) = &r.busiest_thread {
                rows.push(("busiest thread", format!("{:.0}% of wall", v / wall * 100.0), name.clone()));
            }
        }
    }
    if r.waiting > 0 {
        let during = r.rss_during_waiting_mb.iter().map(|v| format!("{v:.0}")).collect::<Vec<_>>().join(" ");
        rows.extend([
            ("waiting runs created in", secs(r.waiting_create_secs), String::new()),
            ("waiting runs created per sec", num(r.waiting_created_per_sec), String::new()),
            ("RSS while creating (MB)", during, String::new()),
            ("RSS after creating", r.rss_after_waiting_mb.map_or_else(dash, |v| format!("{v:.0} MB")), String::new()),
            (
                "peak_rss_waiting_mb",
                r.peak_rss_workload_mb.map_or_else(dash, |v| format!("{v:.0} MB")),
                target("peak_rss_waiting_mb"),
            ),
            (
                "count_runs_by_status (/metrics)",
                r.count_runs_by_status_ms.map_or_else(dash, |v| format!("{} ms", thousands(v))),
                String::new(),
            ),
            (
                "RSS after count_runs_by_status",
                r.rss_after_count_by_status_mb.map_or_else(dash, |v| format!("{v:.0} MB")),
                String::new(),
            ),
            ("db_bytes (after checkpoint)", num(r.db_bytes.map(|v| v as f64)), String::new()),
            ("db_bytes_per_waiting_run", num(r.db_bytes_per_waiting_run), String::new()),
        ]);
    }
    if r.webhooks > 0 {
        rows.extend([
            ("webhooks delivered in", secs(r.webhook_secs), String::new()),
            ("webhook_messages_per_sec", num(r.webhooks_per_sec), "over HTTP to 127.0.0.1".to_string()),
            (
                "webhook latency p50 / p99",
                r.webhook_latency_ms.map_or_else(dash, |(p50, p99)| format!("{p50:.0} ms / {p99:.0} ms")),
                "queued → delivered".to_string(),
            ),
        ]);
    }
    if r.http_events > 0 {
        rows.extend([
            ("http events ingested in", secs(r.http_secs), String::new()),
            (
                "events_ingested_per_sec",
                num(r.events_ingested_per_sec),
                format!("{}  (POST /v1/batch, {} a call)", target("events_ingested_per_sec"), processes::HTTP_BATCH),
            ),
        ]);
    }
    rows.push(("peak_rss_mb (whole bench)", format!("{:.0} MB", r.peak_rss_mb), String::new()));
    for (role, mb) in r.processes.iter().skip(1) {
        rows.push(("peak_rss_mb", format!("{mb:.0} MB"), format!("a `{role}` process")));
    }
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    println!("kairos bench — {}", r.database);
    if r.journeys > 0 {
        println!("journey: trigger → send → delay {}s → branch → send → exit", r.delay_secs);
    }
    println!();
    println!("{:<w0$}  {:>w1$}  target", "metric", "value");
    for (k, v, t) in &rows {
        println!("{k:<w0$}  {v:>w1$}  {t}");
    }
    if !r.db_tables.is_empty() {
        println!();
        println!("database bytes by table/index (per waiting run):");
        for (name, bytes) in r.db_tables.iter().take(12) {
            println!("  {name:<32} {:>14}  {:>8.1}", thousands(*bytes as f64), *bytes as f64 / r.waiting.max(1) as f64);
        }
    }
    println!();
    println!(
        "targets: {}",
        if targets.iter().all(|t| t.ok) { "all met ✓" } else { "missed ✗ (see the rows marked ✗)" }
    );
}

// ----- Breakdown -----

/// One timed part: `total` over `count` items.
struct Part {
    key: &'static str,
    what: String,
    total: Duration,
    count: u64,
}

impl Part {
    fn per_item_us(&self) -> f64 {
        self.total.as_secs_f64() * 1e6 / self.count.max(1) as f64
    }

    fn to_json(&self) -> Value {
        json!({ "what": self.what, "total_ms": round1(self.total.as_secs_f64() * 1000.0), "count": self.count,
                "us_per_item": round1(self.per_item_us()) })
    }
}

/// Time each part of the hot paths with the public store functions, the way the
/// scheduler calls them (`Scheduler::ingest`, `step_claimed`, `dispatch_due`), alone on
/// the database (no background loops, no concurrent work).
async fn breakdown(args: &BenchArgs) -> anyhow::Result<Vec<Part>> {
    use kairos_engine::run::Input;
    use kairos_engine::store::entity::contact;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let n = args.journeys.unwrap_or(20_000);
    let dir = std::env::temp_dir().join(format!("kairos-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let temp = TempDir { path: dir, keep: args.keep };
    let url = format!("sqlite://{}/kairos.db", temp.path.display());
    let store = Store::connect(&url).await?;
    let config = Config { batch: args.claim_batch, ..Config::default() };
    let scheduler = Scheduler::new(store.clone(), Arc::new(SystemClock), config).await?;
    let delay = 1;
    let text = journey_definition(delay);
    publish(&scheduler, &text).await?;
    let journey = kairos_engine::validate(&text).map_err(|p| anyhow!("{p:?}"))?;
    let mut parts = Vec::new();
    let reader = store.reader().clone();
    let sqlite = sea_orm::DatabaseBackend::Sqlite;

    // The cost of one statement round trip, with nothing to do in SQLite.
    let t = Instant::now();
    for _ in 0..2000 {
        reader.execute(Statement::from_string(sqlite, "SELECT 1")).await?;
    }
    parts.push(Part {
        key: "roundtrip_read",
        what: "`SELECT 1` on the read pool".into(),
        total: t.elapsed(),
        count: 2000,
    });
    let t = Instant::now();
    store
        .writer()
        .run(|tx| {
            Box::pin(async move {
                for _ in 0..2000 {
                    tx.execute(Statement::from_string(sea_orm::DatabaseBackend::Sqlite, "SELECT 1")).await?;
                }
                Ok(())
            })
        })
        .await?;
    parts.push(Part {
        key: "roundtrip_write",
        what: "`SELECT 1` in a writer job".into(),
        total: t.elapsed(),
        count: 2000,
    });

    // The same with read pools like the store's (4 connections, read-only), with sqlx's
    // default ping before each acquire and without it.
    let mut pools = Vec::new();
    for (key, ping) in [("roundtrip_read_ping", true), ("roundtrip_read_no_ping", false)] {
        use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
        use std::str::FromStr;
        let options = SqliteConnectOptions::from_str(&url)?.read_only(true);
        let pool = SqlitePoolOptions::new().max_connections(4).test_before_acquire(ping).connect_with(options).await?;
        let conn = sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
        let t = Instant::now();
        for _ in 0..2000 {
            conn.execute(Statement::from_string(sqlite, "SELECT 1")).await?;
        }
        let what = format!("`SELECT 1`, own 4-connection pool, test_before_acquire({ping})");
        parts.push(Part { key, what, total: t.elapsed(), count: 2000 });
        pools.push(conn);
    }

    let t = Instant::now();
    create_contacts(&scheduler, n).await?;
    parts.push(Part { key: "setup_contacts", what: "upsert_contact (setup)".into(), total: t.elapsed(), count: n });

    // Ingest, alone.
    let t = Instant::now();
    ingest_all(
        &scheduler,
        JOURNEY_EVENT,
        "j",
        n,
        args.ingest_batch,
        1,
        Instant::now() + Duration::from_secs(3600),
        |_| {},
    )
    .await?;
    parts.push(Part {
        key: "ingest",
        what: format!("Scheduler::ingest, {} events a call (starts a run per event)", args.ingest_batch),
        total: t.elapsed(),
        count: n,
    });
    tokio::time::sleep(Duration::from_secs(delay + 1)).await;

    // Resume, as step_claimed does it, part by part.
    let (mut claim, mut contacts_row, mut contacts_in, mut stepping, mut commit) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut resumed = 0u64;
    loop {
        let now = scheduler.now();
        let (lease, batch) = (chrono::TimeDelta::seconds(30), args.claim_batch);
        let t = Instant::now();
        let claimed = store
            .writer()
            .run(move |tx| Box::pin(async move { store::claim_due(tx, now, lease, batch).await }))
            .await?;
        claim += t.elapsed();
        if claimed.is_empty() {
            break;
        }
        resumed += claimed.len() as u64;
        let t = Instant::now();
        let mut by_id = std::collections::HashMap::new();
        for s in &claimed {
            let c = store::get_contact(&reader, &s.run.contact).await?.map(|r| r.contact);
            by_id.insert(s.run.contact.clone(), c);
        }
        contacts_row += t.elapsed();
        let ids: Vec<String> = claimed.iter().map(|s| s.run.contact.clone()).collect();
        let t = Instant::now();
        let rows = contact::Entity::find().filter(contact::Column::Id.is_in(ids)).all(&reader).await?;
        contacts_in += t.elapsed();
        if rows.len() != by_id.len() {
            bail!("{} contacts by IN, {} one by one", rows.len(), by_id.len());
        }
        let t = Instant::now();
        let mut transitions = Vec::with_capacity(claimed.len());
        for s in claimed {
            let c = by_id.get(&s.run.contact).cloned().flatten().unwrap_or_default();
            let o = kairos_engine::step::step(&journey, &s.run, &c, Input::Timer, now);
            let subscriptions = store::subscriptions_of(&o.run, journey.workflow());
            transitions.push(store::Transition {
                run: o.run,
                prev_rev: Some(s.rev),
                start_key: None,
                history: o.history,
                effects: o.effects,
                subscriptions,
                prev_subscriptions: Some(store::subscriptions_of(&s.run, journey.workflow())),
            });
        }
        stepping += t.elapsed();
        let t = Instant::now();
        store.writer().run(move |tx| Box::pin(async move { store::commit(tx, &transitions, now).await })).await?;
        commit += t.elapsed();
    }
    if resumed != n {
        bail!("{resumed} runs resumed, expected {n}");
    }
    if let Some(no_ping) = pools.get(1) {
        let t = Instant::now();
        for k in 0..n {
            store::get_contact(no_ping, &format!("j{k}")).await?;
        }
        parts.push(Part {
            key: "resume_contacts_no_ping",
            what: "store::get_contact per run, on the pool without the ping".into(),
            total: t.elapsed(),
            count: n,
        });
    }
    let b = args.claim_batch;
    parts.push(Part { key: "resume_claim", what: format!("store::claim_due ({b} a claim)"), total: claim, count: n });
    parts.push(Part {
        key: "resume_contacts_one_by_one",
        what: "store::get_contact per run (as step_claimed does)".into(),
        total: contacts_row,
        count: n,
    });
    parts.push(Part {
        key: "resume_contacts_in",
        what: "the same contacts, one `WHERE id IN (…)` per claim".into(),
        total: contacts_in,
        count: n,
    });
    parts.push(Part { key: "resume_step", what: "step + subscriptions_of (CPU)".into(), total: stepping, count: n });
    parts.push(Part {
        key: "resume_commit",
        what: format!("store::commit ({b} transitions a call)"),
        total: commit,
        count: n,
    });

    // Dispatch, as dispatch_due with the Inbox does it: take and deliver in one transaction.
    let mut deliver = Duration::ZERO;
    let mut sent = 0u64;
    loop {
        let now = scheduler.now();
        let t = Instant::now();
        let n = store
            .writer()
            .run(move |tx| Box::pin(async move { store::deliver_due_to_inbox(tx, now, 1000).await }))
            .await?;
        deliver += t.elapsed();
        sent += n as u64;
        if n == 0 {
            break;
        }
    }
    parts.push(Part {
        key: "dispatch_inbox",
        what: "store::deliver_due_to_inbox (1000 a call)".into(),
        total: deliver,
        count: sent,
    });
    drop(scheduler);
    drop(temp);
    Ok(parts)
}

fn print_breakdown(parts: &[Part]) {
    println!("kairos bench --breakdown (SQLite, alone: no background loops)");
    println!();
    println!("{:<28} {:>10} {:>9} {:>10}  what", "part", "total", "items", "µs/item");
    for p in parts {
        println!(
            "{:<28} {:>7.0} ms {:>9} {:>10.1}  {}",
            p.key,
            p.total.as_secs_f64() * 1000.0,
            p.count,
            p.per_item_us(),
            p.what
        );
    }
}
