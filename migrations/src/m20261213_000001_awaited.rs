//! Messages a run waits for: `outbox.awaited` (delivery wakes the run when it records
//! the outcome), and `outbox.response` (a webhook's answer, kept for `save_response`).
//! And `rate_buckets`: each rate-limited provider's token bucket, shared by every worker
//! (its tokens and when they were counted), so N workers together keep to the limit.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Awaited,
    Response,
}

#[derive(DeriveIden)]
enum RateBuckets {
    Table,
    Provider,
    Tokens,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Outbox::Table)
                .add_column(ColumnDef::new(Outbox::Awaited).boolean().not_null().default(false))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(Outbox::Table).add_column(ColumnDef::new(Outbox::Response).text().null()).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RateBuckets::Table)
                .col(ColumnDef::new(RateBuckets::Provider).string().not_null().primary_key())
                .col(ColumnDef::new(RateBuckets::Tokens).double().not_null())
                .col(ColumnDef::new(RateBuckets::At).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RateBuckets::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Outbox::Table).drop_column(Outbox::Response).to_owned()).await?;
        m.alter_table(Table::alter().table(Outbox::Table).drop_column(Outbox::Awaited).to_owned()).await?;
        Ok(())
    }
}
