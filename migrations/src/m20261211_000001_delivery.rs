//! Quiet hours and frequency caps: the workspace's delivery settings (one versioned row,
//! so every worker sharing the database picks up a change without a restart) and the
//! ledger of marketing messages that the caps count, written in the same transaction as
//! each message's outbox row.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeliverySettings {
    Table,
    Id,
    Version,
    Document,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FrequencyLog {
    Table,
    Key,
    ContactId,
    Channel,
    At,
}

/// Messages queued before this migration count as marketing ones (the flag that tells
/// them apart was not stored); dead letters never count.
const BACKFILL: &str = "INSERT INTO frequency_log (key, contact_id, channel, at) \
    SELECT key, contact_id, channel, created_at FROM outbox WHERE status <> 'failed'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(DeliverySettings::Table)
                .col(ColumnDef::new(DeliverySettings::Id).integer().not_null().primary_key())
                .col(ColumnDef::new(DeliverySettings::Version).big_integer().not_null())
                .col(ColumnDef::new(DeliverySettings::Document).text().not_null())
                .col(ColumnDef::new(DeliverySettings::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(FrequencyLog::Table)
                .col(ColumnDef::new(FrequencyLog::Key).string().not_null().primary_key())
                .col(ColumnDef::new(FrequencyLog::ContactId).string().not_null())
                .col(ColumnDef::new(FrequencyLog::Channel).string().not_null())
                .col(ColumnDef::new(FrequencyLog::At).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("frequency_log_contact")
                .table(FrequencyLog::Table)
                .col(FrequencyLog::ContactId)
                .col(FrequencyLog::At)
                .to_owned(),
        )
        .await?;
        m.get_connection().execute_unprepared(BACKFILL).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(FrequencyLog::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(DeliverySettings::Table).to_owned()).await
    }
}
