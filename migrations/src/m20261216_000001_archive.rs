//! The archive of ended runs: `archived_runs` and `archived_run_history` take a run and its
//! timeline some time after it ended (the engine's retention sweep, `store::retention`),
//! so the tables the scheduler scans and writes all day — `runs`, `run_history`,
//! `subscriptions` — hold only runs still going and those that ended recently. Everything
//! that reads runs (the run and its timeline, re-entry, statistics, conversions, start
//! keys) reads both. The archive is written once and read rarely: it has no `wake_at`,
//! nothing claims from it, and its rows are deleted after the retention period.
//!
//! Also two indexes the sweep needs: ended runs by end time (partial: only ended rows),
//! and outbox rows by run and status (a run moves only once none of its messages is still
//! pending, so an outcome recorded later always finds the run's timeline hot; and a run's
//! outbox rows are deleted with it when the retention period has passed).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ArchivedRuns {
    Table,
    Id,
    WorkflowId,
    Version,
    ContactId,
    Entry,
    Correlation,
    Status,
    Node,
    Rev,
    State,
    StartKey,
    StartedAt,
    UpdatedAt,
    EndedAt,
    ConvertedAt,
    ArchivedAt,
}

#[derive(DeriveIden)]
enum ArchivedRunHistory {
    Table,
    Id,
    RunId,
    WorkflowId,
    Version,
    At,
    Node,
    Kind,
    Data,
}

fn millis(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ArchivedRuns::Table)
                .col(ColumnDef::new(ArchivedRuns::Id).string().not_null().primary_key())
                .col(ColumnDef::new(ArchivedRuns::WorkflowId).string().not_null())
                .col(ColumnDef::new(ArchivedRuns::Version).integer().not_null())
                .col(ColumnDef::new(ArchivedRuns::ContactId).string().not_null())
                .col(ColumnDef::new(ArchivedRuns::Entry).integer().not_null())
                .col(ColumnDef::new(ArchivedRuns::Correlation).string().null())
                .col(ColumnDef::new(ArchivedRuns::Status).string().not_null())
                .col(ColumnDef::new(ArchivedRuns::Node).string().null())
                .col(ColumnDef::new(ArchivedRuns::Rev).big_integer().not_null())
                .col(ColumnDef::new(ArchivedRuns::State).text().not_null())
                .col(ColumnDef::new(ArchivedRuns::StartKey).string().null().unique_key())
                .col(millis(ArchivedRuns::StartedAt))
                .col(millis(ArchivedRuns::UpdatedAt))
                .col(millis(ArchivedRuns::EndedAt))
                .col(ColumnDef::new(ArchivedRuns::ConvertedAt).big_integer().null())
                .col(millis(ArchivedRuns::ArchivedAt))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("archived_runs_contact_workflow", vec![ArchivedRuns::ContactId, ArchivedRuns::WorkflowId]),
            ("archived_runs_workflow_status", vec![ArchivedRuns::WorkflowId, ArchivedRuns::Status]),
            ("archived_runs_ended", vec![ArchivedRuns::EndedAt]),
        ] {
            let mut index = Index::create().name(name).table(ArchivedRuns::Table).to_owned();
            for c in cols {
                index.col(c);
            }
            m.create_index(index).await?;
        }
        m.create_table(
            Table::create()
                .table(ArchivedRunHistory::Table)
                // The id the entry had in `run_history`, so a timeline keeps its order.
                .col(ColumnDef::new(ArchivedRunHistory::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(ArchivedRunHistory::RunId).string().not_null())
                .col(ColumnDef::new(ArchivedRunHistory::WorkflowId).string().not_null())
                .col(ColumnDef::new(ArchivedRunHistory::Version).integer().not_null())
                .col(millis(ArchivedRunHistory::At))
                .col(ColumnDef::new(ArchivedRunHistory::Node).string().null())
                .col(ColumnDef::new(ArchivedRunHistory::Kind).string().not_null())
                .col(ColumnDef::new(ArchivedRunHistory::Data).text().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("archived_run_history_run")
                .table(ArchivedRunHistory::Table)
                .col(ArchivedRunHistory::RunId)
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        // Partial: only the rows the sweep looks for (both backends have partial indexes).
        db.execute_unprepared("CREATE INDEX runs_ended ON runs (ended_at) WHERE ended_at IS NOT NULL").await?;
        db.execute_unprepared("CREATE INDEX outbox_run ON outbox (run_id, status)").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX outbox_run").await?;
        db.execute_unprepared("DROP INDEX runs_ended").await?;
        m.drop_table(Table::drop().table(ArchivedRunHistory::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(ArchivedRuns::Table).to_owned()).await
    }
}
