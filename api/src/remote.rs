//! `kairos push | pull | diff`: keep a folder of journey files and a Kairos server in step
//! through the REST API.
//!
//! Both sides are compared in canonical form (the bytes `kairos fmt` writes and the
//! server's export returns), so formatting alone is never a difference.
//!
//! A journey's tests (`<id>.test.json` beside it) travel with it: `push` uploads them,
//! `pull` writes the server's beside the journey (the text as it was saved). A test
//! file is compared as JSON, so its formatting alone is never a difference either.
//!
//! The template library (`templates/<id>.json` beside the journeys) travels too: `push`
//! saves each template that differs from the server's latest version (before the
//! journeys, which are checked against it), `pull` writes the server's templates to
//! `DIR/templates/`, and `diff` lists the templates that differ.

use crate::files;
use anyhow::{Context, bail};
use clap::Args;
use kairos_engine::Problem;
use kairos_engine::library::{self, Template};
use kairos_engine::problem::Kind;
use kairos_engine::validate as check;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the server is and how to authenticate.
#[derive(Args)]
pub struct ServerArgs {
    /// The Kairos server's base URL.
    #[arg(long = "server", env = "KAIROS_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// API key, sent as `Authorization: Bearer <key>`.
    #[arg(long, env = "KAIROS_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

#[derive(Args)]
pub struct PushArgs {
    /// Folder of journey files (searched recursively; `*.test.json` and schemas are skipped), or one file.
    dir: PathBuf,
    /// Publish each journey after saving its draft (a new version only when it changed).
    #[arg(long)]
    publish: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
pub struct PullArgs {
    /// Folder to write `<id>.json` files to (created if needed).
    dir: PathBuf,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
pub struct DiffArgs {
    /// Folder of journey files to compare with the server's drafts.
    dir: PathBuf,
    #[command(flatten)]
    server: ServerArgs,
}

// ----- Commands -----

/// Create or update each journey's draft on the server (and publish it with `--publish`).
/// Ok(false) when a file or the server refused one.
pub fn push(args: PushArgs) -> anyhow::Result<bool> {
    let client = Client::new(&args.server)?;
    let found = files::find(std::slice::from_ref(&args.dir))?;
    let mut libraries = files::Libraries::default();
    let templates = local_templates(&found, &mut libraries)?;
    let locals = load_local(&found.journeys, &mut libraries)?;
    runtime()?.block_on(async {
        let (mut templates_pushed, mut templates_refused) = (0, 0);
        for (file, template) in &templates {
            match template {
                Err(problems) => {
                    templates_refused += 1;
                    println!("{}: refused, {} problem(s); nothing pushed", file.display(), problems.len());
                    for p in problems {
                        println!("  {p}");
                    }
                }
                Ok(t) => {
                    let (line, ok) = push_template(&client, t).await?;
                    println!("template {}: {line}", t.id);
                    if ok {
                        templates_pushed += 1;
                    } else {
                        templates_refused += 1;
                    }
                }
            }
        }
        if !templates.is_empty() {
            println!("{templates_pushed} template(s) pushed, {templates_refused} refused");
        }
        // The audience before the journeys: their triggers may name its segments.
        let audience_ok = push_audience(&client, &args.dir.join(files::AUDIENCE_DIR)).await?;
        let (mut pushed, mut refused) = (0, 0);
        for local in &locals {
            match local {
                Local::Invalid { file, problems, .. } => {
                    refused += 1;
                    println!("{}: refused, {} problem(s); nothing pushed", file.display(), problems.len());
                    for p in problems {
                        println!("  {p}");
                    }
                }
                Local::Valid(journey) => {
                    let (line, mut ok) = push_one(&client, journey, args.publish).await?;
                    println!("{}: {line}", journey.id);
                    if ok && let Some((line, tests_ok)) = push_tests(&client, journey).await? {
                        println!("{}: {line}", journey.id);
                        ok = tests_ok;
                    }
                    if ok {
                        pushed += 1;
                    } else {
                        refused += 1;
                    }
                }
            }
        }
        println!("{pushed} journey(s) pushed, {refused} refused");
        Ok(refused == 0 && templates_refused == 0 && audience_ok)
    })
}

/// A template file, with its template or its problems.
type LocalTemplate = (PathBuf, Result<Template, Vec<Problem>>);

/// Every template file of the libraries the journeys use and of the folders given: each
/// with the template, or its problems (on its own or with the rest of its library).
fn local_templates(found: &files::Found, libraries: &mut files::Libraries) -> anyhow::Result<Vec<LocalTemplate>> {
    let mut dirs: BTreeSet<PathBuf> = found.journeys.iter().map(|j| files::templates_dir_of(j)).collect();
    dirs.extend(found.templates.iter().filter_map(|t| t.parent().map(Path::to_path_buf)));
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in dirs {
        let lib = libraries.at(&dir)?;
        for (file, problems) in &lib.files {
            let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            let result = match (problems.is_empty(), lib.valid.get(&stem)) {
                (true, Some((_, t))) => match seen.get(&t.id) {
                    Some(other) => Err(vec![Problem::new(
                        Kind::InvalidId,
                        "/id",
                        format!(
                            "the id `{}` is already used by {}; each template needs its own id",
                            t.id,
                            other.display()
                        ),
                    )]),
                    None => {
                        seen.insert(t.id.clone(), file.clone());
                        Ok(t.clone())
                    }
                },
                _ => Err(problems.clone()),
            };
            out.push((file.clone(), result));
        }
    }
    Ok(out)
}

/// The server's latest version of a template as a template (from `GET /v1/templates/{id}`).
fn remote_template(detail: &Value) -> Option<Template> {
    let mut doc = serde_json::Map::new();
    for key in ["id", "name", "description", "kind", "message", "content"] {
        if let Some(v) = detail.get(key).filter(|v| !v.is_null()) {
            doc.insert(key.to_string(), v.clone());
        }
    }
    let version = detail.get("version")?.as_u64()? as u32;
    library::from_document(&Value::Object(doc).to_string(), version).ok()
}

/// Create or save one template: (the report line, whether it worked).
async fn push_template(client: &Client, t: &Template) -> anyhow::Result<(String, bool)> {
    let path = format!("/v1/templates/{}", t.id);
    let body: Value = serde_json::from_str(&t.to_document())?;
    let remote = match client.json::<Value>(Method::GET, &path, None).await? {
        Ok(detail) => Some(detail),
        Err(r) if r.status == StatusCode::NOT_FOUND => None,
        Err(r) => return Ok((format!("refused by the server: {r}"), false)),
    };
    let version = |text: &str| -> Option<u64> { serde_json::from_str::<Value>(text).ok()?.get("version")?.as_u64() };
    match remote {
        Some(detail) if remote_template(&detail).is_some_and(|r| r.to_document() == t.to_document()) => {
            let v = detail.get("version").and_then(Value::as_u64).unwrap_or_default();
            Ok((format!("unchanged (version {v})"), true))
        }
        Some(_) => match client.call(Method::PUT, &path, Some(&body)).await? {
            Ok((_, text)) => Ok((format!("saved as version {}", version(&text).unwrap_or_default()), true)),
            Err(r) => Ok((format!("refused by the server: {r}"), false)),
        },
        None => match client.call(Method::POST, "/v1/templates", Some(&body)).await? {
            Ok((_, text)) => Ok((format!("created (version {})", version(&text).unwrap_or_default()), true)),
            Err(r) => Ok((format!("refused by the server: {r}"), false)),
        },
    }
}

/// Push `DIR/audience/`: the settings (`PUT /v1/audience` when they differ) and each segment
/// (created, or replaced when it differs). False when a file or the server refused one.
async fn push_audience(client: &Client, dir: &Path) -> anyhow::Result<bool> {
    if !dir.is_dir() {
        return Ok(true);
    }
    let audience = files::read_audience(dir)?;
    let mut ok = true;
    let refused = |file: &Path, problems: &[Problem]| {
        println!("{}: refused, {} problem(s); nothing pushed", file.display(), problems.len());
        for p in problems {
            println!("  {p}");
        }
    };
    if let Some((file, parsed)) = &audience.settings {
        match parsed {
            Err(problems) => {
                refused(file, problems);
                ok = false;
            }
            Ok(settings) => {
                let body = serde_json::to_value(settings)?;
                let remote = client.json::<Value>(Method::GET, "/v1/audience", None).await?.ok();
                let same = remote
                    .and_then(|r| kairos_engine::audience::Settings::from_value(r).ok())
                    .is_some_and(|r| r == *settings);
                let line = if same {
                    "unchanged".to_string()
                } else {
                    match client.call(Method::PUT, "/v1/audience", Some(&body)).await? {
                        Ok(_) => "saved".to_string(),
                        Err(r) => {
                            ok = false;
                            format!("refused by the server: {r}")
                        }
                    }
                };
                println!("audience settings: {line}");
            }
        }
    }
    for (file, parsed) in &audience.segments {
        let segment = match parsed {
            Err(problems) => {
                refused(file, problems);
                ok = false;
                continue;
            }
            Ok(s) => s,
        };
        let path = format!("/v1/segments/{}", segment.id);
        let body = serde_json::to_value(segment)?;
        let line = match client.json::<Value>(Method::GET, &path, None).await? {
            Ok(remote) => {
                let same = remote.get("name") == body.get("name")
                    && remote.get("condition") == body.get("condition")
                    && remote.get("description").and_then(Value::as_str).unwrap_or_default() == segment.description;
                if same {
                    Ok("unchanged")
                } else {
                    client.call(Method::PUT, &path, Some(&body)).await?.map(|_| "updated")
                }
            }
            Err(r) if r.status == StatusCode::NOT_FOUND => {
                client.call(Method::POST, "/v1/segments", Some(&body)).await?.map(|_| "created")
            }
            Err(r) => Err(r),
        };
        match line {
            Ok(line) => println!("segment {}: {line}", segment.id),
            Err(r) => {
                ok = false;
                println!("segment {}: refused by the server: {r}", segment.id);
            }
        }
    }
    Ok(ok)
}

/// Write `bytes` to `file` unless it holds them already: true when written.
fn write_if_changed(file: &Path, bytes: &str) -> anyhow::Result<bool> {
    if std::fs::read(file).is_ok_and(|old| old == bytes.as_bytes()) {
        return Ok(false);
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(file, bytes).with_context(|| format!("cannot write {}", file.display()))?;
    Ok(true)
}

/// Write the server's audience settings and segments to `dir` (`audience/`), canonical:
/// (written, unchanged, not written).
async fn pull_audience(client: &Client, dir: &Path) -> anyhow::Result<(usize, usize, usize)> {
    let mut docs: Vec<(PathBuf, Result<String, String>)> = Vec::new();
    match client.json::<Value>(Method::GET, "/v1/audience", None).await? {
        Ok(remote) => {
            let parsed = kairos_engine::audience::Settings::from_value(remote)
                .map(|s| s.to_canonical())
                .map_err(|p| format!("the server's settings are not valid ({} problem(s))", p.len()));
            docs.push((dir.join("settings.json"), parsed));
        }
        Err(r) => docs.push((dir.join("settings.json"), Err(format!("the server refused: {r}")))),
    }
    let list = match client.json::<Value>(Method::GET, "/v1/segments", None).await? {
        Ok(list) => list,
        Err(r) => anyhow::bail!("cannot list the server's segments: {r}"),
    };
    for remote in list.get("segments").and_then(Value::as_array).into_iter().flatten() {
        let mut doc = serde_json::Map::new();
        for key in ["id", "name", "description", "condition"] {
            if let Some(v) = remote.get(key).filter(|v| !v.is_null()) {
                doc.insert(key.into(), v.clone());
            }
        }
        let id = remote.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        let parsed = kairos_engine::audience::Segment::from_value(Value::Object(doc))
            .map(|s| s.to_canonical())
            .map_err(|p| format!("the server's segment is not valid ({} problem(s))", p.len()));
        docs.push((dir.join("segments").join(format!("{id}.json")), parsed));
    }
    let (mut written, mut unchanged, mut failed) = (0, 0, 0);
    for (file, doc) in docs {
        match doc {
            Err(why) => {
                failed += 1;
                println!("{}: not written: {why}", file.display());
            }
            Ok(bytes) if write_if_changed(&file, &bytes)? => {
                written += 1;
                println!("{}: written", file.display());
            }
            Ok(_) => {
                unchanged += 1;
                println!("{}: unchanged", file.display());
            }
        }
    }
    Ok((written, unchanged, failed))
}

/// Write each of the server's templates to `DIR/templates/<id>.json`: (written, unchanged, failed).
async fn pull_templates(client: &Client, dir: &Path) -> anyhow::Result<(usize, usize, usize)> {
    let ids = client.list_template_ids().await?;
    let (mut written, mut unchanged, mut failed) = (0, 0, 0);
    if ids.is_empty() {
        return Ok((0, 0, 0));
    }
    let folder = dir.join(files::TEMPLATES_DIR);
    std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    for id in ids {
        let file = folder.join(format!("{id}.json"));
        let path = format!("/v1/templates/{id}");
        let template = match client.json::<Value>(Method::GET, &path, None).await? {
            Ok(detail) => remote_template(&detail),
            Err(r) => {
                failed += 1;
                println!("{}: not written: the server cannot give it: {r}", file.display());
                continue;
            }
        };
        let Some(template) = template.filter(|_| files::is_template(&file)) else {
            failed += 1;
            println!("{}: not written: the server's template does not read as a template file", file.display());
            continue;
        };
        let text = template.to_file().to_canonical();
        if std::fs::read(&file).is_ok_and(|old| old == text.as_bytes()) {
            unchanged += 1;
            println!("{}: unchanged", file.display());
        } else {
            std::fs::write(&file, &text).with_context(|| format!("cannot write {}", file.display()))?;
            written += 1;
            println!("{}: written", file.display());
        }
    }
    Ok((written, unchanged, failed))
}

/// Push one valid journey: (the report line, whether everything succeeded).
async fn push_one(client: &Client, journey: &LocalJourney, publish: bool) -> anyhow::Result<(String, bool)> {
    let body: Value = serde_json::from_str(&journey.canonical)?;
    let path = format!("/v1/workflows/{}", journey.id);
    let draft = match client.json::<Detail>(Method::GET, &path, None).await? {
        Ok(detail) => {
            let same = check::parse(&detail.draft.to_string()).is_ok_and(|w| w.to_canonical() == journey.canonical);
            if same {
                "unchanged"
            } else {
                match client.call(Method::PUT, &path, Some(&body)).await? {
                    Ok(_) => "updated",
                    Err(r) => return Ok((format!("refused by the server: {r}"), false)),
                }
            }
        }
        Err(r) if r.status == StatusCode::NOT_FOUND => {
            match client.call(Method::POST, "/v1/workflows", Some(&body)).await? {
                Ok(_) => "created",
                // Created by someone else meanwhile: replace its draft.
                Err(r) if r.status == StatusCode::CONFLICT => match client.call(Method::PUT, &path, Some(&body)).await?
                {
                    Ok(_) => "updated",
                    Err(r) => return Ok((format!("refused by the server: {r}"), false)),
                },
                Err(r) => return Ok((format!("refused by the server: {r}"), false)),
            }
        }
        Err(r) => return Ok((format!("refused by the server: {r}"), false)),
    };
    if !publish {
        return Ok((draft.to_string(), true));
    }
    match client.call(Method::POST, &format!("{path}/publish"), None).await? {
        Ok((status, text)) => {
            let v: Published = client.decode(&format!("{path}/publish"), &text)?;
            Ok(if status == StatusCode::CREATED {
                (format!("{draft}, published v{}", v.version), true)
            } else {
                (format!("{draft}, publish unchanged (v{} is live)", v.version), true)
            })
        }
        Err(r) => Ok((format!("{draft}, but publishing was refused: {r}"), false)),
    }
}

/// Largest test file `push` uploads (the server's default body limit).
const MAX_TEST_FILE_BYTES: u64 = 1 << 20;

/// Upload the journey's test file, if it has one: (the report line, whether it worked).
async fn push_tests(client: &Client, journey: &LocalJourney) -> anyhow::Result<Option<(String, bool)>> {
    let file = files::test_file_of(&journey.file);
    let Ok(meta) = std::fs::metadata(&file) else { return Ok(None) };
    if meta.len() > MAX_TEST_FILE_BYTES {
        let line = format!("tests not uploaded: {} is larger than the 1 MiB the server accepts", file.display());
        return Ok(Some((line, false)));
    }
    let text = files::read(&file)?;
    let local: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return Ok(Some((format!("tests not uploaded: {} is not JSON: {e}", file.display()), false))),
    };
    let path = format!("/v1/workflows/{}/tests", journey.id);
    if let Ok(remote) = client.json::<Value>(Method::GET, &path, None).await?
        && remote == local
    {
        return Ok(Some(("tests unchanged".into(), true)));
    }
    Ok(Some(match client.send(Method::PUT, &path, Some(text.trim_end().to_string())).await? {
        Ok(_) => {
            let n = local.get("tests").and_then(Value::as_array).map_or(0, Vec::len);
            (format!("tests uploaded ({n} case(s))"), true)
        }
        Err(r) => (format!("tests refused by the server: {r}"), false),
    }))
}

/// What writing one file did.
enum Written {
    Written,
    Unchanged,
}

/// Write the server's test file of `id` beside its journey in `dir`, if it has tests.
async fn pull_tests(
    client: &Client,
    id: &str,
    dir: &Path,
) -> anyhow::Result<Option<(PathBuf, Result<Written, String>)>> {
    let path = format!("/v1/workflows/{id}/tests");
    let file = dir.join(format!("{id}.test.json"));
    let text = match client.call(Method::GET, &path, None).await? {
        Ok((_, text)) => text,
        Err(r) => return Ok(Some((file, Err(format!("the server cannot give its tests: {r}"))))),
    };
    let remote: Value = client.decode(&path, &text)?;
    if remote.get("tests").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        return Ok(None);
    }
    let local = std::fs::read_to_string(&file).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok());
    if local.as_ref() == Some(&remote) {
        return Ok(Some((file, Ok(Written::Unchanged))));
    }
    // Text saved by `push` keeps its layout; a file saved in one line (by the editor) is indented.
    let text = if text.trim_end().contains('\n') {
        format!("{}\n", text.trim_end())
    } else {
        format!("{}\n", serde_json::to_string_pretty(&remote)?)
    };
    std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    Ok(Some((file, Ok(Written::Written))))
}

/// Write the canonical file of each of the server's journeys to `DIR/<id>.json`, and its
/// tests to `DIR/<id>.test.json` when it has some.
pub fn pull(args: PullArgs) -> anyhow::Result<bool> {
    let client = Client::new(&args.server)?;
    runtime()?.block_on(async {
        let ids = client.list_ids().await?;
        std::fs::create_dir_all(&args.dir).with_context(|| format!("cannot create {}", args.dir.display()))?;
        let (mut written, mut unchanged, mut failed) = pull_templates(&client, &args.dir).await?;
        let (w, u, f) = pull_audience(&client, &args.dir.join(files::AUDIENCE_DIR)).await?;
        (written, unchanged, failed) = (written + w, unchanged + u, failed + f);
        for id in &ids {
            let file = args.dir.join(format!("{id}.json"));
            if !files::is_journey(&file) {
                failed += 1;
                println!("{id}: not written: {} would be taken for a schema, not a journey", file.display());
                continue;
            }
            let text = match client.call(Method::GET, &format!("/v1/workflows/{id}/export"), None).await? {
                Ok((_, text)) => text,
                Err(r) => {
                    failed += 1;
                    println!("{id}: not written: the server cannot export it: {r}");
                    continue;
                }
            };
            let library = files::load_library(&args.dir.join(files::TEMPLATES_DIR))?.library;
            if let Err(problems) = check::validate_in(&text, &library) {
                failed += 1;
                println!("{id}: not written: the server's draft is not valid ({} problem(s))", problems.len());
                for p in &problems {
                    println!("  {p}");
                }
                continue;
            }
            if std::fs::read(&file).is_ok_and(|old| old == text.as_bytes()) {
                unchanged += 1;
                println!("{}: unchanged", file.display());
            } else {
                std::fs::write(&file, &text).with_context(|| format!("cannot write {}", file.display()))?;
                written += 1;
                println!("{}: written", file.display());
            }
            match pull_tests(&client, id, &args.dir).await? {
                None => {}
                Some((file, Ok(Written::Written))) => {
                    written += 1;
                    println!("{}: written", file.display());
                }
                Some((file, Ok(Written::Unchanged))) => {
                    unchanged += 1;
                    println!("{}: unchanged", file.display());
                }
                Some((file, Err(why))) => {
                    failed += 1;
                    println!("{}: not written: {why}", file.display());
                }
            }
        }
        println!("{written} file(s) written, {unchanged} unchanged, {failed} not written");
        Ok(failed == 0)
    })
}

/// Report what `push` would change. Ok(true) when nothing differs.
pub fn diff(args: DiffArgs) -> anyhow::Result<bool> {
    let client = Client::new(&args.server)?;
    let mut libraries = files::Libraries::default();
    let journey_files = local_files(&args.dir)?;
    let found =
        files::Found { journeys: journey_files.clone(), templates: local_template_files(&args.dir), audience: vec![] };
    let templates = local_templates(&found, &mut libraries)?;
    let locals = load_local(&journey_files, &mut libraries)?;
    runtime()?.block_on(async {
        let on_server: BTreeSet<String> = client.list_ids().await?.into_iter().collect();
        let mut seen = BTreeSet::new();
        let (templates_differ, templates_same) = diff_templates(&client, &templates).await?;
        let (mut differ, mut same) = (0, 0);
        for local in &locals {
            let journey = match local {
                Local::Invalid { file, id, problems } => {
                    seen.extend(id.clone());
                    differ += 1;
                    println!("! {}: invalid, push would refuse it ({} problem(s))", file.display(), problems.len());
                    for p in problems {
                        println!("    {p}");
                    }
                    continue;
                }
                Local::Valid(journey) => journey,
            };
            seen.insert(journey.id.clone());
            if !on_server.contains(&journey.id) {
                differ += 1;
                println!("+ {}: new, not on the server ({})", journey.id, journey.file.display());
                continue;
            }
            let path = format!("/v1/workflows/{}/export", journey.id);
            let remote = match client.call(Method::GET, &path, None).await? {
                Ok((_, text)) => text,
                Err(r) => {
                    differ += 1;
                    println!("~ {}: the server's draft cannot be exported; push would replace it: {r}", journey.id);
                    continue;
                }
            };
            if remote == journey.canonical {
                same += 1;
                continue;
            }
            differ += 1;
            let local: Value = serde_json::from_str(&journey.canonical)?;
            let remote: Value = client.decode(&path, &remote)?;
            let changes = compare(&local, &remote);
            if changes.lines.is_empty() && !changes.moved.is_empty() {
                println!("~ {}: layout only (moved: {})", journey.id, changes.moved.join(", "));
                continue;
            }
            println!("~ {}", journey.id);
            for line in &changes.lines {
                println!("    {line}");
            }
            if !changes.moved.is_empty() {
                println!("    ~ layout: moved {}", changes.moved.join(", "));
            }
        }
        for id in on_server.difference(&seen) {
            differ += 1;
            println!("- {id}: only on the server");
        }
        let had_templates = templates_differ + templates_same > 0;
        if differ + templates_differ == 0 && had_templates {
            println!("no differences ({same} journey(s) and {templates_same} template(s) identical)");
        } else if differ + templates_differ == 0 {
            println!("no differences ({same} journey(s) identical)");
        } else if had_templates {
            println!(
                "{differ} journey(s) differ, {same} identical; {templates_differ} template(s) differ, {templates_same} identical"
            );
        } else {
            println!("{differ} journey(s) differ, {same} identical");
        }
        Ok(differ + templates_differ == 0)
    })
}

// ----- Comparing two journeys -----

/// The differences between a local journey and the server's, in canonical JSON.
struct Changes {
    /// One line per change that affects behaviour or text.
    lines: Vec<String>,
    /// Ids whose editor position differs (added, removed or moved).
    moved: Vec<String>,
}

fn compare(local: &Value, remote: &Value) -> Changes {
    let get = |v: &Value, k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let mut lines = Vec::new();
    for key in ["$schema", "name"] {
        let (l, r) = (get(local, key), get(remote, key));
        if l != r {
            lines.push(format!("~ {key}: {} → {}", short(&r), short(&l)));
        }
    }
    if get(local, "description") != get(remote, "description") {
        lines.push("~ description changed".into());
    }
    for key in ["trigger", "settings"] {
        let (l, r) = (get(local, key), get(remote, key));
        if l != r {
            lines.push(format!("~ {key}: {} changed", changed_fields(&l, &r).join(", ")));
        }
    }
    lines.extend(compare_nodes(&get(local, "nodes"), &get(remote, "nodes")));
    // Anything else a future format adds.
    let known = ["$schema", "id", "name", "description", "trigger", "settings", "nodes", "layout"];
    for key in union_keys(local, remote) {
        if !known.contains(&key.as_str()) && get(local, &key) != get(remote, &key) {
            lines.push(format!("~ {key} changed"));
        }
    }
    let (l, r) = (get(local, "layout"), get(remote, "layout"));
    let moved = union_keys(&l, &r).into_iter().filter(|k| l.get(k) != r.get(k)).collect();
    Changes { lines, moved }
}

/// Nodes added, removed and changed (by id), and a pure reordering.
fn compare_nodes(local: &Value, remote: &Value) -> Vec<String> {
    let by_id = |v: &Value| -> Vec<(String, Value)> {
        v.as_array()
            .map(|nodes| {
                nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        let id = n.get("id").and_then(Value::as_str).map_or_else(|| format!("#{i}"), str::to_string);
                        (id, n.clone())
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (l, r) = (by_id(local), by_id(remote));
    let r_map: HashMap<&str, &Value> = r.iter().map(|(id, n)| (id.as_str(), n)).collect();
    let l_map: HashMap<&str, &Value> = l.iter().map(|(id, n)| (id.as_str(), n)).collect();
    let kind = |n: &Value| n.get("type").and_then(Value::as_str).unwrap_or("?").to_string();
    let mut lines = Vec::new();
    for (id, node) in &l {
        match r_map.get(id.as_str()) {
            None => lines.push(format!("+ {id}: added ({})", kind(node))),
            Some(old) if *old != node => {
                lines.push(format!("~ {id}: {} changed", changed_fields(node, old).join(", ")));
            }
            Some(_) => {}
        }
    }
    for (id, node) in &r {
        if !l_map.contains_key(id.as_str()) {
            lines.push(format!("- {id}: removed ({})", kind(node)));
        }
    }
    if lines.is_empty() && local != remote {
        lines.push("~ nodes: order changed (no effect on behaviour)".into());
    }
    lines
}

/// The top-level fields of two objects that differ (or `value` when they are not objects).
fn changed_fields(a: &Value, b: &Value) -> Vec<String> {
    if !(a.is_object() && b.is_object()) {
        return vec!["value".into()];
    }
    union_keys(a, b).into_iter().filter(|k| a.get(k) != b.get(k)).collect()
}

/// The keys of two objects, sorted.
fn union_keys(a: &Value, b: &Value) -> Vec<String> {
    let keys = |v: &Value| v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    let mut all: BTreeSet<String> = keys(a).into_iter().collect();
    all.extend(keys(b));
    all.into_iter().collect()
}

/// A value in a line of text, cut short.
fn short(v: &Value) -> String {
    let s = match v {
        Value::Null => "(none)".to_string(),
        other => other.to_string(),
    };
    if s.chars().count() > 60 { format!("{}…", s.chars().take(59).collect::<String>()) } else { s }
}

// ----- Local files -----

/// A valid journey file.
struct LocalJourney {
    file: PathBuf,
    id: String,
    /// The canonical bytes: what is pushed, and what the server's export gives back.
    canonical: String,
}

enum Local {
    Valid(LocalJourney),
    /// A file push refuses: every problem, and its id if it can be read.
    Invalid {
        file: PathBuf,
        id: Option<String>,
        problems: Vec<Problem>,
    },
}

/// Report the templates that differ from the server's: (differ, same).
async fn diff_templates(client: &Client, templates: &[LocalTemplate]) -> anyhow::Result<(usize, usize)> {
    let on_server: BTreeSet<String> = client.list_template_ids().await?.into_iter().collect();
    let (mut differ, mut same) = (0, 0);
    let mut seen = BTreeSet::new();
    for (file, template) in templates {
        let t = match template {
            Ok(t) => t,
            Err(problems) => {
                differ += 1;
                println!("! {}: invalid, push would refuse it ({} problem(s))", file.display(), problems.len());
                for p in problems {
                    println!("    {p}");
                }
                continue;
            }
        };
        seen.insert(t.id.clone());
        if !on_server.contains(&t.id) {
            differ += 1;
            println!("+ template {}: new, not on the server ({})", t.id, file.display());
            continue;
        }
        let remote = match client.json::<Value>(Method::GET, &format!("/v1/templates/{}", t.id), None).await? {
            Ok(detail) => remote_template(&detail),
            Err(_) => None,
        };
        match remote {
            Some(r) if r.to_document() == t.to_document() => same += 1,
            Some(r) => {
                differ += 1;
                let (l, r): (Value, Value) =
                    (serde_json::from_str(&t.to_document())?, serde_json::from_str(&r.to_document())?);
                println!("~ template {}: {} changed", t.id, changed_fields(&l, &r).join(", "));
            }
            None => {
                differ += 1;
                println!("~ template {}: the server's cannot be read; push would replace it", t.id);
            }
        }
    }
    for id in on_server.difference(&seen) {
        differ += 1;
        println!("- template {id}: only on the server");
    }
    Ok((differ, same))
}

/// The template files under `dir` (its `templates/` folders).
fn local_template_files(dir: &Path) -> Vec<PathBuf> {
    files::find(&[dir.to_path_buf()]).map(|f| f.templates).unwrap_or_default()
}

/// Validate each file against its template library; a second file with an id already
/// seen is refused.
fn load_local(paths: &[PathBuf], libraries: &mut files::Libraries) -> anyhow::Result<Vec<Local>> {
    let mut first: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut out = Vec::new();
    for file in paths {
        let text = files::read(file)?;
        match check::validate_in(&text, &libraries.of(file)?.library) {
            Ok(journey) => {
                let id = journey.id().to_string();
                if let Some(other) = first.get(&id) {
                    let problem = Problem::new(
                        Kind::InvalidId,
                        "/id",
                        format!("the id `{id}` is already used by {}; each journey needs its own id", other.display()),
                    );
                    out.push(Local::Invalid { file: file.clone(), id: Some(id), problems: vec![problem] });
                    continue;
                }
                first.insert(id.clone(), file.clone());
                let canonical = journey.workflow().to_canonical();
                out.push(Local::Valid(LocalJourney { file: file.clone(), id, canonical }));
            }
            Err(problems) => {
                let id =
                    serde_json::from_str::<Value>(&text).ok().and_then(|v| v.get("id")?.as_str().map(str::to_string));
                out.push(Local::Invalid { file: file.clone(), id, problems });
            }
        }
    }
    Ok(out)
}

/// The journey files of a folder that may hold none (diff: then everything is on the server only).
fn local_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if meta.is_dir() && !has_journey(dir)? {
        return Ok(vec![]);
    }
    files::journeys(&[dir.to_path_buf()])
}

fn has_journey(dir: &Path) -> anyhow::Result<bool> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if (path.is_dir() && has_journey(&path)?) || (!path.is_dir() && files::is_journey(&path)) {
            return Ok(true);
        }
    }
    Ok(false)
}

// ----- The HTTP client -----

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

struct Client {
    http: reqwest::Client,
    /// Base URL without a trailing `/`.
    base: String,
    key: String,
}

/// `GET /v1/workflows/{id}` (the fields used here).
#[derive(Deserialize)]
struct Detail {
    draft: Value,
}

/// A page of `GET /v1/workflows`.
#[derive(Deserialize)]
struct Page {
    data: Vec<Summary>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct Summary {
    id: String,
}

/// The answer of `POST …/publish`.
#[derive(Deserialize)]
struct Published {
    version: u32,
}

/// An error answer of the server (problem+json, RFC 9457).
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: Option<String>,
    detail: String,
    errors: Vec<RefusalItem>,
}

#[derive(Debug, Default, Deserialize)]
struct ProblemBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    errors: Vec<RefusalItem>,
}

