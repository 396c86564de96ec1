//! `kairos serve --load DIR`: push and publish the journeys of a folder at start, with
//! their journey tests (`<id>.test.json`) for the editor's test panel.

use anyhow::{Context, bail};
use kairos_engine::scheduler::Scheduler;
use kairos_engine::store;
use std::path::Path;

/// Create or update each journey's draft from its file and publish it when the live
/// version differs. Returns (id, what happened). Any invalid file stops the start.
pub async fn load_dir(scheduler: &Scheduler, dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.ends_with(".json") && !name.ends_with(".test.json") && !name.ends_with("schema.json")
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let journey = match kairos_engine::validate(&text) {
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
                        Some(v) => store::get_version(tx, &wf.id, v).await?.map(|v| v.definition),
                        None => None,
                    };
                    if live.as_deref() == Some(canonical.as_str()) {
                        return Ok("unchanged".to_string());
                    }
                    let v = store::publish(tx, &wf.id, &canonical, now).await?.unwrap_or_default();
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
