//! `Application::build(settings)`: connect, migrate, make sure an API key and the admin
//! user exist, load journeys, start the scheduler loops, bind the listener.

use crate::routes;
use crate::state::AppState;
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use kairos_engine::clock::{Clock, DatabaseClock, SystemClock};
use kairos_engine::consent::Links;
use kairos_engine::delivery::{self, Registry, Router, Webhook, WebhookConfig};
use kairos_engine::nodes::send::Channel;
use kairos_engine::scheduler::{self, Scheduler};
use kairos_engine::secrets::Key;
use kairos_engine::store::{self, Store};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

/// Which parts of Kairos a process runs, so API and worker processes can scale apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// The REST API, the editor and the background loops (one process does everything).
    #[default]
    All,
    /// The REST API and the editor only: no scheduler, delivery or audience loops.
    Api,
    /// The scheduler, delivery and audience loops; over HTTP only `/healthz`, `/readyz` and `/metrics`.
    Worker,
}

impl Role {
    pub fn parse(text: &str) -> Result<Role, String> {
        match text {
            "all" => Ok(Role::All),
            "api" => Ok(Role::Api),
            "worker" => Ok(Role::Worker),
            other => Err(format!("`{other}` is not a role; expected `all`, `api` or `worker`")),
        }
    }
}

/// How often a PostgreSQL worker reads the database's clock again (in between it counts
/// with the monotonic clock).
const CLOCK_RESYNC: std::time::Duration = std::time::Duration::from_secs(10);

/// How to run the server.
pub struct Settings {
    /// What this process runs.
    pub role: Role,
    /// Address to listen on; port 0 picks a free port.
    pub bind: String,
    pub database_url: String,
    /// Push and publish the journeys of this folder at start.
    pub load: Option<PathBuf>,
    /// Make sure this admin key exists.
    pub api_key: Option<String>,
    /// The editor's admin user (`KAIROS_ADMIN_EMAIL`; default `admin@localhost`).
    pub admin_email: Option<String>,
    /// Its password (`KAIROS_ADMIN_PASSWORD`). Without it, the admin is created with a
    /// generated password at the first start (when there is no user yet).
    pub admin_password: Option<String>,
    /// Where time comes from. `None`: the database's clock on PostgreSQL (so the workers
    /// of one database agree, whatever their hosts' clocks say), the system clock on SQLite.
    pub clock: Option<Arc<dyn Clock>>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    pub scheduler: scheduler::Config,
    /// Run the scheduler and delivery loops (tests may step them by hand instead).
    pub background: bool,
    /// Deliver webhook sends over HTTP (`--deliver-webhooks`); otherwise they go to the
    /// built-in inbox like every other channel.
    pub deliver_webhooks: bool,
    /// The webhook channel's timeouts and concurrency (when `deliver_webhooks`).
    pub webhook: WebhookConfig,
    /// The workspace key (`KAIROS_SECRET_KEY`). Without it: read from, or created in,
    /// `kairos.key` beside a SQLite database file; a fresh one for an in-memory
    /// database; an error for PostgreSQL (its workers must share one key).
    pub secret_key: Option<Key>,
    /// How provider deliverers run (timeouts, concurrency).
    pub delivery: delivery::Options,
    /// The address people reach this server at (`KAIROS_PUBLIC_URL`), e.g.
    /// `https://kairos.example.com`: unsubscribe links and the email providers' webhook
    /// URLs start with it. Default: the address the server listens on.
    pub public_url: Option<String>,
}

impl Settings {
    pub fn new(bind: impl Into<String>, database_url: impl Into<String>) -> Settings {
        Settings {
            role: Role::All,
            bind: bind.into(),
            database_url: database_url.into(),
            load: None,
            api_key: None,
            admin_email: None,
            admin_password: None,
            clock: None,
            body_limit: 1 << 20,
            scheduler: scheduler::Config::default(),
            background: true,
            deliver_webhooks: false,
            webhook: WebhookConfig::default(),
            secret_key: None,
            delivery: delivery::Options::default(),
            public_url: None,
        }
    }
}

