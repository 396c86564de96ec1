//! Workflows: editable drafts and immutable published versions.

use super::entity::{workflow, workflow_version};
use super::{Error, from_millis, millis};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;

/// Where a workflow is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStatus {
    /// Never published.
    Draft,
    /// Published: new contacts enter the live version.
    Live,
    /// No new entries; runs in flight go on.
    Paused,
    /// Retired: no new entries; runs in flight go on.
    Archived,
}

impl WorkflowStatus {
    pub fn name(self) -> &'static str {
        match self {
            WorkflowStatus::Draft => "draft",
            WorkflowStatus::Live => "live",
            WorkflowStatus::Paused => "paused",
            WorkflowStatus::Archived => "archived",
        }
    }

    fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "draft" => WorkflowStatus::Draft,
            "live" => WorkflowStatus::Live,
            "paused" => WorkflowStatus::Paused,
            "archived" => WorkflowStatus::Archived,
            other => return Err(Error::Corrupt { what: "workflow status", detail: other.to_string() }),
        })
    }
}

/// A workflow with its draft (the JSON document as last saved, valid or not).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRecord {
    pub id: String,
    pub name: String,
    pub status: WorkflowStatus,
    pub draft: Value,
    pub live_version: Option<u32>,
    pub latest_version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A published version: the canonical text of the journey.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub workflow_id: String,
    pub version: u32,
    pub definition: String,
    pub published_at: DateTime<Utc>,
}

fn decode(m: workflow::Model) -> Result<WorkflowRecord, Error> {
    let draft = serde_json::from_str(&m.draft)
        .map_err(|e| Error::Corrupt { what: "workflow draft", detail: format!("{}: {e}", m.id) })?;
    Ok(WorkflowRecord {
        status: WorkflowStatus::parse(&m.status)?,
        id: m.id,
        name: m.name,
        draft,
        live_version: m.live_version.map(|v| v as u32),
        latest_version: m.latest_version as u32,
        created_at: from_millis(m.created_at),
        updated_at: from_millis(m.updated_at),
    })
}

fn decode_version(m: workflow_version::Model) -> VersionRecord {
    VersionRecord {
        workflow_id: m.workflow_id,
        version: m.version as u32,
        definition: m.definition,
        published_at: from_millis(m.published_at),
    }
}

pub async fn get_workflow<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<WorkflowRecord>, Error> {
    workflow::Entity::find_by_id(id.to_string()).one(db).await?.map(decode).transpose()
}

pub async fn list_workflows<C: ConnectionTrait>(db: &C) -> Result<Vec<WorkflowRecord>, Error> {
    workflow::Entity::find().order_by_asc(workflow::Column::Id).all(db).await?.into_iter().map(decode).collect()
}

/// Create a workflow with its first draft. `None` if the id is taken.
pub async fn create_workflow<C: ConnectionTrait>(
    db: &C,
    id: &str,
    name: &str,
    draft: &Value,
    now: DateTime<Utc>,
) -> Result<Option<WorkflowRecord>, Error> {
    if get_workflow(db, id).await?.is_some() {
        return Ok(None);
    }
    let model = workflow::ActiveModel {
        id: Set(id.to_string()),
        name: Set(name.to_string()),
        status: Set(WorkflowStatus::Draft.name().to_string()),
        draft: Set(draft.to_string()),
        live_version: Set(None),
        latest_version: Set(0),
        created_at: Set(millis(now)),
        updated_at: Set(millis(now)),
    };
    workflow::Entity::insert(model).exec_without_returning(db).await?;
    get_workflow(db, id).await
}

/// Replace the draft. `None` if there is no such workflow.
pub async fn save_draft<C: ConnectionTrait>(
    db: &C,
    id: &str,
    name: &str,
    draft: &Value,
    now: DateTime<Utc>,
) -> Result<Option<WorkflowRecord>, Error> {
    let n = workflow::Entity::update_many()
        .col_expr(workflow::Column::Draft, draft.to_string().into())
        .col_expr(workflow::Column::Name, name.into())
        .col_expr(workflow::Column::UpdatedAt, millis(now).into())
        .filter(workflow::Column::Id.eq(id))
        .exec(db)
        .await?
        .rows_affected;
    if n == 0 {
        return Ok(None);
    }
    get_workflow(db, id).await
}

