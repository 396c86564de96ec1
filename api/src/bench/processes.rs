//! The bench's other processes: `kairos serve --role worker` processes that run the
//! journeys on a shared database (`--workers N`), and a `--role api` process that takes
//! events over HTTP (`--http-events N`).

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::json;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A `kairos serve` process the bench started; killed when dropped.
pub(super) struct Serve {
    pub role: &'static str,
    child: std::process::Child,
    pub base: String,
    key: String,
}

impl Serve {
    /// Start `kairos serve --role <role>` on `url` and wait until it is ready.
    pub async fn start(role: &'static str, url: &str, key: &str, deadline: Instant) -> anyhow::Result<Serve> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let exe = std::env::current_exe().context("cannot find the kairos binary")?;
        let child = Command::new(exe)
            .args(["serve", "--role", role, "--bind", &format!("127.0.0.1:{port}"), "--database-url", url])
            .env("KAIROS_API_KEY", key)
            .env("KAIROS_SECRET_KEY", secret_key())
            .env("KAIROS_LOG", std::env::var("KAIROS_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start a `{role}` process"))?;
        let serve = Serve { role, child, base: format!("http://127.0.0.1:{port}"), key: key.to_string() };
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", serve.base)).send().await
                && r.status().is_success()
            {
                return Ok(serve);
            }
            if Instant::now() > deadline {
                bail!("the `{role}` process did not become ready");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its counters and gauges from `/metrics` (labels kept in the name).
    pub async fn metrics(&self, client: &reqwest::Client) -> anyhow::Result<HashMap<String, f64>> {
        let text = client
            .get(format!("{}/metrics", self.base))
            .bearer_auth(&self.key)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').and_then(|(k, v)| Some((k.to_string(), v.parse().ok()?))))
            .collect())
    }

    /// Its peak resident set (VmHWM) so far, in MB.
    pub fn peak_rss_mb(&self) -> Option<f64> {
        super::status_mb(&format!("/proc/{}/status", self.pid()), "VmHWM")
    }
}

/// The key every process of one bench signs links with (they must agree on PostgreSQL):
/// `KAIROS_SECRET_KEY` when set, else one made for this bench.
fn secret_key() -> String {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        std::env::var("KAIROS_SECRET_KEY")
            .unwrap_or_else(|_| format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()))
    })
    .clone()
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `--http-events` measured.
pub(super) struct HttpIngest {
    pub events: u64,
    pub secs: f64,
    pub api_peak_rss_mb: Option<f64>,
}

/// Events per `/v1/batch` call, and calls in flight at once.
pub(super) const HTTP_BATCH: u64 = 100;
const HTTP_CONCURRENCY: usize = 16;

/// Post `n` track events to a `--role api` process in batches of [`HTTP_BATCH`], several
/// calls at once, each event by a contact of its own.
pub(super) async fn http_ingest(url: &str, n: u64, deadline: Instant) -> anyhow::Result<HttpIngest> {
    let key = format!("sk_bench_{}", uuid::Uuid::new_v4().simple());
    let api = Serve::start("api", url, &key, deadline).await?;
    let client = reqwest::Client::new();
    let bodies: Vec<serde_json::Value> = (0..n.div_ceil(HTTP_BATCH))
        .map(|b| {
            let calls: Vec<_> = (b * HTTP_BATCH..((b + 1) * HTTP_BATCH).min(n))
                .map(|i| {
                    json!({"type": "track", "userId": format!("h{i}"), "event": "bench_viewed",
                           "messageId": format!("bench-h{i}"), "properties": {"page": i % 50}})
                })
                .collect();
            json!({ "batch": calls })
        })
        .collect();
    let t0 = Instant::now();
    let endpoint = format!("{}/v1/batch", api.base);
    let mut posts = futures::stream::iter(bodies.into_iter().map(|body| {
        let request = client.post(&endpoint).bearer_auth(&key).json(&body).send();
        async move {
            let response = request.await?;
            let status = response.status();
            if !status.is_success() {
                bail!("POST /v1/batch answered {status}: {}", response.text().await.unwrap_or_default());
            }
            anyhow::Ok(())
        }
    }))
    .buffer_unordered(HTTP_CONCURRENCY);
    while let Some(result) = posts.next().await {
        result?;
        if Instant::now() > deadline {
            bail!("timed out while posting events over HTTP");
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(HttpIngest { events: n, secs, api_peak_rss_mb: api.peak_rss_mb() })
}
