//! `kairos serve --load DIR`: push and publish the journeys of a folder at start, with
//! their journey tests (`<id>.test.json`) for the editor's test panel, and the template
//! library of `DIR/templates/` first.

use anyhow::{Context, bail};
use kairos_engine::library::{self, Library, Template};
use kairos_engine::scheduler::Scheduler;
use kairos_engine::store;
use std::path::Path;

/// Save each template of `DIR/templates/` (a new version when it changed), then create
/// or update each journey's draft from its file and publish it when the live version
/// differs (in its definition or the template versions it would pin). Returns (id, what
/// happened). Any invalid file stops the start.
pub async fn load_dir(scheduler: &Scheduler, dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = load_templates(scheduler, &dir.join("templates")).await?;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.ends_with(".json") && !name.ends_with(".test.json") && !name.ends_with("schema.json")
        })
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let library = store::template_library(scheduler.store().reader(), &library::referenced_versions(&doc)).await?;
        let journey = match kairos_engine::validate::validate_in(&text, &library) {
            Ok(j) => j,
            Err(problems) => {
                let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
                bail!("{} is not a valid journey:\n{}", file.display(), list.join("\n"));
            }
        };
        let unknown =
            kairos_engine::consent::unknown_topics(&journey, &store::topic_ids(scheduler.store().reader()).await?);
        if !unknown.is_empty() {
            let list: Vec<String> = unknown.iter().map(|p| format!("  {p}")).collect();
            bail!(
                "{} names topics this server does not have (create them with POST /v1/topics first):\n{}",
                file.display(),
                list.join("\n")
            );
        }
        let wf = journey.workflow().clone();
        let canonical = wf.to_canonical();
        let pins = journey.template_pins();
        let draft: serde_json::Value = serde_json::from_str(&canonical)?;
        let now = scheduler.now();
        let outcome = scheduler
            .store()
            .writer()
            .run(move |tx| {
                Box::pin(async move {
                    let existing = store::get_workflow(tx, &wf.id).await?;
                    match &existing {
                        None => {
                            store::create_workflow(tx, &wf.id, &wf.name, &draft, now).await?;
                        }
                        Some(_) => {
                            store::save_draft(tx, &wf.id, &wf.name, &draft, now).await?;
                        }
                    }
                    let live = match existing.as_ref().and_then(|w| w.live_version) {
                        Some(v) => match store::get_version(tx, &wf.id, v).await? {
                            Some(r) => Some((r.definition, store::get_pins(tx, &wf.id, v).await?)),
                            None => None,
                        },
                        None => None,
                    };
                    if live.as_ref().is_some_and(|(d, p)| *d == canonical && *p == pins) {
                        return Ok("unchanged".to_string());
                    }
                    let v = store::publish(tx, &wf.id, &canonical, now).await?.unwrap_or_default();
                    store::save_pins(tx, &wf.id, v, &pins).await?;
                    Ok(format!("published version {v}"))
                })
            })
            .await?;
        let tests = load_tests(scheduler, journey.id(), &file).await?;
        out.push((journey.id().to_string(), format!("{outcome}{tests}")));
    }
    scheduler.reload_live().await?;
    Ok(out)
}

/// Check the template files of `dir` (each on its own and against the others) and save
/// each one that differs from its latest stored version. No folder: no templates.
async fn load_templates(scheduler: &Scheduler, dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(vec![]) };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            p.is_file() && name.ends_with(".json") && !name.ends_with("schema.json")
        })
        .collect();
    files.sort();
    let mut templates: Vec<Template> = Vec::new();
    let mut library = Library::new();
    for file in &files {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let template = match library::validate(&text) {
            Ok(t) => t,
            Err(problems) => {
                let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
                bail!("{} is not a valid template:\n{}", file.display(), list.join("\n"));
            }
        };
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if template.id != stem {
            bail!("{}: the template's id `{}` must be the file's name", file.display(), template.id);
        }
        library.insert(template.clone());
        templates.push(template);
    }
    if let Some((id, problems)) = library.check().into_iter().next() {
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        bail!("{} is not a valid template:\n{}", dir.join(format!("{id}.json")).display(), list.join("\n"));
    }
    let mut out = Vec::new();
    for template in templates {
        let now = scheduler.now();
        let id = template.id.clone();
        let saved = scheduler
            .store()
            .writer()
            .run(move |tx| {
                Box::pin(async move {
                    match store::update_template(tx, &template, now).await? {
                        store::TemplateSave::NotFound => store::create_template(tx, &template, now).await,
                        other => Ok(other),
                    }
                })
            })
            .await?;
        let what = match saved {
            store::TemplateSave::Created(v) => format!("template created (version {})", v.version()),
            store::TemplateSave::NewVersion(v) => format!("template saved as version {}", v.version()),
            store::TemplateSave::Unchanged(v) => format!("template unchanged (version {})", v.version()),
            store::TemplateSave::KindChanged { from } => {
                bail!("the template `{id}` is a {} on the server; its kind cannot change", from.name())
            }
            store::TemplateSave::Exists | store::TemplateSave::NotFound => "template not saved".to_string(),
        };
        out.push((format!("templates/{id}"), what));
    }
    Ok(out)
}

/// Store the journey's test file, if it has one that parses: what to add to the report.
async fn load_tests(scheduler: &Scheduler, id: &str, journey: &Path) -> anyhow::Result<String> {
    let stem = journey.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let path = journey.with_file_name(format!("{stem}.test.json"));
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(String::new()) };
    if let Err(e) = kairos_engine::journey_test::parse(&text) {
        tracing::warn!(file = %path.display(), error = %e, "Journey tests not loaded");
        return Ok(", tests not loaded (they do not parse)".into());
    }
    let (id, now) = (id.to_string(), scheduler.now());
    let text = text.trim_end().to_string();
    scheduler
        .store()
        .writer()
        .run(move |tx| Box::pin(async move { store::save_journey_tests(tx, &id, &text, now).await }))
        .await?;
    Ok(", tests loaded".into())
}