#[derive(Debug, Deserialize)]
struct RefusalItem {
    #[serde(default)]
    pointer: String,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: Option<String>,
}

impl Refusal {
    fn from_body(status: StatusCode, text: &str) -> Refusal {
        match serde_json::from_str::<ProblemBody>(text) {
            Ok(p) => Refusal { status, code: p.code, detail: p.detail.unwrap_or_default(), errors: p.errors },
            Err(_) => {
                let text = text.trim();
                let detail = if text.chars().count() > 200 {
                    format!("{}…", text.chars().take(200).collect::<String>())
                } else {
                    text.to_string()
                };
                Refusal { status, code: None, detail, errors: vec![] }
            }
        }
    }
}

impl std::fmt::Display for Refusal {
    /// `422 Unprocessable Entity (invalid_workflow): detail`, then one indented line per item.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.status.as_u16())?;
        if let Some(reason) = self.status.canonical_reason() {
            write!(f, " {reason}")?;
        }
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        for item in &self.errors {
            let pointer = if item.pointer.is_empty() { "/" } else { &item.pointer };
            write!(f, "\n  {pointer}")?;
            if let Some(node) = &item.node {
                write!(f, " [node `{node}`]")?;
            }
            write!(f, ": {}", item.message)?;
            if let Some(code) = &item.code {
                write!(f, " ({code})")?;
            }
        }
        Ok(())
    }
}

