//! Delivery providers configured per workspace (their secrets sealed with the workspace
//! key), the provider a queued message goes through, and how many of its attempts have
//! a recorded outcome (an attempt without one vanished in a crash: an at-most-once
//! provider reports such a message as `unknown` instead of sending it again).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Providers {
    Table,
    Id,
    Name,
    Kind,
    Channel,
    /// The non-secret settings (JSON text).
    Settings,
    /// The secrets: JSON sealed with XChaCha20-Poly1305 under the workspace key.
    Secrets,
    /// The channel's default provider (at most one per channel).
    IsDefault,
    /// Token bucket: messages per second (NULL: unlimited) and burst.
    RatePerSecond,
    Burst,
    /// `at_least_once` or `at_most_once`.
    Guarantee,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Provider,
    RecordedAttempts,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Providers::Table)
                .col(ColumnDef::new(Providers::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Providers::Name).string().not_null())
                .col(ColumnDef::new(Providers::Kind).string().not_null())
                .col(ColumnDef::new(Providers::Channel).string().not_null())
                .col(ColumnDef::new(Providers::Settings).text().not_null())
                .col(ColumnDef::new(Providers::Secrets).binary().not_null())
                .col(ColumnDef::new(Providers::IsDefault).boolean().not_null())
                .col(ColumnDef::new(Providers::RatePerSecond).double().null())
                .col(ColumnDef::new(Providers::Burst).integer().not_null())
                .col(ColumnDef::new(Providers::Guarantee).string().not_null())
                .col(ColumnDef::new(Providers::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Providers::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(Outbox::Table).add_column(ColumnDef::new(Outbox::Provider).string().null()).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Outbox::Table)
                .add_column(ColumnDef::new(Outbox::RecordedAttempts).integer().not_null().default(0))
                .to_owned(),
        )
        .await?;
        // Every attempt made before this migration had its outcome recorded.
        m.get_connection().execute_unprepared("UPDATE outbox SET recorded_attempts = attempts").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Outbox::Table).drop_column(Outbox::RecordedAttempts).to_owned()).await?;
        m.alter_table(Table::alter().table(Outbox::Table).drop_column(Outbox::Provider).to_owned()).await?;
        m.drop_table(Table::drop().table(Providers::Table).to_owned()).await?;
        Ok(())
    }
}
