//! Finding journey files on disk.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// Whether a file name is a journey (not a test file or a schema).
pub fn is_journey(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    name.ends_with(".json") && !name.ends_with(".test.json") && !name.ends_with("schema.json")
}

/// The journey files named by `paths`: files as given, folders searched recursively, sorted.
pub fn journeys(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            collect(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    if out.is_empty() {
        bail!(
            "no journey files (*.json) found in {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, out)?;
        } else if is_journey(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// `abandoned-cart.json` → `abandoned-cart.test.json`.
pub fn test_file_of(journey: &Path) -> PathBuf {
    let stem = journey.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    journey.with_file_name(format!("{stem}.test.json"))
}

pub fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}
