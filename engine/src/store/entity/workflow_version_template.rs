//! `workflow_version_templates` rows: the template versions a published workflow version pinned.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_version_templates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workflow_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub workflow_version: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub template_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub template_version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
