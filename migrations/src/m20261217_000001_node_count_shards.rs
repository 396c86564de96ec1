//! `node_counts` gets a `shard` column in its key. Every commit adds to the counters of
//! the nodes its runs entered, and a counter row stays locked until the transaction
//! commits: with one row per node, concurrent transactions on PostgreSQL (several
//! workers, or one worker's pipelined batches) queued behind each other on the same few
//! rows. A transaction now adds to the shard its transaction id picks (of 16; SQLite,
//! with one writer, uses shard 0), and the statistics sum the shards, as they already
//! summed versions.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NodeCounts {
    Table,
    WorkflowId,
    Version,
    Node,
    Shard,
    Entered,
    Converted,
}

#[derive(DeriveIden)]
enum NodeCountsSharded {
    Table,
}

fn table(name: impl IntoIden + 'static, sharded: bool) -> TableCreateStatement {
    let mut key = Index::create();
    key.col(NodeCounts::WorkflowId).col(NodeCounts::Version).col(NodeCounts::Node);
    let mut t = Table::create();
    t.table(name)
        .col(ColumnDef::new(NodeCounts::WorkflowId).string().not_null())
        .col(ColumnDef::new(NodeCounts::Version).integer().not_null())
        .col(ColumnDef::new(NodeCounts::Node).string().not_null());
    if sharded {
        t.col(ColumnDef::new(NodeCounts::Shard).integer().not_null().default(0));
        key.col(NodeCounts::Shard);
    }
    t.col(ColumnDef::new(NodeCounts::Entered).big_integer().not_null().default(0))
        .col(ColumnDef::new(NodeCounts::Converted).big_integer().not_null().default(0))
        .primary_key(&mut key)
        .to_owned()
}

/// Moves the counters into a new table `into` (summing shards when `from` had them) and
/// puts it in `node_counts`' place.
async fn rebuild(m: &SchemaManager<'_>, sharded: bool) -> Result<(), DbErr> {
    m.create_table(table(NodeCountsSharded::Table, sharded)).await?;
    let copy = if sharded {
        "INSERT INTO node_counts_sharded (workflow_id, version, node, shard, entered, converted) \
         SELECT workflow_id, version, node, 0, entered, converted FROM node_counts"
    } else {
        "INSERT INTO node_counts_sharded (workflow_id, version, node, entered, converted) \
         SELECT workflow_id, version, node, SUM(entered), SUM(converted) FROM node_counts \
         GROUP BY workflow_id, version, node"
    };
    m.get_connection().execute_unprepared(copy).await?;
    m.drop_table(Table::drop().table(NodeCounts::Table).to_owned()).await?;
    m.rename_table(Table::rename().table(NodeCountsSharded::Table, NodeCounts::Table).to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild(m, true).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild(m, false).await
    }
}
