//! `node_counts` rows: how many runs entered each node of a version, and converted there
//! (a node's counts are the sum of its shards).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "node_counts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workflow_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub node: String,
    /// Which of a node's counter rows (see `store::runs::add_node_counts`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub shard: i32,
    pub entered: i64,
    pub converted: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
