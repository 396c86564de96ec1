//! `run_variants`: the split variant each run was assigned, one row per run and split node
//! (a run that loops through a split is drawn the same variant every time, so once is
//! enough). The conversion statistics (`GET /v1/workflows/{id}/stats`: `splits`) join it
//! with `runs.converted_at`, instead of reading `variant` entries out of `run_history`,
//! which has no index by workflow. Backfilled from the history already recorded.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RunVariants {
    Table,
    RunId,
    Node,
    WorkflowId,
    Version,
    Variant,
}

/// The first `variant` entry of each (run, split node), with the variant's name read out
/// of the entry's JSON data the backend's way.
fn backfill(backend: DbBackend) -> String {
    let variant = match backend {
        DbBackend::Postgres => "CAST(h.data AS json)->>'variant'",
        _ => "json_extract(h.data, '$.variant')",
    };
    format!(
        "INSERT INTO run_variants (run_id, node, workflow_id, version, variant) \
         SELECT h.run_id, h.node, h.workflow_id, h.version, {variant} FROM run_history h \
         WHERE h.kind = 'variant' AND h.node IS NOT NULL AND {variant} IS NOT NULL \
         AND h.id = (SELECT MIN(f.id) FROM run_history f WHERE f.run_id = h.run_id AND f.node = h.node AND f.kind = 'variant')"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RunVariants::Table)
                .col(ColumnDef::new(RunVariants::RunId).string().not_null())
                .col(ColumnDef::new(RunVariants::Node).string().not_null())
                .col(ColumnDef::new(RunVariants::WorkflowId).string().not_null())
                .col(ColumnDef::new(RunVariants::Version).integer().not_null())
                .col(ColumnDef::new(RunVariants::Variant).string().not_null())
                .primary_key(Index::create().col(RunVariants::RunId).col(RunVariants::Node))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("run_variants_workflow")
                .table(RunVariants::Table)
                .col(RunVariants::WorkflowId)
                .col(RunVariants::Version)
                .to_owned(),
        )
        .await?;
        m.get_connection().execute_unprepared(&backfill(m.get_database_backend())).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RunVariants::Table).to_owned()).await
    }
}
