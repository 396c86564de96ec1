//! `archived_run_history` rows: the timelines of archived runs, with the ids they had in
//! `run_history` (so each keeps its order).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "archived_run_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub run_id: String,
    pub workflow_id: String,
    pub version: i32,
    pub at: i64,
    pub node: Option<String>,
    pub kind: String,
    pub data: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
