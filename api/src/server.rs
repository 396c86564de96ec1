//! `kairos serve | migrate | apikey`.

use anyhow::Context;
use clap::{Args, Subcommand};
use kairos::{Application, Settings};
use kairos_engine::clock::{Clock, SystemClock};
use kairos_engine::store::{self, Store};
use std::path::PathBuf;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KAIROS_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// Database: `sqlite://path/file.db` (created if missing) or `postgres://…`.
    #[arg(long, env = "KAIROS_DATABASE_URL", default_value = store::DEFAULT_URL)]
    database_url: String,
    /// Push and publish the journeys of this folder at start.
    #[arg(long)]
    load: Option<PathBuf>,
    /// The admin API key (created if missing). Without it, a key is generated on first start and printed once.
    #[arg(long, env = "KAIROS_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The editor's admin user (created if missing).
    #[arg(long, env = "KAIROS_ADMIN_EMAIL", default_value = kairos::users::DEFAULT_ADMIN_EMAIL)]
    admin_email: String,
    /// The admin's password (set if it differs). Without it, the admin is created with a generated password on first start, printed once.
    #[arg(long, env = "KAIROS_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Deliver webhook sends over HTTP (with retries); without it they go to the built-in inbox like every other channel.
    #[arg(long, env = "KAIROS_DELIVER_WEBHOOKS")]
    deliver_webhooks: bool,
    /// The address people reach this server at (unsubscribe links and email webhook URLs start with it); default the listening address.
    #[arg(long, env = "KAIROS_PUBLIC_URL")]
    public_url: Option<String>,
    /// The workspace key (32 bytes as 64 hex characters or base64) that seals provider secrets and signs links. Required with PostgreSQL (every worker needs the same key); with SQLite it is created beside the database file on first start when unset.
    #[arg(long, env = "KAIROS_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// How often the audience's periodic pass runs: time-relative segments and stage rules, score decay, RFM, schedule ticks and date triggers (a duration such as `1m`, `5m`).
    #[arg(long, env = "KAIROS_AUDIENCE_EVERY", default_value = "1m")]
    audience_every: String,
    /// How long after it ended a run moves from the hot tables to the archive (a duration such as `1h`, `30m`), or `off`. Archived runs still show in the API, statistics and re-entry.
    #[arg(long, env = "KAIROS_ARCHIVE_AFTER", default_value = "1h")]
    archive_after: String,
    /// How long after it ended an archived run is deleted with its timeline and messages (a duration such as `180d`), or `off`/`0`: kept forever. Once deleted, a run no longer counts for `reentry: once`.
    #[arg(long, env = "KAIROS_RETENTION", default_value = "off")]
    retention: String,
    /// What this process runs: `all` (API, editor and background loops), `api` (API and editor only) or `worker` (the scheduler, delivery and audience loops; over HTTP only /healthz, /readyz and /metrics). Several workers may share one PostgreSQL database.
    #[arg(long, env = "KAIROS_ROLE", default_value = "all")]
    role: String,
    /// How long a worker keeps the runs and messages it claimed before another worker may take them (a duration such as `10s`): a worker that dies or stalls holds them up this long.
    #[arg(long, env = "KAIROS_LEASE", default_value = "10s")]
    lease: String,
    /// How long a webhook request may take before its outcome counts as unknown (with --deliver-webhooks; a duration such as `10s`). Messages being sent are leased for the lease plus twice this.
    #[arg(long, env = "KAIROS_WEBHOOK_TIMEOUT", default_value = "10s")]
    webhook_timeout: String,
}

#[derive(Subcommand)]
pub enum ApikeyCommand {
    /// Create a key and print it (it is shown only this once).
    Create {
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id or prefix.
    Revoke { key: String },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KAIROS_LOG")
        .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

pub fn serve(args: ServeArgs) -> anyhow::Result<bool> {
    init_logging();
    runtime()?.block_on(async move {
        let mut settings = Settings::new(args.bind, args.database_url);
        settings.load = args.load;
        settings.api_key = args.api_key;
        settings.admin_email = Some(args.admin_email);
        settings.admin_password = args.admin_password;
        settings.deliver_webhooks = args.deliver_webhooks;
        if let Some(k) = &args.secret_key {
            settings.secret_key = Some(kairos_engine::secrets::Key::parse(k).context("KAIROS_SECRET_KEY")?);
        }
        settings.public_url = args.public_url;
        settings.role = kairos::startup::Role::parse(&args.role).map_err(|e| anyhow::anyhow!("--role: {e}"))?;
        settings.scheduler.audience_every = at_least_a_second("--audience-every", &args.audience_every)?;
        settings.scheduler.lease = at_least_a_second("--lease", &args.lease)?;
        settings.webhook.timeout = at_least_a_second("--webhook-timeout", &args.webhook_timeout)?.to_std()?;
        settings.scheduler.retention =
            kairos_engine::scheduler::Retention::parse(&args.archive_after, &args.retention).map_err(anyhow::Error::msg)?;
        let application = Application::build(settings).await?;
        if let Some(key) = &application.created_key {
            println!("Created an admin API key (shown only now; store it safely):\n\n    {key}\n");
        }
        if let Some((email, password)) = &application.created_admin {
            println!(
                "Created the editor's admin user (the password is shown only now; set KAIROS_ADMIN_PASSWORD to choose it):\n\n    email:    {email}\n    password: {password}\n"
            );
        }
        println!("Kairos is listening on http://127.0.0.1:{} (the editor at /, API docs at /docs)", application.port());
        application.run_until_stopped().await?;
        Ok(true)
    })
}

/// The duration an option gives, which must be at least a second.
fn at_least_a_second(option: &str, text: &str) -> anyhow::Result<chrono::TimeDelta> {
    match kairos_engine::time::parse_duration(text) {
        Ok(d) if d >= chrono::TimeDelta::seconds(1) => Ok(d),
        Ok(_) => anyhow::bail!("{option} must be at least 1s"),
        Err(e) => anyhow::bail!("{option}: {e}"),
    }
}

pub fn migrate(url: &str) -> anyhow::Result<bool> {
    runtime()?.block_on(async move {
        Store::connect(url).await?;
        println!("The database {url} is up to date");
        Ok(true)
    })
}

pub fn apikey(command: ApikeyCommand, url: &str) -> anyhow::Result<bool> {
    runtime()?.block_on(async move {
        let store = Store::connect(url).await?;
        let now = SystemClock.now();
        match command {
            ApikeyCommand::Create { name } => {
                let secret = store::new_secret();
                let s = secret.clone();
                let key = store
                    .writer()
                    .run(move |tx| Box::pin(async move { store::insert_key(tx, &name, &s, now).await }))
                    .await?;
                println!("{secret}");
                eprintln!("Created key {} ({}); it is shown only now.", key.id, key.name);
            }
            ApikeyCommand::List => {
                for k in store::list_keys(store.reader()).await? {
                    let state = match k.revoked_at {
                        Some(t) => format!("revoked {}", t.to_rfc3339()),
                        None => "active".into(),
                    };
                    println!(
                        "{}  {:<14} {:<12} created {}  {state}",
                        k.id,
                        k.prefix,
                        k.name,
                        k.created_at.to_rfc3339()
                    );
                }
            }
            ApikeyCommand::Revoke { key } => {
                let revoked = store
                    .writer()
                    .run(move |tx| Box::pin(async move { store::revoke_key(tx, &key, now).await }))
                    .await?;
                match revoked {
                    Some(k) => println!("Revoked {} ({})", k.id, k.prefix),
                    None => {
                        eprintln!("No key has that id or prefix");
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    })
}
