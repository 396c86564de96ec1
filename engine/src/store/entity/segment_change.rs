//! `segment_changes` rows: every entry into (`entered`) and exit from a segment, with its time.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "segment_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub segment_id: String,
    pub contact_id: String,
    pub entered: bool,
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
