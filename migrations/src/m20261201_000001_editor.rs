//! What the browser editor needs: users who sign in, their sessions, and the journey
//! test file stored per workflow.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    /// SHA-256 of the session token: the token itself is never stored.
    TokenHash,
    UserId,
    CsrfToken,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum WorkflowTests {
    Table,
    WorkflowId,
    Content,
    UpdatedAt,
}

fn millis(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(ColumnDef::new(Users::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Users::Email).string().not_null().unique_key())
                .col(ColumnDef::new(Users::PasswordHash).text().not_null())
                .col(millis(Users::CreatedAt))
                .col(millis(Users::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(ColumnDef::new(Sessions::TokenHash).string().not_null().primary_key())
                .col(ColumnDef::new(Sessions::UserId).string().not_null())
                .col(ColumnDef::new(Sessions::CsrfToken).string().not_null())
                .col(millis(Sessions::CreatedAt))
                .col(millis(Sessions::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_sessions_expires_at").table(Sessions::Table).col(Sessions::ExpiresAt).to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_sessions_user_id").table(Sessions::Table).col(Sessions::UserId).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WorkflowTests::Table)
                .col(ColumnDef::new(WorkflowTests::WorkflowId).string().not_null().primary_key())
                .col(ColumnDef::new(WorkflowTests::Content).text().not_null())
                .col(millis(WorkflowTests::UpdatedAt))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [Users::Table.into_iden(), Sessions::Table.into_iden(), WorkflowTests::Table.into_iden()] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
