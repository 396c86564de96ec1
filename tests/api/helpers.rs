//! The test app.

#![allow(dead_code)]

use chrono::TimeDelta;
use kairos::{Application, Settings};
use kairos_engine::clock::ManualClock;
use kairos_engine::delivery::Registry;
use kairos_engine::scheduler::Scheduler;
use kairos_engine::time::parse_timestamp;
use reqwest::{Method, Response};
use serde_json::Value;
use std::sync::Arc;

pub const KEY: &str = "test-admin-key";
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A signed-in editor session: the cookie to send and the CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    /// `kairos_session=<token>`, as a `Cookie` header value.
    pub cookie: String,
    pub csrf: String,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub scheduler: Arc<Scheduler>,
    /// The live delivery routes (they change when providers are configured).
    pub registry: Arc<Registry>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// Start the real app on a free port with a fresh SQLite file. The scheduler's loops
    /// do not run: tests move the clock and call [`TestApp::tick`], so every test is
    /// deterministic.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// [`TestApp::spawn`] with the settings changed by `configure` first.
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(parse_timestamp("2026-03-02T10:00:00Z").unwrap());
        let mut settings = Settings::new("127.0.0.1:0", format!("sqlite://{}/kairos.db", dir.path().display()));
        settings.api_key = Some(KEY.into());
        settings.admin_email = Some(ADMIN_EMAIL.into());
        settings.admin_password = Some(ADMIN_PASSWORD.into());
        settings.clock = Some(Arc::new(clock.clone()));
        settings.background = false;
        configure(&mut settings);
        let app = Application::build(settings).await.expect("the app starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let scheduler = app.scheduler();
        let registry = app.registry();
        tokio::spawn(app.run_until_stopped());
        TestApp { address, client: reqwest::Client::new(), clock, scheduler, registry, _dir: dir }
    }

    /// A request with the admin key.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.address)).bearer_auth(KEY);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("the request is sent")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.call(Method::DELETE, path, None).await
    }

    /// A raw request: any body bytes, content type and key (or none).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
        key: Option<&str>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address))
            .header("content-type", content_type)
            .body(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send().await.expect("the request is sent")
    }

    /// Sign in as the admin; panics unless it works.
    pub async fn sign_in(&self) -> Session {
        let r = self
            .client
            .post(format!("{}/v1/session", self.address))
            .json(&serde_json::json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
            .send()
            .await
            .expect("the request is sent");
        let set_cookie = r.headers().get("set-cookie").expect("a cookie is set").to_str().unwrap().to_string();
        let body = json(r, 200).await;
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        Session { cookie, csrf: body["csrf_token"].as_str().unwrap().to_string() }
    }

    /// A request authenticated by a session cookie (no API key), with the CSRF header if `csrf`.
    pub async fn as_user(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        session: &Session,
        csrf: bool,
    ) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.address)).header("cookie", &session.cookie);
        if csrf {
            req = req.header("x-csrf-token", &session.csrf);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("the request is sent")
    }

    /// A request with no credentials at all.
    pub async fn anonymous(&self, method: Method, path: &str) -> Response {
        self.client.request(method, format!("{}{path}", self.address)).send().await.expect("the request is sent")
    }

    /// Step every due run and deliver every due message, as the background loops would.
    pub async fn tick(&self) {
        self.scheduler.run_due().await.unwrap();
        self.scheduler.dispatch_routed(&self.registry.current()).await.unwrap();
    }

    /// Move the clock forward, then [`TestApp::tick`].
    pub async fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
        self.tick().await;
    }
}

/// The JSON body of a response, after checking its status.
pub async fn json(response: Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Check a problem+json response: status, content type and code.
pub async fn problem(response: Response, status: u16, code: &str) -> Value {
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert_eq!(content_type, "application/problem+json", "status {}", response.status());
    let body = json(response, status).await;
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    body
}

/// A journey file from `workflows/`.
pub fn example(name: &str) -> Value {
    let path = format!("{}/../workflows/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A journey's test file from `workflows/`.
pub fn example_tests(name: &str) -> Value {
    let path = format!("{}/../workflows/{name}.test.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
