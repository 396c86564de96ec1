//! `audience_queue` rows: a contact change or an event the audience (segments, stages,
//! scores, audience triggers) has not processed yet; written in the transaction of the
//! change itself.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audience_queue")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub contact_id: String,
    /// `changed` or `event`.
    pub kind: String,
    pub data: String,
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
