//! `kairos serve --load DIR`: push and publish the journeys of a folder at start, with
//! their journey tests (`<id>.test.json`) for the editor's test panel, and the template
//! library of `DIR/templates/` first.

use anyhow::{Context, bail};
use kairos_engine::library::{self, Library, Template};
use kairos_engine::scheduler::Scheduler;
use kairos_engine::store;
use std::path::{Path, PathBuf};

/// Save each template of `DIR/templates/` (a new version when it changed), then create
/// or update each journey's draft from its file and publish it when the live version
/// differs (in its definition or the template versions it would pin). Returns (id, what
/// happened). Any invalid file stops the start.
pub async fn load_dir(scheduler: &Scheduler, dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = load_templates(scheduler, &dir.join("templates")).await?;
    out.extend(load_audience(scheduler, &dir.join(AUDIENCE_DIR)).await?);
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
        if let Some(segment) = journey.workflow().trigger.segment()
            && store::get_segment(scheduler.store().reader(), segment).await?.is_none()
        {
            bail!(
                "{}: the trigger names the segment `{segment}`, which this server does not have (add {}/segments/{segment}.json)",
                file.display(),
                AUDIENCE_DIR
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

/// Save the audience folder's settings and segments (each checked; any problem stops the
/// start). No folder: nothing.
async fn load_audience(scheduler: &Scheduler, dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    if !dir.is_dir() {
        return Ok(vec![]);
    }
    let audience = read_audience(dir)?;
    let invalid = |file: &Path, problems: Vec<kairos_engine::Problem>| {
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        anyhow::anyhow!("{} is not valid:\n{}", file.display(), list.join("\n"))
    };
    let mut out = Vec::new();
    let now = scheduler.now();
    if let Some((file, parsed)) = audience.settings {
        let settings = parsed.map_err(|p| invalid(&file, p))?;
        let stored = store::get_audience_settings(scheduler.store().reader()).await?;
        if stored != settings {
            scheduler
                .store()
                .writer()
                .run(move |tx| Box::pin(async move { store::put_audience_settings(tx, &settings, now).await }))
                .await?;
            out.push(("audience/settings".into(), "saved".into()));
        } else {
            out.push(("audience/settings".into(), "unchanged".into()));
        }
    }
    for (file, parsed) in audience.segments {
        let segment = parsed.map_err(|p| invalid(&file, p))?;
        let id = segment.id.clone();
        let stored = store::get_segment(scheduler.store().reader(), &id).await?;
        let what = match stored {
            Some(r) if r.segment == segment => "unchanged",
            Some(_) => "updated",
            None => "created",
        };
        if what != "unchanged" {
            scheduler
                .store()
                .writer()
                .run(move |tx| Box::pin(async move { store::save_segment(tx, &segment, false, now).await }))
                .await?;
        }
        out.push((format!("audience/segments/{id}"), format!("segment {what}")));
    }
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

/// The folder beside the journeys that holds the audience: `settings.json` (stages, stage
/// rules, scoring, RFM) and `segments/<id>.json`.
pub const AUDIENCE_DIR: &str = "audience";

/// An audience folder as read: the settings and segments, each with its problems.
#[derive(Debug, Default)]
pub struct LocalAudience {
    pub settings: Option<(PathBuf, Result<kairos_engine::audience::Settings, Vec<kairos_engine::Problem>>)>,
    pub segments: Vec<(PathBuf, Result<kairos_engine::audience::Segment, Vec<kairos_engine::Problem>>)>,
}

impl LocalAudience {
    /// Whether the folder has a segment with this id.
    pub fn has_segment(&self, id: &str) -> bool {
        self.segments.iter().any(|(_, s)| s.as_ref().is_ok_and(|s| s.id == id))
    }
}

fn read_json(path: &Path) -> Result<serde_json::Value, Vec<kairos_engine::Problem>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![kairos_engine::Problem::new(
            kairos_engine::problem::Kind::MalformedJson,
            "",
            format!("cannot read it: {e}"),
        )]
    })?;
    serde_json::from_str(&text).map_err(|e| {
        vec![kairos_engine::Problem::new(kairos_engine::problem::Kind::MalformedJson, "", format!("not JSON: {e}"))]
    })
}

/// Read the audience folder `dir` (missing: empty). Each segment's id must be its file's name.
pub fn read_audience(dir: &Path) -> anyhow::Result<LocalAudience> {
    let mut out = LocalAudience::default();
    let settings = dir.join("settings.json");
    if settings.is_file() {
        let parsed = read_json(&settings).and_then(kairos_engine::audience::Settings::from_value);
        out.settings = Some((settings, parsed));
    }
    let Ok(entries) = std::fs::read_dir(dir.join("segments")) else { return Ok(out) };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in files {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let parsed = read_json(&file).and_then(kairos_engine::audience::Segment::from_value).and_then(|s| {
            if s.id == stem {
                Ok(s)
            } else {
                Err(vec![kairos_engine::Problem::new(
                    kairos_engine::problem::Kind::InvalidId,
                    "/id",
                    format!("the segment's id `{}` must be the file's name (`{stem}`)", s.id),
                )])
            }
        });
        out.segments.push((file, parsed));
    }
    Ok(out)
}
