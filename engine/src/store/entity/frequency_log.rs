//! `frequency_log` rows: the marketing messages handed to delivery, which the frequency
//! caps count (one per outbox row of a marketing send, by its idempotency key).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "frequency_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub contact_id: String,
    pub channel: String,
    /// When it was queued (ms since the epoch).
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
