//! Conversion figures of a journey: how many runs entered and how many of them reached the
//! goal (inside its conversion window: the engine only marks those converted), per version
//! and per split variant.

use super::Error;
use super::runs::fix;
use sea_orm::{ConnectionTrait, Statement};
use std::collections::BTreeMap;

/// Runs that entered a group, and how many of them converted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Converted {
    pub entered: u64,
    pub converted: u64,
}

impl Converted {
    fn add(&mut self, other: Converted) {
        self.entered += other.entered;
        self.converted += other.converted;
    }
}

/// A journey's conversions, of one version or of all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conversions {
    /// By version: runs started on it and how many converted.
    pub versions: BTreeMap<u32, Converted>,
    /// By split node, then variant name (`holdout` for the holdout group): runs the split
    /// assigned to it (each run once) and how many of those converted (at any point of
    /// the run, before or after the split).
    pub variants: BTreeMap<String, BTreeMap<String, Converted>>,
}

impl Conversions {
    /// Every version together.
    pub fn total(&self) -> Converted {
        let mut total = Converted::default();
        for c in self.versions.values() {
            total.add(*c);
        }
        total
    }
}

fn count(row: &sea_orm::QueryResult, column: &str) -> Result<u64, Error> {
    Ok(row.try_get::<i64>("", column)?.max(0) as u64)
}

/// The conversions of `workflow` (only runs of `version` if given).
pub async fn conversions<C: ConnectionTrait>(
    db: &C,
    workflow: &str,
    version: Option<u32>,
) -> Result<Conversions, Error> {
    let backend = db.get_database_backend();
    let mut values: Vec<sea_orm::Value> = vec![workflow.into()];
    if let Some(n) = version {
        values.push((n as i32).into());
    }
    let mut out = Conversions::default();

    // Runs still hot and those archived (a run is in exactly one of the two).
    for table in super::retention::RUN_TABLES {
        let only = if version.is_some() { " AND version = $2" } else { "" };
        let sql = format!(
            "SELECT version, COUNT(*) AS entered, COUNT(converted_at) AS converted FROM {table} \
             WHERE workflow_id = $1{only} GROUP BY version"
        );
        for row in db.query_all(Statement::from_sql_and_values(backend, fix(&sql, backend), values.clone())).await? {
            let v: i32 = row.try_get("", "version")?;
            let c = Converted { entered: count(&row, "entered")?, converted: count(&row, "converted")? };
            out.versions.entry(v.max(0) as u32).or_default().add(c);
        }

        let only = if version.is_some() { " AND v.version = $2" } else { "" };
        let sql = format!(
            "SELECT v.node, v.variant, COUNT(*) AS entered, COUNT(r.converted_at) AS converted \
             FROM run_variants v JOIN {table} r ON r.id = v.run_id \
             WHERE v.workflow_id = $1{only} GROUP BY v.node, v.variant"
        );
        for row in db.query_all(Statement::from_sql_and_values(backend, fix(&sql, backend), values.clone())).await? {
            let node: String = row.try_get("", "node")?;
            let variant: String = row.try_get("", "variant")?;
            let c = Converted { entered: count(&row, "entered")?, converted: count(&row, "converted")? };
            out.variants.entry(node).or_default().entry(variant).or_default().add(c);
        }
    }
    Ok(out)
}
