//! What the provider tests share: a local HTTP server that plays a provider's API (its
//! behaviour given per test as a function of the request, plus scripted faults: 5xx,
//! 429 with `Retry-After`, hanging past the client's timeout), and the engine around a
//! deliverer: a scheduler on a SQLite file with a manual clock, one journey that sends
//! one message, and the real dispatcher (`dispatch_routed`).

#![allow(dead_code)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, TimeDelta, Utc};
use kairos_engine::clock::{Clock, ManualClock};
use kairos_engine::delivery::Router;
use kairos_engine::nodes::send::Channel;
use kairos_engine::scheduler::{Config, Deliver, Scheduler};
use kairos_engine::store::{self, OutboxRecord};
use kairos_engine::time::parse_timestamp;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ----- The provider's API -----

/// A request as the API saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// The body as `application/x-www-form-urlencoded` fields, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        web::Query::<Vec<(String, String)>>::from_query(&self.body).map(|q| q.into_inner()).unwrap_or_default()
    }

    pub fn form_field(&self, name: &str) -> Option<String> {
        self.form().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The user and password of HTTP Basic auth.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        use base64::Engine;
        let encoded = self.header("authorization")?.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some((user.to_string(), password.to_string()))
    }
}

/// An answer of the API.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply { status, content_type: "application/json", body: body.to_string(), headers: vec![] }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply { status, content_type: "text/plain", body: body.to_string(), headers: vec![] }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A scripted fault, used once by the next request whose path contains its filter.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this instead of the API's answer.
    Reply(Reply),
    /// Answer the API's answer only after this long (past the client's timeout).
    Hang(Duration),
}

type Behaviour = dyn Fn(&Received) -> Reply + Send + Sync;

struct State {
    behaviour: Box<Behaviour>,
    faults: Mutex<VecDeque<(String, Fault)>>,
    requests: Mutex<Vec<Received>>,
}

