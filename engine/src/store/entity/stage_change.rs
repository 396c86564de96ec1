//! `stage_changes` rows: every change of a contact's lifecycle stage, with time and cause.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stage_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub contact_id: String,
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub at: i64,
    pub cause: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
