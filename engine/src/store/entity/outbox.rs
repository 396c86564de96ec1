//! `outbox` rows.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub key: String,
    pub run_id: String,
    pub workflow_id: String,
    pub contact_id: String,
    pub node: String,
    pub channel: String,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
    /// The provider named by the send node; none: the channel's default.
    pub provider: Option<String>,
    /// Attempts whose outcome was recorded (fewer than `attempts`: one vanished in a crash).
    pub recorded_attempts: i32,
    pub transactional: bool,
    pub topic: Option<String>,
    pub address: Option<String>,
    /// A run waits for this message's outcome: recording it wakes the run.
    pub awaited: bool,
    /// A webhook's answer (`{"status": 201, "body": …}`), kept for an awaited message.
    pub response: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
