//! Migrations of the Kairos store. They run unchanged on SQLite and PostgreSQL: times
//! are BIGINT milliseconds since the epoch (passed in from the engine's clock, never
//! `now()` in SQL) and JSON documents are TEXT.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_init;
mod m20261201_000001_editor;
mod m20261202_000001_node_counts;
mod m20261203_000001_outbox_failed;
mod m20261210_000001_providers;
mod m20261211_000001_delivery;
mod m20261212_000001_consent;
mod m20261212_000002_templates;
mod m20261213_000001_awaited;
mod m20261214_000001_goals;
mod m20261215_000001_audience;
mod m20261216_000001_archive;
mod m20261217_000001_node_count_shards;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_init::Migration),
            Box::new(m20261201_000001_editor::Migration),
            Box::new(m20261202_000001_node_counts::Migration),
            Box::new(m20261203_000001_outbox_failed::Migration),
            Box::new(m20261210_000001_providers::Migration),
            Box::new(m20261211_000001_delivery::Migration),
            Box::new(m20261212_000001_consent::Migration),
            Box::new(m20261212_000002_templates::Migration),
            Box::new(m20261213_000001_awaited::Migration),
            Box::new(m20261214_000001_goals::Migration),
            Box::new(m20261215_000001_audience::Migration),
            Box::new(m20261216_000001_archive::Migration),
            Box::new(m20261217_000001_node_count_shards::Migration),
        ]
    }
}