/// Publish `definition` (canonical text of a valid journey) as the next version and make
/// it live. Returns the new version, or `None` if there is no such workflow.
pub async fn publish<C: ConnectionTrait>(
    db: &C,
    id: &str,
    definition: &str,
    now: DateTime<Utc>,
) -> Result<Option<u32>, Error> {
    let Some(w) = get_workflow(db, id).await? else { return Ok(None) };
    let version = w.latest_version + 1;
    workflow_version::Entity::insert(workflow_version::ActiveModel {
        workflow_id: Set(id.to_string()),
        version: Set(version as i32),
        definition: Set(definition.to_string()),
        published_at: Set(millis(now)),
    })
    .exec_without_returning(db)
    .await?;
    workflow::Entity::update_many()
        .col_expr(workflow::Column::LatestVersion, (version as i32).into())
        .col_expr(workflow::Column::LiveVersion, (version as i32).into())
        .col_expr(workflow::Column::Status, WorkflowStatus::Live.name().into())
        .col_expr(workflow::Column::UpdatedAt, millis(now).into())
        .filter(workflow::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(Some(version))
}

/// Set the status. `None` if there is no such workflow.
pub async fn set_status<C: ConnectionTrait>(
    db: &C,
    id: &str,
    status: WorkflowStatus,
    now: DateTime<Utc>,
) -> Result<Option<WorkflowRecord>, Error> {
    workflow::Entity::update_many()
        .col_expr(workflow::Column::Status, status.name().into())
        .col_expr(workflow::Column::UpdatedAt, millis(now).into())
        .filter(workflow::Column::Id.eq(id))
        .exec(db)
        .await?;
    get_workflow(db, id).await
}

pub async fn list_versions<C: ConnectionTrait>(db: &C, id: &str) -> Result<Vec<VersionRecord>, Error> {
    Ok(workflow_version::Entity::find()
        .filter(workflow_version::Column::WorkflowId.eq(id))
        .order_by_asc(workflow_version::Column::Version)
        .all(db)
        .await?
        .into_iter()
        .map(decode_version)
        .collect())
}

pub async fn get_version<C: ConnectionTrait>(db: &C, id: &str, version: u32) -> Result<Option<VersionRecord>, Error> {
    Ok(workflow_version::Entity::find_by_id((id.to_string(), version as i32)).one(db).await?.map(decode_version))
}

/// The live version of every live workflow.
pub async fn live_versions<C: ConnectionTrait>(db: &C) -> Result<Vec<VersionRecord>, Error> {
    let mut out = Vec::new();
    for w in workflow::Entity::find().filter(workflow::Column::Status.eq("live")).all(db).await? {
        if let Some(v) = w.live_version
            && let Some(version) = get_version(db, &w.id, v as u32).await?
        {
            out.push(version);
        }
    }
    Ok(out)
}

/// A workflow without its draft: what lists show.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowInfo {
    pub id: String,
    pub name: String,
    pub status: WorkflowStatus,
    pub live_version: Option<u32>,
    pub latest_version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

type InfoRow = (String, String, String, Option<i32>, i32, i64, i64);

/// Workflows by id after the cursor `after`, optionally of one status, without reading
/// their drafts.
pub async fn list_workflow_infos<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    status: Option<WorkflowStatus>,
    limit: u64,
) -> Result<Vec<WorkflowInfo>, Error> {
    use sea_orm::QuerySelect;
    let mut q = workflow::Entity::find().select_only().columns([
        workflow::Column::Id,
        workflow::Column::Name,
        workflow::Column::Status,
        workflow::Column::LiveVersion,
        workflow::Column::LatestVersion,
        workflow::Column::CreatedAt,
        workflow::Column::UpdatedAt,
    ]);
    if let Some(a) = after {
        q = q.filter(workflow::Column::Id.gt(a));
    }
    if let Some(s) = status {
        q = q.filter(workflow::Column::Status.eq(s.name()));
    }
    let rows: Vec<InfoRow> = q.order_by_asc(workflow::Column::Id).limit(limit).into_tuple().all(db).await?;
    rows.into_iter()
        .map(|(id, name, status, live, latest, created, updated)| {
            Ok(WorkflowInfo {
                status: WorkflowStatus::parse(&status)?,
                id,
                name,
                live_version: live.map(|v| v as u32),
                latest_version: latest as u32,
                created_at: from_millis(created),
                updated_at: from_millis(updated),
            })
        })
        .collect()
}

/// A published version without its definition: what version lists show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionInfo {
    pub version: u32,
    pub published_at: DateTime<Utc>,
}

/// A workflow's versions, oldest first, after version `after`.
pub async fn list_version_infos<C: ConnectionTrait>(
    db: &C,
    id: &str,
    after: Option<u32>,
    limit: u64,
) -> Result<Vec<VersionInfo>, Error> {
    use sea_orm::QuerySelect;
    let mut q = workflow_version::Entity::find()
        .select_only()
        .columns([workflow_version::Column::Version, workflow_version::Column::PublishedAt])
        .filter(workflow_version::Column::WorkflowId.eq(id));
    if let Some(a) = after {
        q = q.filter(workflow_version::Column::Version.gt(i64::from(a)));
    }
    let rows: Vec<(i32, i64)> =
        q.order_by_asc(workflow_version::Column::Version).limit(limit).into_tuple().all(db).await?;
    Ok(rows.into_iter().map(|(v, at)| VersionInfo { version: v as u32, published_at: from_millis(at) }).collect())
}

/// Each published, not archived journey's live definition, parsed: (id, document).
pub async fn published_definitions<C: ConnectionTrait>(db: &C) -> Result<Vec<(String, Value)>, Error> {
    let mut out = Vec::new();
    for w in list_workflows(db).await? {
        let (Some(v), false) = (w.live_version, w.status == WorkflowStatus::Archived) else { continue };
        let Some(version) = get_version(db, &w.id, v).await? else { continue };
        let doc: Value = serde_json::from_str(&version.definition)
            .map_err(|e| Error::Corrupt { what: "workflow version", detail: format!("{}: {e}", w.id) })?;
        out.push((w.id, doc));
    }
    Ok(out)
}
