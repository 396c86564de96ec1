//! The journey test file of each workflow (`<id>.test.json` of a folder of journeys),
//! stored as the JSON document the editor or `kairos push` saved.

use super::entity::workflow_test;
use super::{Error, from_millis, millis};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde_json::Value;

/// A workflow's stored test file.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFileRecord {
    pub workflow_id: String,
    pub content: Value,
    pub updated_at: DateTime<Utc>,
}

/// The stored test file of a workflow, if any.
pub async fn get_journey_tests<C: ConnectionTrait>(db: &C, workflow_id: &str) -> Result<Option<TestFileRecord>, Error> {
    let Some(m) = workflow_test::Entity::find_by_id(workflow_id.to_string()).one(db).await? else { return Ok(None) };
    let content = serde_json::from_str(&m.content)
        .map_err(|e| Error::Corrupt { what: "journey tests", detail: format!("{}: {e}", m.workflow_id) })?;
    Ok(Some(TestFileRecord { workflow_id: m.workflow_id, content, updated_at: from_millis(m.updated_at) }))
}

/// Store (or replace) the test file of a workflow.
pub async fn save_journey_tests<C: ConnectionTrait>(
    db: &C,
    workflow_id: &str,
    content: &Value,
    now: DateTime<Utc>,
) -> Result<TestFileRecord, Error> {
    workflow_test::Entity::insert(workflow_test::ActiveModel {
        workflow_id: Set(workflow_id.to_string()),
        content: Set(content.to_string()),
        updated_at: Set(millis(now)),
    })
    .on_conflict(
        OnConflict::column(workflow_test::Column::WorkflowId)
            .update_columns([workflow_test::Column::Content, workflow_test::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(TestFileRecord { workflow_id: workflow_id.to_string(), content: content.clone(), updated_at: now })
}