/// The whole chain of an error, `outer: inner: innermost`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            let _ = write!(out, ": {text}");
        }
        source = s.source();
    }
    out
}

impl Client {
    fn new(args: &ServerArgs) -> anyhow::Result<Client> {
        let key = match args.api_key.as_deref().map(str::trim) {
            Some(k) if !k.is_empty() => k.to_string(),
            _ => bail!(
                "no API key: pass --api-key KEY or set KAIROS_API_KEY (`kairos apikey create` makes one on the server's database)"
            ),
        };
        let base = args.server.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--server must be an http:// or https:// URL, e.g. http://127.0.0.1:8080; got `{}`", args.server);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("kairos-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Client { http, base, key })
    }

    /// One request. The outer error is fatal (the server cannot be reached, or refuses the
    /// key); the inner one is the server refusing this request.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Result<(StatusCode, String), Refusal>> {
        self.send(method, path, body.map(Value::to_string)).await
    }

    /// [`Client::call`] with a body of JSON text sent as it is.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<Result<(StatusCode, String), Refusal>> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => bail!("cannot reach the Kairos server at {} ({method} {path}): {}", self.base, chain(&e)),
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => bail!("the answer to {method} {url} could not be read: {}", chain(&e)),
        };
        if status.is_success() {
            return Ok(Ok((status, text)));
        }
        let refusal = Refusal::from_body(status, &text);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            bail!("the server at {} refused the API key: {refusal}", self.base);
        }
        Ok(Err(refusal))
    }

    /// A request whose success answer is JSON of type `T`.
    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Result<T, Refusal>> {
        Ok(match self.call(method, path, body).await? {
            Ok((_, text)) => Ok(self.decode(path, &text)?),
            Err(r) => Err(r),
        })
    }

    fn decode<T: DeserializeOwned>(&self, path: &str, text: &str) -> anyhow::Result<T> {
        serde_json::from_str(text).with_context(|| {
            format!("unexpected answer from {}{path}; is this a Kairos server of the same version?", self.base)
        })
    }

    /// Every template id on the server, in id order.
    async fn list_template_ids(&self) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/v1/templates?limit=500&after={a}"),
                None => "/v1/templates?limit=500".to_string(),
            };
            let page: Page = match self.json(Method::GET, &path, None).await? {
                Ok(p) => p,
                Err(r) => bail!("cannot list the server's templates: {r}"),
            };
            ids.extend(page.data.into_iter().map(|s| s.id));
            match page.next {
                Some(n) if Some(&n) != after.as_ref() => after = Some(n),
                _ => return Ok(ids),
            }
        }
    }

    /// Every workflow id on the server, in id order.
    async fn list_ids(&self) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/v1/workflows?limit=500&after={a}"),
                None => "/v1/workflows?limit=500".to_string(),
            };
            let page: Page = match self.json(Method::GET, &path, None).await? {
                Ok(p) => p,
                Err(r) => bail!("cannot list the server's workflows: {r}"),
            };
            ids.extend(page.data.into_iter().map(|s| s.id));
            match page.next {
                Some(n) if Some(&n) != after.as_ref() => after = Some(n),
                _ => return Ok(ids),
            }
        }
    }
}
