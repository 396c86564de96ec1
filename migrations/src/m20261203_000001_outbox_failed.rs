//! A partial index over the failed (dead-lettered) outbox rows, for the journey
//! statistics' count of failed deliveries per node. Only failed rows are in it, so
//! queueing and sending messages maintain nothing more.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("CREATE INDEX outbox_failed ON outbox (workflow_id, node) WHERE status = 'failed'")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP INDEX outbox_failed").await?;
        Ok(())
    }
}
