//! The audience: segments and their members (with every entry and exit), lifecycle
//! stage changes, the workspace's audience settings (stages, stage rules, lead scoring,
//! RFM), the queue of contact changes and events the audience has not seen yet, and the
//! schedule ticks already fired (one row per journey and tick, so a tick fires once).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Segments {
    Table,
    Id,
    Name,
    Description,
    Definition,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SegmentMembers {
    Table,
    SegmentId,
    ContactId,
    EnteredAt,
}

#[derive(DeriveIden)]
enum SegmentChanges {
    Table,
    Id,
    SegmentId,
    ContactId,
    Entered,
    At,
}

#[derive(DeriveIden)]
enum StageChanges {
    Table,
    Id,
    ContactId,
    FromStage,
    ToStage,
    At,
    Cause,
}

#[derive(DeriveIden)]
enum AudienceQueue {
    Table,
    Id,
    ContactId,
    Kind,
    Data,
    At,
}

#[derive(DeriveIden)]
enum AudienceSettings {
    Table,
    Id,
    Data,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ScheduleTicks {
    Table,
    WorkflowId,
    TickAt,
    FiredAt,
    Runs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Segments::Table)
                .col(ColumnDef::new(Segments::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Segments::Name).string().not_null())
                .col(ColumnDef::new(Segments::Description).text().not_null())
                .col(ColumnDef::new(Segments::Definition).text().not_null())
                .col(ColumnDef::new(Segments::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Segments::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SegmentMembers::Table)
                .col(ColumnDef::new(SegmentMembers::SegmentId).string().not_null())
                .col(ColumnDef::new(SegmentMembers::ContactId).string().not_null())
                .col(ColumnDef::new(SegmentMembers::EnteredAt).big_integer().not_null())
                .primary_key(Index::create().col(SegmentMembers::SegmentId).col(SegmentMembers::ContactId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("segment_members_contact")
                .table(SegmentMembers::Table)
                .col(SegmentMembers::ContactId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SegmentChanges::Table)
                .col(ColumnDef::new(SegmentChanges::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(SegmentChanges::SegmentId).string().not_null())
                .col(ColumnDef::new(SegmentChanges::ContactId).string().not_null())
                .col(ColumnDef::new(SegmentChanges::Entered).boolean().not_null())
                .col(ColumnDef::new(SegmentChanges::At).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("segment_changes_segment_at")
                .table(SegmentChanges::Table)
                .col(SegmentChanges::SegmentId)
                .col(SegmentChanges::At)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(StageChanges::Table)
                .col(ColumnDef::new(StageChanges::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(StageChanges::ContactId).string().not_null())
                .col(ColumnDef::new(StageChanges::FromStage).string().null())
                .col(ColumnDef::new(StageChanges::ToStage).string().not_null())
                .col(ColumnDef::new(StageChanges::At).big_integer().not_null())
                .col(ColumnDef::new(StageChanges::Cause).text().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("stage_changes_at").table(StageChanges::Table).col(StageChanges::At).to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("stage_changes_contact")
                .table(StageChanges::Table)
                .col(StageChanges::ContactId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AudienceQueue::Table)
                .col(ColumnDef::new(AudienceQueue::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(AudienceQueue::ContactId).string().not_null())
                .col(ColumnDef::new(AudienceQueue::Kind).string().not_null())
                .col(ColumnDef::new(AudienceQueue::Data).text().not_null())
                .col(ColumnDef::new(AudienceQueue::At).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AudienceSettings::Table)
                .col(ColumnDef::new(AudienceSettings::Id).integer().not_null().primary_key())
                .col(ColumnDef::new(AudienceSettings::Data).text().not_null())
                .col(ColumnDef::new(AudienceSettings::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ScheduleTicks::Table)
                .col(ColumnDef::new(ScheduleTicks::WorkflowId).string().not_null())
                .col(ColumnDef::new(ScheduleTicks::TickAt).big_integer().not_null())
                .col(ColumnDef::new(ScheduleTicks::FiredAt).big_integer().not_null())
                .col(ColumnDef::new(ScheduleTicks::Runs).big_integer().not_null())
                .primary_key(Index::create().col(ScheduleTicks::WorkflowId).col(ScheduleTicks::TickAt))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            ScheduleTicks::Table.into_iden(),
            AudienceSettings::Table.into_iden(),
            AudienceQueue::Table.into_iden(),
            StageChanges::Table.into_iden(),
            SegmentChanges::Table.into_iden(),
            SegmentMembers::Table.into_iden(),
            Segments::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
