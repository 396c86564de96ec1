//! The initial schema.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
    Attributes,
    Tags,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Seq,
    MessageId,
    ContactId,
    Name,
    Properties,
    Timestamp,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum Workflows {
    Table,
    Id,
    Name,
    Status,
    Draft,
    LiveVersion,
    LatestVersion,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WorkflowVersions {
    Table,
    WorkflowId,
    Version,
    Definition,
    PublishedAt,
}

#[derive(DeriveIden)]
enum Runs {
    Table,
    Id,
    WorkflowId,
    Version,
    ContactId,
    Entry,
    Correlation,
    Status,
    Node,
    WakeAt,
    Rev,
    State,
    StartKey,
    StartedAt,
    UpdatedAt,
    EndedAt,
    ConvertedAt,
}

#[derive(DeriveIden)]
enum RunHistory {
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

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    RunId,
    ContactId,
    Event,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Key,
    RunId,
    WorkflowId,
    ContactId,
    Node,
    Channel,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    CreatedAt,
    SentAt,
    LastError,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    Key,
    RunId,
    WorkflowId,
    ContactId,
    Node,
    Channel,
    Payload,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    Prefix,
    Hash,
    CreatedAt,
    RevokedAt,
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().take()
}

fn millis(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Contacts::Table)
                .col(ColumnDef::new(Contacts::Id).string().not_null().primary_key())
                .col(text(Contacts::Attributes))
                .col(text(Contacts::Tags))
                .col(millis(Contacts::CreatedAt))
                .col(millis(Contacts::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Events::Table)
                .col(ColumnDef::new(Events::Seq).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(Events::MessageId).string().null().unique_key())
                .col(ColumnDef::new(Events::ContactId).string().not_null())
                .col(ColumnDef::new(Events::Name).string().not_null())
                .col(text(Events::Properties))
                .col(millis(Events::Timestamp))
                .col(millis(Events::ReceivedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("events_contact_name")
                .table(Events::Table)
                .col(Events::ContactId)
                .col(Events::Name)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Workflows::Table)
                .col(ColumnDef::new(Workflows::Id).string().not_null().primary_key())
                .col(text(Workflows::Name))
                .col(ColumnDef::new(Workflows::Status).string().not_null())
                .col(text(Workflows::Draft))
                .col(ColumnDef::new(Workflows::LiveVersion).integer().null())
                .col(ColumnDef::new(Workflows::LatestVersion).integer().not_null().default(0))
                .col(millis(Workflows::CreatedAt))
                .col(millis(Workflows::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(WorkflowVersions::Table)
                .col(ColumnDef::new(WorkflowVersions::WorkflowId).string().not_null())
                .col(ColumnDef::new(WorkflowVersions::Version).integer().not_null())
                .col(text(WorkflowVersions::Definition))
                .col(millis(WorkflowVersions::PublishedAt))
                .primary_key(Index::create().col(WorkflowVersions::WorkflowId).col(WorkflowVersions::Version))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Runs::Table)
                .col(ColumnDef::new(Runs::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Runs::WorkflowId).string().not_null())
                .col(ColumnDef::new(Runs::Version).integer().not_null())
                .col(ColumnDef::new(Runs::ContactId).string().not_null())
                .col(ColumnDef::new(Runs::Entry).integer().not_null())
                .col(ColumnDef::new(Runs::Correlation).string().null())
                .col(ColumnDef::new(Runs::Status).string().not_null())
                .col(ColumnDef::new(Runs::Node).string().null())
                .col(ColumnDef::new(Runs::WakeAt).big_integer().null())
                .col(ColumnDef::new(Runs::Rev).big_integer().not_null())
                .col(text(Runs::State))
                .col(ColumnDef::new(Runs::StartKey).string().null().unique_key())
                .col(millis(Runs::StartedAt))
                .col(millis(Runs::UpdatedAt))
                .col(ColumnDef::new(Runs::EndedAt).big_integer().null())
                .col(ColumnDef::new(Runs::ConvertedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("runs_wake_at", vec![Runs::WakeAt]),
            ("runs_contact_workflow", vec![Runs::ContactId, Runs::WorkflowId]),
            ("runs_workflow_status", vec![Runs::WorkflowId, Runs::Status]),
        ] {
            let mut index = Index::create().name(name).table(Runs::Table).to_owned();
            for c in cols {
                index.col(c);
            }
            m.create_index(index).await?;
        }

        m.create_table(
            Table::create()
                .table(RunHistory::Table)
                .col(ColumnDef::new(RunHistory::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(RunHistory::RunId).string().not_null())
                .col(ColumnDef::new(RunHistory::WorkflowId).string().not_null())
                .col(ColumnDef::new(RunHistory::Version).integer().not_null())
                .col(millis(RunHistory::At))
                .col(ColumnDef::new(RunHistory::Node).string().null())
                .col(ColumnDef::new(RunHistory::Kind).string().not_null())
                .col(text(RunHistory::Data))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("run_history_run").table(RunHistory::Table).col(RunHistory::RunId).to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("run_history_stats")
                .table(RunHistory::Table)
                .col(RunHistory::WorkflowId)
                .col(RunHistory::Version)
                .col(RunHistory::Kind)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Subscriptions::Table)
                .col(ColumnDef::new(Subscriptions::RunId).string().not_null())
                .col(ColumnDef::new(Subscriptions::ContactId).string().not_null())
                .col(ColumnDef::new(Subscriptions::Event).string().not_null())
                .primary_key(Index::create().col(Subscriptions::RunId).col(Subscriptions::Event))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("subscriptions_contact_event")
                .table(Subscriptions::Table)
                .col(Subscriptions::ContactId)
                .col(Subscriptions::Event)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Outbox::Table)
                .col(ColumnDef::new(Outbox::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(Outbox::Key).string().not_null().unique_key())
                .col(ColumnDef::new(Outbox::RunId).string().not_null())
                .col(ColumnDef::new(Outbox::WorkflowId).string().not_null())
                .col(ColumnDef::new(Outbox::ContactId).string().not_null())
                .col(ColumnDef::new(Outbox::Node).string().not_null())
                .col(ColumnDef::new(Outbox::Channel).string().not_null())
                .col(text(Outbox::Payload))
                .col(ColumnDef::new(Outbox::Status).string().not_null())
                .col(ColumnDef::new(Outbox::Attempts).integer().not_null().default(0))
                .col(ColumnDef::new(Outbox::NextAttemptAt).big_integer().null())
                .col(millis(Outbox::CreatedAt))
                .col(ColumnDef::new(Outbox::SentAt).big_integer().null())
                .col(ColumnDef::new(Outbox::LastError).text().null())
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("outbox_due").table(Outbox::Table).col(Outbox::NextAttemptAt).to_owned())
            .await?;

        m.create_table(
            Table::create()
                .table(Messages::Table)
                .col(ColumnDef::new(Messages::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(Messages::Key).string().not_null().unique_key())
                .col(ColumnDef::new(Messages::RunId).string().not_null())
                .col(ColumnDef::new(Messages::WorkflowId).string().not_null())
                .col(ColumnDef::new(Messages::ContactId).string().not_null())
                .col(ColumnDef::new(Messages::Node).string().not_null())
                .col(ColumnDef::new(Messages::Channel).string().not_null())
                .col(text(Messages::Payload))
                .col(millis(Messages::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("messages_contact").table(Messages::Table).col(Messages::ContactId).to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("messages_run").table(Messages::Table).col(Messages::RunId).to_owned())
            .await?;

        m.create_table(
            Table::create()
                .table(ApiKeys::Table)
                .col(ColumnDef::new(ApiKeys::Id).string().not_null().primary_key())
                .col(text(ApiKeys::Name))
                .col(ColumnDef::new(ApiKeys::Prefix).string().not_null())
                .col(ColumnDef::new(ApiKeys::Hash).string().not_null().unique_key())
                .col(millis(ApiKeys::CreatedAt))
                .col(ColumnDef::new(ApiKeys::RevokedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Contacts::Table.into_iden(),
            Events::Table.into_iden(),
            Workflows::Table.into_iden(),
            WorkflowVersions::Table.into_iden(),
            Runs::Table.into_iden(),
            RunHistory::Table.into_iden(),
            Subscriptions::Table.into_iden(),
            Outbox::Table.into_iden(),
            Messages::Table.into_iden(),
            ApiKeys::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
