//! `runs` rows.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "runs")]
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
    pub wake_at: Option<i64>,
    pub rev: i64,
    pub state: String,
    #[sea_orm(unique)]
    pub start_key: Option<String>,
    pub started_at: i64,
    pub updated_at: i64,
    pub ended_at: Option<i64>,
    pub converted_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
