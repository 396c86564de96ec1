//! The journey test file of each workflow (`<id>.test.json` of a folder of journeys),
//! stored as the text that was saved, so that `kairos push` then `kairos pull` gives the
//! same bytes back.

use super::entity::workflow_test;
use super::{Error, from_millis, millis};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

/// A workflow's stored test file.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFileRecord {
    pub workflow_id: String,
    /// The file's JSON text, as saved.
    pub text: String,
    pub updated_at: DateTime<Utc>,
}

/// The stored test file of a workflow, if any.
pub async fn get_journey_tests<C: ConnectionTrait>(db: &C, workflow_id: &str) -> Result<Option<TestFileRecord>, Error> {
    Ok(workflow_test::Entity::find_by_id(workflow_id.to_string()).one(db).await?.map(|m| TestFileRecord {
        workflow_id: m.workflow_id,
        text: m.content,
        updated_at: from_millis(m.updated_at),
    }))
}

/// Store (or replace) the test file of a workflow: `text` is JSON the caller checked.
pub async fn save_journey_tests<C: ConnectionTrait>(
    db: &C,
    workflow_id: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<TestFileRecord, Error> {
    workflow_test::Entity::insert(workflow_test::ActiveModel {
        workflow_id: Set(workflow_id.to_string()),
        content: Set(text.to_string()),
        updated_at: Set(millis(now)),
    })
    .on_conflict(
        OnConflict::column(workflow_test::Column::WorkflowId)
            .update_columns([workflow_test::Column::Content, workflow_test::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(TestFileRecord { workflow_id: workflow_id.to_string(), text: text.to_string(), updated_at: now })
}
