//! The `kairos` binary.

mod bench;
mod files;
mod journeys;
mod remote;
mod server;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's allocator: the scheduler and the store allocate and free
/// many small strings and JSON values per step, and glibc's malloc took a quarter of
/// the CPU time of `kairos bench` (perf), most of it in consolidation and locking.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Kairos: journey automation. Validate, format, test and simulate journey files.
#[derive(Parser)]
#[command(name = "kairos", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check journey files (against the templates beside them) and template files, and report every problem with its JSON pointer and node.
    Validate {
        /// Journey and template files, or folders of them (`*.test.json` and schemas are skipped; `templates/` holds templates).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Rewrite journey and template files in canonical form (`--check`: only report files that are not).
    Fmt {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long)]
        check: bool,
    },
    /// Run the journey tests (`<journey>.test.json` beside each journey) on a virtual clock.
    Test {
        /// Journey files or folders; default `workflows`.
        paths: Vec<PathBuf>,
    },
    /// Print the timeline one contact would go through.
    Simulate {
        /// The journey file.
        file: PathBuf,
        /// A contact: `{"id": "c1", "attributes": {...}, "tags": [...]}`.
        #[arg(long)]
        contact: PathBuf,
        /// Events: `[{"at": "0s", "name": "cart_updated", "properties": {...}}, ...]` (`at`: offset or timestamp).
        #[arg(long)]
        events: Option<PathBuf>,
        /// Virtual start time (RFC 3339); default 2026-01-05T09:00:00Z.
        #[arg(long)]
        start: Option<String>,
        /// How long after the last event to keep going (default 400d).
        #[arg(long)]
        horizon: Option<String>,
        /// Workspace delivery settings to simulate with (quiet hours, frequency caps), as
        /// `GET /v1/settings/delivery` shows them: `{"quiet_hours": {"enabled": true, "start": "21:00", ...}}`.
        #[arg(long)]
        delivery: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Run the server: the REST API, the scheduler and message delivery.
    Serve(server::ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate {
        #[arg(long, env = "KAIROS_DATABASE_URL", default_value = kairos_engine::store::DEFAULT_URL)]
        database_url: String,
    },
    /// Manage API keys in the database directly.
    Apikey {
        #[command(subcommand)]
        command: server::ApikeyCommand,
        #[arg(long, env = "KAIROS_DATABASE_URL", default_value = kairos_engine::store::DEFAULT_URL, global = true)]
        database_url: String,
    },
    /// Measure the scheduler on a fresh database and print a table (`--json`: one JSON object).
    Bench(bench::BenchArgs),
    /// Create or update the server's drafts from a folder of journeys (`--publish`: and publish them).
    Push(remote::PushArgs),
    /// Write the server's journeys to `DIR/<id>.json` in canonical form.
    Pull(remote::PullArgs),
    /// Show what `push` would change, per journey and node (exit code 1 when something differs).
    Diff(remote::DiffArgs),
    /// Write `schema.json`, `test.schema.json` and `template.schema.json` generated from the format's types.
    Schema {
        /// Folder to write to.
        #[arg(long, default_value = "workflows")]
        dir: PathBuf,
        /// Fail if the files there are not up to date instead of writing them.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => server::serve(args),
        Command::Migrate { database_url } => server::migrate(&database_url),
        Command::Apikey { command, database_url } => server::apikey(command, &database_url),
        Command::Validate { paths, format } => journeys::validate(&paths, format == Format::Json),
        Command::Fmt { paths, check } => journeys::fmt(&paths, check),
        Command::Test { paths } => {
            let paths = if paths.is_empty() { vec![PathBuf::from("workflows")] } else { paths };
            journeys::test(&paths)
        }
        Command::Simulate { file, contact, events, start, horizon, delivery, format } => journeys::simulate(
            &file,
            &contact,
            events.as_deref(),
            journeys::SimulateOptions { start, horizon, delivery, json: format == Format::Json },
        ),
        Command::Schema { dir, check } => journeys::schema(&dir, check),
        Command::Bench(args) => bench::bench(args),
        Command::Push(args) => remote::push(args),
        Command::Pull(args) => remote::pull(args),
        Command::Diff(args) => remote::diff(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
