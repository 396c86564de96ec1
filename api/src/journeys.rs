//! `kairos validate | fmt | test | simulate | schema`: journey files on disk, and the
//! template library beside them (`templates/<id>.json`).

use crate::files::{Libraries, find, journeys, read, test_file_of};
use anyhow::Context;
use kairos_engine::simulate::{Scenario, TimedEvent};
use kairos_engine::validate as check;
use kairos_engine::{Contact, Problem, journey_test, library, schema};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Returns Ok(true) when every file is valid: each journey against the templates beside
/// it, and each template file (on its own and against the rest of its library).
pub fn validate(paths: &[PathBuf], as_json: bool) -> anyhow::Result<bool> {
    let found = find(paths)?;
    let mut libraries = Libraries::default();
    let mut checked: Vec<(PathBuf, Vec<Problem>)> = Vec::new();
    for file in &found.journeys {
        let library = &libraries.of(file)?.library;
        let problems = match check::validate_in(&read(file)?, library) {
            Ok(_) => vec![],
            Err(problems) => problems,
        };
        checked.push((file.clone(), problems));
    }
    // The audience folders: their files, and the segments the journeys beside them name.
    let mut audiences = std::collections::BTreeMap::new();
    for dir in found.audience.iter().cloned().chain(found.journeys.iter().map(|j| crate::files::audience_dir_of(j))) {
        if !audiences.contains_key(&dir) && dir.is_dir() {
            audiences.insert(dir.clone(), crate::files::read_audience(&dir)?);
        }
    }
    for (file, problems) in &mut checked {
        let Some(audience) = audiences.get(&crate::files::audience_dir_of(file)) else { continue };
        let doc: serde_json::Value = serde_json::from_str(&read(file)?).unwrap_or_default();
        if let Some(segment) = doc.pointer("/trigger/segment").and_then(|s| s.as_str())
            && !audience.has_segment(segment)
        {
            problems.push(Problem::new(
                kairos_engine::problem::Kind::InvalidValue,
                "/trigger/segment",
                format!("there is no segment `{segment}` in {}", audience_dir_display(file)),
            ));
        }
    }
    for dir in &found.audience {
        let Some(audience) = audiences.get(dir) else { continue };
        if let Some((file, parsed)) = &audience.settings {
            checked.push((file.clone(), parsed.as_ref().err().cloned().unwrap_or_default()));
        }
        for (file, parsed) in &audience.segments {
            checked.push((file.clone(), parsed.as_ref().err().cloned().unwrap_or_default()));
        }
    }
    for file in &found.templates {
        let problems = libraries
            .at(file.parent().unwrap_or(Path::new(".")))?
            .files
            .iter()
            .find(|(f, _)| f == file)
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        checked.push((file.clone(), problems));
    }
    let mut all_ok = true;
    let mut report = Vec::new();
    let count = checked.len();
    for (file, problems) in checked {
        let file = &file;
        all_ok &= problems.is_empty();
        if as_json {
            report.push(json!({ "file": file, "valid": problems.is_empty(), "problems": problems }));
        } else {
            print_problems(file, &problems);
        }
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{count} file(s) checked, {}", if all_ok { "all valid" } else { "some with problems" });
    }
    Ok(all_ok)
}

fn audience_dir_display(journey: &Path) -> String {
    format!("{}/segments", crate::files::audience_dir_of(journey).display())
}

fn print_problems(file: &Path, problems: &[Problem]) {
    if problems.is_empty() {
        println!("{}: ok", file.display());
        return;
    }
    println!("{}: {} problem(s)", file.display(), problems.len());
    for p in problems {
        println!("  {p}");
    }
}

/// Returns Ok(true) when every file (journeys and templates) is (now) canonical.
pub fn fmt(paths: &[PathBuf], check: bool) -> anyhow::Result<bool> {
    let found = find(paths)?;
    let files: Vec<&PathBuf> = found.journeys.iter().chain(&found.templates).collect();
    let mut ok = true;
    for &file in &files {
        let text = read(file)?;
        let parsed = if found.templates.contains(file) {
            library::parse(&text).map(|t| t.to_canonical())
        } else {
            check::parse(&text).map(|w| w.to_canonical())
        };
        let canonical = match parsed {
            Ok(c) => c,
            Err(problems) => {
                print_problems(file, &problems);
                ok = false;
                continue;
            }
        };
        if canonical == text {
            continue;
        }
        if check {
            println!("{}: not in canonical form (run `kairos fmt {}`)", file.display(), file.display());
            ok = false;
        } else {
            std::fs::write(file, canonical).with_context(|| format!("cannot write {}", file.display()))?;
            println!("{}: formatted", file.display());
        }
    }
    // The audience folders: settings and segments, each in canonical form too.
    let mut audience_files = 0;
    for dir in &found.audience {
        let audience = crate::files::read_audience(dir)?;
        let settings = audience.settings.into_iter().map(|(f, p)| (f, p.map(|s| s.to_canonical())));
        let segments = audience.segments.into_iter().map(|(f, p)| (f, p.map(|s| s.to_canonical())));
        for (file, parsed) in settings.chain(segments) {
            audience_files += 1;
            let canonical = match parsed {
                Ok(c) => c,
                Err(problems) => {
                    print_problems(&file, &problems);
                    ok = false;
                    continue;
                }
            };
            if read(&file)? == canonical {
                continue;
            }
            if check {
                println!("{}: not in canonical form (run `kairos fmt {}`)", file.display(), file.display());
                ok = false;
            } else {
                std::fs::write(&file, canonical).with_context(|| format!("cannot write {}", file.display()))?;
                println!("{}: formatted", file.display());
            }
        }
    }
    if ok {
        println!("{} file(s) in canonical form", files.len() + audience_files);
    }
    Ok(ok)
}