/// A provider's API on 127.0.0.1.
pub struct MockApi {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl MockApi {
    /// An API that answers each request with `behaviour` (after any scripted fault).
    pub async fn start(behaviour: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> MockApi {
        let state =
            Arc::new(State { behaviour: Box::new(behaviour), faults: Mutex::default(), requests: Mutex::default() });
        let data = web::Data::from(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
            .workers(1)
            .shutdown_timeout(0)
            .listen(listener)
            .unwrap()
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        MockApi { base: format!("http://127.0.0.1:{port}"), state, server: handle }
    }

    /// The next request whose path contains `path` gets `fault`.
    pub fn fail_next(&self, path: &str, fault: Fault) {
        self.state.faults.lock().unwrap().push_back((path.to_string(), fault));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The requests whose path contains `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Received> {
        self.requests().into_iter().filter(|r| r.path.contains(path)).collect()
    }

    pub async fn stop(self) {
        self.server.stop(false).await;
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let received = Received {
        method: req.method().to_string(),
        path: req.path().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    state.requests.lock().unwrap().push(received.clone());
    let fault = {
        let mut faults = state.faults.lock().unwrap();
        let i = faults.iter().position(|(path, _)| received.path.contains(path.as_str()));
        i.and_then(|i| faults.remove(i)).map(|(_, f)| f)
    };
    let reply = match fault {
        Some(Fault::Reply(r)) => r,
        Some(Fault::Hang(d)) => {
            tokio::time::sleep(d).await;
            (state.behaviour)(&received)
        }
        None => (state.behaviour)(&received),
    };
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap());
    response.content_type(reply.content_type);
    for (k, v) in reply.headers {
        response.insert_header((k, v));
    }
    response.body(reply.body)
}

// ----- The engine -----

/// Store `doc` as a workflow, publish it as its version 1 and load it (it must be valid).
pub async fn publish_journey(scheduler: &Scheduler, doc: Value, now: DateTime<Utc>) {
    let journey = kairos_engine::validate(&doc.to_string()).unwrap_or_else(|p| panic!("{p:?}"));
    let wf = journey.workflow().clone();
    scheduler
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                store::create_workflow(tx, &wf.id, &wf.name, &doc, now).await?;
                store::publish(tx, &wf.id, &wf.to_canonical(), now).await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    scheduler.reload_live().await.unwrap();
}

pub const MAX_ATTEMPTS: u32 = 4;

/// The client timeout the tests give providers: short, so a hang costs little.
pub const TIMEOUT: Duration = Duration::from_millis(400);

pub fn options() -> kairos_engine::delivery::Options {
    kairos_engine::delivery::Options { timeout: TIMEOUT, concurrency: 4 }
}

pub struct Harness {
    _dir: tempfile::TempDir,
    pub clock: ManualClock,
    pub scheduler: Arc<Scheduler>,
    pub router: Router,
    pub channel: Channel,
}

impl Harness {
    /// A scheduler whose `channel` goes through `deliverer`, with a published API-started
    /// journey `notify` that sends `message` (a send node's `message`) and exits.
    pub async fn new(channel: Channel, deliverer: Arc<dyn Deliver>, message: Value) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/kairos.db", dir.path().display());
        let store = store::Store::connect(&url).await.unwrap();
        let clock = ManualClock::new(parse_timestamp("2026-03-02T10:00:00Z").unwrap());
        let config = Config { max_attempts: MAX_ATTEMPTS, ..Config::default() };
        let scheduler = Scheduler::new(store, Arc::new(clock.clone()), config).await.unwrap();
        let router = Router::inbox().route(channel, deliverer);
        let h = Harness { _dir: dir, clock, scheduler, router, channel };
        h.publish(message).await;
        h
    }

    async fn publish(&self, message: Value) {
        let doc = json!({
            "id": "notify", "name": "Notify",
            "trigger": { "type": "api", "next": "send" },
            "nodes": [
                { "id": "send", "type": "send", "message": message, "next": "done" },
                { "id": "done", "type": "exit" }
            ]
        });
        publish_journey(&self.scheduler, doc, self.clock.now()).await;
    }

    /// Start a run for contact `ann` with these attributes; returns the run id.
    pub async fn start(&self, attributes: Value) -> String {
        let attrs: Map<String, Value> = attributes.as_object().cloned().unwrap_or_default();
        self.scheduler.start_run("notify", "ann", attrs, Default::default(), None).await.unwrap().run.id
    }

    pub async fn dispatch(&self) -> usize {
        self.scheduler.dispatch_routed(&self.router).await.unwrap()
    }

    pub async fn advance(&self, by: TimeDelta) -> usize {
        self.clock.advance(by);
        self.dispatch().await
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The one outbox row of the provider's channel.
    pub async fn entry(&self) -> OutboxRecord {
        let rows = store::list_outbox(self.scheduler.store().reader(), None, None, None, None, 10).await.unwrap();
        rows.into_iter().find(|r| r.message.channel() == self.channel).expect("a message in the outbox")
    }

    /// The run's timeline, as the API shows it.
    pub async fn timeline(&self, run: &str) -> Vec<Value> {
        store::timeline(self.scheduler.store().reader(), run).await.unwrap()
    }

    /// Every text Kairos keeps about the deliveries: each outbox row (message and last
    /// error) and the run's timeline.
    pub async fn everything_recorded(&self, run: &str) -> String {
        let rows = store::list_outbox(self.scheduler.store().reader(), None, None, None, None, 100).await.unwrap();
        let mut all: Vec<String> =
            rows.iter().map(|r| format!("{:?} {}", r.last_error, serde_json::to_string(&r.message).unwrap())).collect();
        all.push(serde_json::to_string(&self.timeline(run).await).unwrap());
        all.join("\n")
    }
}

// ----- PostgreSQL -----

/// A database of its own on the local PostgreSQL (127.0.0.1:5432, user postgres), dropped
/// by [`TempPostgres::drop_now`]. Unreachable: a panic in CI (`CI=true`), else `None`
/// with the reason printed (the test then skips).
pub struct TempPostgres {
    admin: sea_orm::DatabaseConnection,
    name: String,
    pub url: String,
}

impl TempPostgres {
    pub async fn create() -> Option<TempPostgres> {
        use sea_orm::{ConnectionTrait, Database};
        let admin = match Database::connect("postgres://postgres@127.0.0.1:5432/postgres").await {
            Ok(db) => db,
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("PostgreSQL is needed in CI but unreachable: {e}")
            }
            Err(e) => {
                eprintln!("skipped: PostgreSQL at 127.0.0.1:5432 is unreachable ({e})");
                return None;
            }
        };
        let name = format!("kairos_test_{}", uuid::Uuid::new_v4().simple());
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        Some(TempPostgres { admin, name, url })
    }

    pub async fn drop_now(self) {
        use sea_orm::ConnectionTrait;
        self.admin.execute_unprepared(&format!("DROP DATABASE {} WITH (FORCE)", self.name)).await.unwrap();
    }
}
