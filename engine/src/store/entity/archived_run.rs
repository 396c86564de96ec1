//! `archived_runs` rows: ended runs moved out of `runs` by the retention sweep (the same
//! columns, without `wake_at`, plus when it moved).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "archived_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workflow_id: String,
    pub version: i32,
    pub contact_id: String,
    pub entry: i32,
    pub correlation: Option<String>,
    pub status: String,
    pub node: Option<String>,
    pub rev: i64,
    pub state: String,
    #[sea_orm(unique)]
    pub start_key: Option<String>,
    pub started_at: i64,
    pub updated_at: i64,
    pub ended_at: i64,
    pub converted_at: Option<i64>,
    pub archived_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