pub struct Application {
    port: u16,
    server: Server,
    scheduler: Arc<Scheduler>,
    registry: Arc<Registry>,
    shutdown: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
    /// A key created at this start because none existed: print it once.
    pub created_key: Option<String>,
    /// The admin user created at this start with a generated password: (email, password), to print once.
    pub created_admin: Option<(String, String)>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener =
            TcpListener::bind(&settings.bind).with_context(|| format!("cannot listen on {}", settings.bind))?;
        let address = listener.local_addr()?;
        let port = address.port();
        let store = Store::connect(&settings.database_url)
            .await
            .with_context(|| format!("cannot open the database {}", settings.database_url))?;
        // Journeys render their unsubscribe links with the key and the public address.
        let secret_key = secret_key(&settings)?;
        let links = Links::new(&public_url(settings.public_url.as_deref(), address)?, secret_key.clone());
        tracing::info!(public_url = links.base(), "Unsubscribe links and email webhooks point at the public URL");
        let config = scheduler::Config { links, ..settings.scheduler.clone() };
        let clock = match (&settings.clock, store.backend()) {
            (Some(clock), _) => clock.clone(),
            (None, store::Backend::Postgres) => {
                Arc::new(DatabaseClock::start(&store, CLOCK_RESYNC).await.context("cannot read the database's clock")?)
            }
            (None, store::Backend::Sqlite) => Arc::new(SystemClock),
        };
        let scheduler = Scheduler::new(store, clock, config).await?;
        let created_key = ensure_key(&scheduler, settings.api_key.as_deref()).await?;
        let created_admin =
            crate::users::ensure_admin(&scheduler, settings.admin_email.as_deref(), settings.admin_password.as_deref())
                .await?;
        if let Some(dir) = &settings.load {
            for (id, outcome) in crate::load::load_dir(&scheduler, dir).await? {
                tracing::info!(workflow = %id, outcome = %outcome, "Loaded journey");
            }
        }
        let registry = Arc::new(Registry::new(router(&settings)?, Some(secret_key.clone()), settings.delivery.clone()));
        registry.reload(scheduler.store()).await.context("cannot load the delivery providers")?;
        let (shutdown, rx) = watch::channel(false);
        let mut loops = Vec::new();
        if settings.background && settings.role != Role::Api {
            loops.push(tokio::spawn(scheduler.clone().run_loop(rx.clone())));
            loops.push(tokio::spawn(scheduler.clone().audience_loop(rx.clone())));
            loops.push(tokio::spawn(scheduler.clone().retention_loop(rx.clone())));
            loops.push(tokio::spawn(scheduler.clone().dispatch_loop(registry.clone(), rx)));
        }
        let state = web::Data::new(AppState {
            scheduler: scheduler.clone(),
            keys: Default::default(),
            registry: registry.clone(),
            secret_key,
        });
        let limit = settings.body_limit;
        tracing::info!(role = ?settings.role, "Serving");
        let server = match settings.role {
            Role::Worker => {
                HttpServer::new(move || worker_app(state.clone())).listen(listener)?.shutdown_timeout(10).run()
            }
            Role::All | Role::Api => {
                HttpServer::new(move || app(state.clone(), limit)).listen(listener)?.shutdown_timeout(10).run()
            }
        };
        Ok(Application { port, server, scheduler, registry, shutdown, loops, created_key, created_admin })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn scheduler(&self) -> Arc<Scheduler> {
        self.scheduler.clone()
    }

    /// Where each message is delivered now (tests dispatch through it by hand).
    pub fn router(&self) -> Arc<Router> {
        self.registry.current()
    }

    /// The live delivery routes.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// Serve until the server stops (SIGTERM / SIGINT: stop accepting, finish requests),
    /// then stop claiming runs and let in-flight transactions finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        let _ = self.shutdown.send(true);
        for l in self.loops {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), l).await;
        }
        tracing::info!("Kairos stopped");
        result
    }
}

/// Where messages go: webhooks over HTTP when enabled, everything else to the inbox.
fn router(settings: &Settings) -> anyhow::Result<Router> {
    if !settings.deliver_webhooks {
        tracing::info!("Every channel delivers to the built-in inbox (GET /v1/messages)");
        return Ok(Router::inbox());
    }
    let webhook = Webhook::new(settings.webhook.clone()).context("cannot build the webhook channel's HTTP client")?;
    tracing::info!(
        timeout_ms = settings.webhook.timeout.as_millis() as u64,
        "Webhooks are delivered over HTTP; email, SMS and push go to the built-in inbox"
    );
    Ok(Router::inbox().route(Channel::Webhook, Arc::new(webhook)))
}

