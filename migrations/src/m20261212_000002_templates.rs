//! The template library: each template, its immutable versions (every save is one), and
//! the template versions each published workflow version pinned.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Templates {
    Table,
    Id,
    Name,
    /// `message`, `partial` or `layout`.
    Kind,
    LatestVersion,
    CreatedAt,
    UpdatedAt,
    /// Set when deleted: versions stay, for the journeys that pinned them.
    DeletedAt,
}

#[derive(DeriveIden)]
enum TemplateVersions {
    Table,
    TemplateId,
    Version,
    Kind,
    Name,
    /// The template's canonical JSON document.
    Document,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WorkflowVersionTemplates {
    Table,
    WorkflowId,
    WorkflowVersion,
    TemplateId,
    TemplateVersion,
}

fn millis(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Templates::Table)
                .col(ColumnDef::new(Templates::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Templates::Name).string().not_null())
                .col(ColumnDef::new(Templates::Kind).string().not_null())
                .col(ColumnDef::new(Templates::LatestVersion).integer().not_null())
                .col(millis(Templates::CreatedAt))
                .col(millis(Templates::UpdatedAt))
                .col(ColumnDef::new(Templates::DeletedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(TemplateVersions::Table)
                .col(ColumnDef::new(TemplateVersions::TemplateId).string().not_null())
                .col(ColumnDef::new(TemplateVersions::Version).integer().not_null())
                .col(ColumnDef::new(TemplateVersions::Kind).string().not_null())
                .col(ColumnDef::new(TemplateVersions::Name).string().not_null())
                .col(ColumnDef::new(TemplateVersions::Document).text().not_null())
                .col(millis(TemplateVersions::CreatedAt))
                .primary_key(Index::create().col(TemplateVersions::TemplateId).col(TemplateVersions::Version))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WorkflowVersionTemplates::Table)
                .col(ColumnDef::new(WorkflowVersionTemplates::WorkflowId).string().not_null())
                .col(ColumnDef::new(WorkflowVersionTemplates::WorkflowVersion).integer().not_null())
                .col(ColumnDef::new(WorkflowVersionTemplates::TemplateId).string().not_null())
                .col(ColumnDef::new(WorkflowVersionTemplates::TemplateVersion).integer().not_null())
                .primary_key(
                    Index::create()
                        .col(WorkflowVersionTemplates::WorkflowId)
                        .col(WorkflowVersionTemplates::WorkflowVersion)
                        .col(WorkflowVersionTemplates::TemplateId)
                        .col(WorkflowVersionTemplates::TemplateVersion),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_workflow_version_templates_template")
                .table(WorkflowVersionTemplates::Table)
                .col(WorkflowVersionTemplates::TemplateId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WorkflowVersionTemplates::Table.into_iden(),
            TemplateVersions::Table.into_iden(),
            Templates::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
