//! Finding journey and template files on disk.
//!
//! A folder of journeys keeps its template library in `templates/` beside the journeys
//! (`workflows/templates/<id>.json`): a journey is checked, tested and simulated against
//! the templates of the `templates/` folder next to it.

use anyhow::{Context, bail};
use kairos_engine::library;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name of the folder holding a template library.
pub const TEMPLATES_DIR: &str = "templates";

/// Whether a file name is a journey (not a test file, a schema, a template or an audience file).
pub fn is_journey(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    name.ends_with(".json")
        && !name.ends_with(".test.json")
        && !name.ends_with("schema.json")
        && !is_template(path)
        && !is_audience(path)
}

pub use kairos::load::{AUDIENCE_DIR, read_audience};

/// Whether a file is a template: a `.json` file (not a schema) in a `templates/` folder.
pub fn is_template(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    let in_templates = path.parent().and_then(Path::file_name).is_some_and(|d| d == TEMPLATES_DIR);
    in_templates && name.ends_with(".json") && !name.ends_with("schema.json")
}

/// Whether a file belongs to an audience folder (`audience/settings.json`, `audience/segments/*.json`).
pub fn is_audience(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
        && path.ancestors().skip(1).any(|d| d.file_name().is_some_and(|n| n == AUDIENCE_DIR))
}

/// The audience folder of a journey: `audience/` beside it.
pub fn audience_dir_of(journey: &Path) -> PathBuf {
    match journey.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(AUDIENCE_DIR),
        _ => PathBuf::from(AUDIENCE_DIR),
    }
}

/// The journey and template files named by `paths`: files as given, folders searched
/// recursively (a `templates/` folder holds templates), each list sorted.
#[derive(Debug, Default)]
pub struct Found {
    pub journeys: Vec<PathBuf>,
    pub templates: Vec<PathBuf>,
    /// Audience folders (`audience/`) met on the way.
    pub audience: Vec<PathBuf>,
}

pub fn find(paths: &[PathBuf]) -> anyhow::Result<Found> {
    let mut found = Found::default();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            collect(path, &mut found)?;
        } else if is_template(path) {
            found.templates.push(path.clone());
        } else {
            found.journeys.push(path.clone());
        }
    }
    if found.journeys.is_empty() && found.templates.is_empty() {
        bail!(
            "no journey files (*.json) found in {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(found)
}

/// The journey files named by `paths` (templates are left out).
pub fn journeys(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let found = find(paths)?;
    if found.journeys.is_empty() {
        bail!(
            "no journey files (*.json) found in {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(found.journeys)
}

fn collect(dir: &Path, found: &mut Found) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() && path.file_name().is_some_and(|n| n == AUDIENCE_DIR) {
            found.audience.push(path);
        } else if path.is_dir() {
            collect(&path, found)?;
        } else if is_template(&path) {
            found.templates.push(path);
        } else if is_journey(&path) {
            found.journeys.push(path);
        }
    }
    Ok(())
}

/// `abandoned-cart.json` → `abandoned-cart.test.json`.
pub fn test_file_of(journey: &Path) -> PathBuf {
    let stem = journey.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    journey.with_file_name(format!("{stem}.test.json"))
}

/// The template library folder of a journey: `templates/` beside it.
pub fn templates_dir_of(journey: &Path) -> PathBuf {
    match journey.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(TEMPLATES_DIR),
        _ => PathBuf::from(TEMPLATES_DIR),
    }
}

pub fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// A template library read from a folder: the library, and each file with its problems.
pub type LocalLibrary = library::Folder;

/// Read the templates of `dir` (see [`library::read_folder`]).
pub fn load_library(dir: &Path) -> anyhow::Result<LocalLibrary> {
    library::read_folder(dir).with_context(|| format!("cannot read the templates in {}", dir.display()))
}

/// Template libraries by folder, each read once.
#[derive(Default)]
pub struct Libraries(BTreeMap<PathBuf, LocalLibrary>);

impl Libraries {
    /// The library of the journey `file`.
    pub fn of(&mut self, journey: &Path) -> anyhow::Result<&LocalLibrary> {
        self.at(&templates_dir_of(journey))
    }

    /// The library in the folder `dir`.
    pub fn at(&mut self, dir: &Path) -> anyhow::Result<&LocalLibrary> {
        if !self.0.contains_key(dir) {
            let lib = load_library(dir)?;
            self.0.insert(dir.to_path_buf(), lib);
        }
        Ok(&self.0[dir])
    }
}