/// Returns Ok(true) when every journey is valid and every test passes.
pub fn test(paths: &[PathBuf]) -> anyhow::Result<bool> {
    let files = journeys(paths)?;
    let mut libraries = Libraries::default();
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        let journey = match check::validate_in(&read(file)?, &libraries.of(file)?.library) {
            Ok(j) => j,
            Err(problems) => {
                print_problems(file, &problems);
                failed += 1;
                continue;
            }
        };
        let test_path = test_file_of(file);
        if !test_path.exists() {
            println!("{} — no tests ({} does not exist)", file.display(), test_path.display());
            continue;
        }
        let tests = match journey_test::parse(&read(&test_path)?) {
            Ok(t) => t,
            Err(e) => {
                println!("{}: {e}", test_path.display());
                failed += 1;
                continue;
            }
        };
        println!("{} ({})", journey.workflow().name, test_path.display());
        let started = Instant::now();
        let reports = journey_test::run(&journey, &tests);
        let elapsed = started.elapsed();
        for r in &reports {
            if r.passed() {
                passed += 1;
                println!("  ✓ {}", r.name);
            } else {
                failed += 1;
                println!("  ✗ {}", r.name);
                for f in &r.failures {
                    println!("      {f}");
                }
                if let Some(diff) = &r.diff {
                    println!("      sends (- expected, + actual):");
                    for line in diff.lines() {
                        println!("        {line}");
                    }
                }
                if !r.timeline.is_empty() {
                    println!("      timeline:");
                    for line in r.timeline.lines() {
                        println!("        {line}");
                    }
                }
            }
        }
        println!("  {} case(s) in {:.1} ms of real time", reports.len(), elapsed.as_secs_f64() * 1000.0);
    }
    println!("journeys: {passed} passed, {failed} failed");
    Ok(failed == 0)
}

/// The options of `kairos simulate` beside its files.
pub struct SimulateOptions {
    pub start: Option<String>,
    pub horizon: Option<String>,
    /// A file of workspace delivery settings.
    pub delivery: Option<std::path::PathBuf>,
    pub json: bool,
}

pub fn simulate(file: &Path, contact: &Path, events: Option<&Path>, options: SimulateOptions) -> anyhow::Result<bool> {
    let SimulateOptions { start, horizon, delivery, json: as_json } = options;
    let library = crate::files::load_library(&crate::files::templates_dir_of(file))?.library;
    let journey = match check::validate_in(&read(file)?, &library) {
        Ok(j) => j,
        Err(problems) => {
            print_problems(file, &problems);
            return Ok(false);
        }
    };
    let contact: Contact = serde_json::from_str(&read(contact)?).with_context(|| {
        format!("{} is not a contact (`{{\"id\": \"c1\", \"attributes\": {{}}}}`)", contact.display())
    })?;
    let events: Vec<TimedEvent> = match events {
        Some(path) => serde_json::from_str(&read(path)?).with_context(|| {
            format!("{} is not a list of events (`[{{\"at\": \"0s\", \"name\": \"...\"}}]`)", path.display())
        })?,
        None => vec![],
    };
    let delivery = match delivery {
        Some(path) => Some(serde_json::from_str(&read(&path)?).with_context(|| {
            format!(
                "{} is not delivery settings (`{{\"quiet_hours\": {{\"enabled\": true, \"start\": \"21:00\", \"end\": \"08:00\"}}}}`)",
                path.display()
            )
        })?),
        None => None,
    };
    let scenario = Scenario { contact, start, events, horizon, delivery, deliveries: Default::default() };
    let sim = match kairos_engine::simulate::simulate(&journey, &scenario, "") {
        Ok(sim) => sim,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            return Ok(false);
        }
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&sim)?);
    } else {
        print!("{}", journey_test::render_timeline(&sim));
        println!("{} run(s), {} message(s) sent", sim.runs.len(), sim.sends.len());
    }
    Ok(true)
}

pub fn schema(dir: &Path, check: bool) -> anyhow::Result<bool> {
    let mut ok = true;
    for (name, content) in [
        ("schema.json", schema::workflow()),
        ("test.schema.json", schema::test_file()),
        ("template.schema.json", schema::template_file()),
    ] {
        let path = dir.join(name);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == content {
            continue;
        }
        if check {
            println!("{} is out of date; run `kairos schema --dir {}`", path.display(), dir.display());
            ok = false;
        } else {
            std::fs::write(&path, content).with_context(|| format!("cannot write {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    if ok && check {
        println!("schemas in {} are up to date", dir.display());
    }
    Ok(ok)
}
