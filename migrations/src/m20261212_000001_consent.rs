//! Consent: the workspace's topics (marketing categories), each contact's subscription
//! status per channel and topic, the email addresses suppressed by hard bounces and spam
//! complaints, and on each outbox row what delivery must check again before it sends:
//! whether the message is transactional, its topic and its (normalized) email address.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Topics {
    Table,
    Id,
    Name,
    Description,
    CreatedAt,
    UpdatedAt,
}

/// One row per contact and scope whose status was ever set; a scope without a row is
/// subscribed. `scope` is `channel:<email|sms|push>` or `topic:<topic id>`.
#[derive(DeriveIden)]
enum ContactConsents {
    Table,
    ContactId,
    Scope,
    Status,
    /// Who set it: `api`, `unsubscribe_link`, `one_click`.
    Source,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Suppressions {
    Table,
    /// Lowercase, without a display name.
    Address,
    /// `hard_bounce` or `spam_complaint`.
    Reason,
    /// The provider that reported it (`postmark`, `resend`, `sendgrid`).
    Provider,
    /// The provider's own words (bounce description), if any.
    Detail,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Transactional,
    Topic,
    Address,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Topics::Table)
                .col(ColumnDef::new(Topics::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Topics::Name).string().not_null())
                .col(ColumnDef::new(Topics::Description).text().not_null().default(""))
                .col(ColumnDef::new(Topics::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Topics::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ContactConsents::Table)
                .col(ColumnDef::new(ContactConsents::ContactId).string().not_null())
                .col(ColumnDef::new(ContactConsents::Scope).string().not_null())
                .col(ColumnDef::new(ContactConsents::Status).string().not_null())
                .col(ColumnDef::new(ContactConsents::Source).string().not_null())
                .col(ColumnDef::new(ContactConsents::UpdatedAt).big_integer().not_null())
                .primary_key(Index::create().col(ContactConsents::ContactId).col(ContactConsents::Scope))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Suppressions::Table)
                .col(ColumnDef::new(Suppressions::Address).string().not_null().primary_key())
                .col(ColumnDef::new(Suppressions::Reason).string().not_null())
                .col(ColumnDef::new(Suppressions::Provider).string().not_null())
                .col(ColumnDef::new(Suppressions::Detail).text().null())
                .col(ColumnDef::new(Suppressions::CreatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        // SQLite adds one column per statement. Rows queued before this migration count
        // as marketing messages without a topic or a known address.
        m.alter_table(
            Table::alter()
                .table(Outbox::Table)
                .add_column(ColumnDef::new(Outbox::Transactional).boolean().not_null().default(false))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(Outbox::Table).add_column(ColumnDef::new(Outbox::Topic).string().null()).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(Outbox::Table).add_column(ColumnDef::new(Outbox::Address).string().null()).to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Outbox::Address, Outbox::Topic, Outbox::Transactional] {
            m.alter_table(Table::alter().table(Outbox::Table).drop_column(column).to_owned()).await?;
        }
        for table in [Suppressions::Table.into_iden(), ContactConsents::Table.into_iden(), Topics::Table.into_iden()] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
