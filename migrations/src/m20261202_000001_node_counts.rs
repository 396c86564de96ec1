//! Per-node counters for the journey statistics (entered, converted), kept up to date by
//! every commit, instead of counting history rows through an index that every history
//! row had to maintain: the statistics read a few rows per journey, and history inserts
//! (the largest share of a step's writes) touch one index fewer.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NodeCounts {
    Table,
    WorkflowId,
    Version,
    Node,
    Entered,
    Converted,
}

const BACKFILL: &str = "INSERT INTO node_counts (workflow_id, version, node, entered, converted) \
    SELECT workflow_id, version, node, \
    SUM(CASE WHEN kind = 'node_entered' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN kind = 'converted' THEN 1 ELSE 0 END) \
    FROM run_history WHERE node IS NOT NULL AND kind IN ('node_entered', 'converted') \
    GROUP BY workflow_id, version, node";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(NodeCounts::Table)
                .col(ColumnDef::new(NodeCounts::WorkflowId).string().not_null())
                .col(ColumnDef::new(NodeCounts::Version).integer().not_null())
                .col(ColumnDef::new(NodeCounts::Node).string().not_null())
                .col(ColumnDef::new(NodeCounts::Entered).big_integer().not_null().default(0))
                .col(ColumnDef::new(NodeCounts::Converted).big_integer().not_null().default(0))
                .primary_key(Index::create().col(NodeCounts::WorkflowId).col(NodeCounts::Version).col(NodeCounts::Node))
                .to_owned(),
        )
        .await?;
        m.get_connection().execute_unprepared(BACKFILL).await?;
        m.drop_index(Index::drop().name("run_history_stats").table(Alias::new("run_history")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("run_history_stats")
                .table(Alias::new("run_history"))
                .col(Alias::new("workflow_id"))
                .col(Alias::new("version"))
                .col(Alias::new("kind"))
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(NodeCounts::Table).to_owned()).await
    }
}
