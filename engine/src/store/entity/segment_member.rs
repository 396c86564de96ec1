//! `segment_members` rows: who is in a segment now, since when.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "segment_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub segment_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub contact_id: String,
    pub entered_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