/// The server's public address: `wanted` checked (an `http(s)://` address without query
/// or fragment, no trailing `/`), or the address it listens on (`127.0.0.1` for a wildcard).
fn public_url(wanted: Option<&str>, listening: std::net::SocketAddr) -> anyhow::Result<String> {
    let Some(wanted) = wanted.map(str::trim).filter(|w| !w.is_empty()) else {
        let ip = if listening.ip().is_unspecified() {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        } else {
            listening.ip()
        };
        let url = format!("http://{}", std::net::SocketAddr::new(ip, listening.port()));
        if listening.ip().is_unspecified() {
            tracing::warn!(public_url = %url, "KAIROS_PUBLIC_URL is not set: unsubscribe links point at this machine only");
        }
        return Ok(url);
    };
    let parsed = reqwest::Url::parse(wanted).map_err(|e| {
        anyhow::anyhow!("KAIROS_PUBLIC_URL `{wanted}` is not a URL ({e}); e.g. https://kairos.example.com")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        anyhow::bail!(
            "KAIROS_PUBLIC_URL `{wanted}` must be an http:// or https:// address, e.g. https://kairos.example.com"
        );
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        anyhow::bail!("KAIROS_PUBLIC_URL `{wanted}` must not have a query or fragment");
    }
    Ok(wanted.trim_end_matches('/').to_string())
}

/// The workspace key: given, or kept in `kairos.key` beside a SQLite database file.
fn secret_key(settings: &Settings) -> anyhow::Result<Key> {
    if let Some(k) = &settings.secret_key {
        return Ok(k.clone());
    }
    let url = &settings.database_url;
    if !url.starts_with("sqlite:") {
        anyhow::bail!(
            "set KAIROS_SECRET_KEY (64 hex characters, e.g. from `openssl rand -hex 32`): with PostgreSQL every worker must use the same key"
        );
    }
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return Ok(Key::generate());
    }
    let file = std::path::Path::new(path).with_file_name("kairos.key");
    match std::fs::read_to_string(&file) {
        Ok(text) => Key::parse(&text).with_context(|| format!("{} does not hold a valid key", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Key::generate();
            write_private(&file, &key.to_hex()).with_context(|| format!("cannot write {}", file.display()))?;
            tracing::warn!(file = %file.display(), "Created the workspace key (KAIROS_SECRET_KEY was not set); keep it with the database");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
}

/// Write a file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// Create the admin key from `KAIROS_API_KEY`, or a random one when there is no key yet.
async fn ensure_key(scheduler: &Scheduler, wanted: Option<&str>) -> anyhow::Result<Option<String>> {
    let now = scheduler.now();
    let writer = scheduler.store().writer();
    if let Some(key) = wanted {
        let key = key.to_string();
        writer.run(move |tx| Box::pin(async move { store::insert_key(tx, "admin", &key, now).await })).await?;
        return Ok(None);
    }
    if store::count_live_keys(scheduler.store().reader()).await? > 0 {
        return Ok(None);
    }
    let secret = store::new_secret();
    let s = secret.clone();
    writer.run(move |tx| Box::pin(async move { store::insert_key(tx, "admin", &s, now).await })).await?;
    Ok(Some(secret))
}

/// The OpenAPI document's frame; paths and schemas are collected from the services.
#[derive(OpenApi)]
#[openapi(
    info(title = "Kairos API", description = "Journey automation: contacts, events, workflows, runs and messages. Every `/v1` route needs `Authorization: Bearer <api key>` or the editor's session cookie `kairos_session` (from `POST /v1/session`; with it, POST, PUT, PATCH and DELETE also need the session's `X-CSRF-Token`); errors are `application/problem+json`."),
    modifiers(&BearerAuth),
    security(("api_key" = []), ("session" = [])),
    components(schemas(crate::problem::ProblemDetails, crate::problem::ProblemItem))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    crate::auth::SESSION_COOKIE,
                    "The editor's session (POST /v1/session); unsafe methods also need `X-CSRF-Token`",
                ),
            )),
        );
    }
}

/// The OpenAPI document (also served at `/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) =
        App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(routes::configure).split_for_parts();
    api
}

fn app(
    state: web::Data<AppState>,
    body_limit: usize,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, api) = App::new()
        .app_data(state)
        .app_data(web::JsonConfig::default().limit(body_limit).error_handler(crate::problem::json_error))
        .app_data(web::QueryConfig::default().error_handler(crate::problem::query_error))
        .app_data(web::PathConfig::default().error_handler(crate::problem::path_error))
        .app_data(web::PayloadConfig::default().limit(body_limit))
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    let table = web::Data::new(routes::fallback::RouteTable::from_openapi(&api));
    app.app_data(table)
        .service(utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api))
        .default_service(web::to(routes::fallback::not_found_or_not_allowed))
}

/// A worker's HTTP side: health, readiness and metrics only.
fn worker_app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .service(routes::health::healthz)
        .service(routes::health::readyz)
        .service(routes::health::metrics)
        .default_service(web::to(|| async {
            crate::problem::problem(
                actix_web::http::StatusCode::NOT_FOUND,
                "not_found",
                "this is a worker (`kairos serve --role worker`): it serves only /healthz, /readyz and /metrics; the API runs with --role api or all",
            )
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_is_checked_or_defaults_to_the_listening_address() {
        let local: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let any: std::net::SocketAddr = "0.0.0.0:9000".parse().unwrap();
        assert_eq!(public_url(None, local).unwrap(), "http://127.0.0.1:8080");
        assert_eq!(public_url(Some("  "), any).unwrap(), "http://127.0.0.1:9000");
        assert_eq!(public_url(Some("https://k.example.com/"), local).unwrap(), "https://k.example.com");
        assert_eq!(public_url(Some("https://example.com/kairos"), local).unwrap(), "https://example.com/kairos");
        for bad in ["k.example.com", "ftp://k.example.com", "https://k.example.com/?a=1", "https://k.example.com/#x"] {
            assert!(public_url(Some(bad), local).is_err(), "{bad}");
        }
    }
}
