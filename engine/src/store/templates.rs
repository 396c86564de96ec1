//! The template library: templates, their immutable versions (every save that changes
//! something is a new one), and the template versions each published workflow version
//! pinned. A deleted template keeps its versions, so journeys that pinned them still run.

use super::entity::{run, template, template_version, workflow, workflow_version_template as pin};
use super::{Error, from_millis, millis};
use crate::library::{self, Library, Template, TemplateKind};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::BTreeMap;

/// A template (its latest version's name and kind).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateRecord {
    pub id: String,
    pub name: String,
    pub kind: TemplateKind,
    pub latest_version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One stored version of a template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateVersionRecord {
    /// The template as saved; its `version` is set.
    pub template: Template,
    pub created_at: DateTime<Utc>,
}

impl TemplateVersionRecord {
    pub fn version(&self) -> u32 {
        self.template.version.unwrap_or_default()
    }
}

/// A version without its content: what version lists show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateVersionInfo {
    pub version: u32,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

fn kind_of(s: &str) -> Result<TemplateKind, Error> {
    Ok(match s {
        "message" => TemplateKind::Message,
        "partial" => TemplateKind::Partial,
        "layout" => TemplateKind::Layout,
        other => return Err(Error::Corrupt { what: "template kind", detail: other.to_string() }),
    })
}

fn decode(m: template::Model) -> Result<TemplateRecord, Error> {
    Ok(TemplateRecord {
        kind: kind_of(&m.kind)?,
        id: m.id,
        name: m.name,
        latest_version: m.latest_version as u32,
        created_at: from_millis(m.created_at),
        updated_at: from_millis(m.updated_at),
    })
}

fn decode_version(m: template_version::Model) -> Result<TemplateVersionRecord, Error> {
    let template = library::from_document(&m.document, m.version as u32).map_err(|problems| Error::Corrupt {
        what: "template version",
        detail: format!(
            "{} v{}: {}",
            m.template_id,
            m.version,
            problems.first().map(ToString::to_string).unwrap_or_default()
        ),
    })?;
    Ok(TemplateVersionRecord { template, created_at: from_millis(m.created_at) })
}

/// A template that is not deleted.
pub async fn get_template<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<TemplateRecord>, Error> {
    template::Entity::find_by_id(id.to_string())
        .filter(template::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .map(decode)
        .transpose()
}

/// Templates by id after the cursor `after`, optionally of one kind.
pub async fn list_templates<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    kind: Option<TemplateKind>,
    limit: u64,
) -> Result<Vec<TemplateRecord>, Error> {
    let mut q = template::Entity::find().filter(template::Column::DeletedAt.is_null());
    if let Some(a) = after {
        q = q.filter(template::Column::Id.gt(a));
    }
    if let Some(k) = kind {
        q = q.filter(template::Column::Kind.eq(k.name()));
    }
    q.order_by_asc(template::Column::Id).limit(limit).all(db).await?.into_iter().map(decode).collect()
}

/// One version of a template, also of a deleted one (journeys may have pinned it).
pub async fn get_template_version<C: ConnectionTrait>(
    db: &C,
    id: &str,
    version: u32,
) -> Result<Option<TemplateVersionRecord>, Error> {
    template_version::Entity::find_by_id((id.to_string(), version as i32))
        .one(db)
        .await?
        .map(decode_version)
        .transpose()
}

/// The latest version of a template that is not deleted.
pub async fn latest_template_version<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Option<TemplateVersionRecord>, Error> {
    match get_template(db, id).await? {
        Some(t) => get_template_version(db, id, t.latest_version).await,
        None => Ok(None),
    }
}

/// A template's versions, oldest first, after version `after`.
pub async fn list_template_versions<C: ConnectionTrait>(
    db: &C,
    id: &str,
    after: Option<u32>,
    limit: u64,
) -> Result<Vec<TemplateVersionInfo>, Error> {
    let mut q = template_version::Entity::find()
        .select_only()
        .columns([
            template_version::Column::Version,
            template_version::Column::Name,
            template_version::Column::CreatedAt,
        ])
        .filter(template_version::Column::TemplateId.eq(id));
    if let Some(a) = after {
        q = q.filter(template_version::Column::Version.gt(i64::from(a)));
    }
    let rows: Vec<(i32, String, i64)> =
        q.order_by_asc(template_version::Column::Version).limit(limit).into_tuple().all(db).await?;
    Ok(rows
        .into_iter()
        .map(|(v, name, at)| TemplateVersionInfo { version: v as u32, name, created_at: from_millis(at) })
        .collect())
}

/// What saving a template did.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateSave {
    /// Created (version 1, or the next version of a template deleted before).
    Created(TemplateVersionRecord),
    /// Saved as a new version.
    NewVersion(TemplateVersionRecord),
    /// The latest version has exactly this content: no new version.
    Unchanged(TemplateVersionRecord),
    /// `create`: a template with this id exists.
    Exists,
    /// `update`: no such template.
    NotFound,
    /// `update`: the template is of another kind, which cannot change.
    KindChanged { from: TemplateKind },
}

async fn insert_version<C: ConnectionTrait>(
    db: &C,
    t: &Template,
    version: u32,
    now: DateTime<Utc>,
) -> Result<TemplateVersionRecord, Error> {
    template_version::Entity::insert(template_version::ActiveModel {
        template_id: Set(t.id.clone()),
        version: Set(version as i32),
        kind: Set(t.kind().name().to_string()),
        name: Set(t.name.clone()),
        document: Set(t.to_document()),
        created_at: Set(millis(now)),
    })
    .exec_without_returning(db)
    .await?;
    Ok(TemplateVersionRecord { template: Template { version: Some(version), ..t.clone() }, created_at: now })
}

/// Create a template as version 1. A deleted template of the same id comes back with
/// its next version (old versions stay as they were, for the journeys that pinned them).
pub async fn create_template<C: ConnectionTrait>(
    db: &C,
    t: &Template,
    now: DateTime<Utc>,
) -> Result<TemplateSave, Error> {
    let existing = template::Entity::find_by_id(t.id.clone()).one(db).await?;
    let version = match &existing {
        Some(row) if row.deleted_at.is_none() => return Ok(TemplateSave::Exists),
        Some(row) => row.latest_version as u32 + 1,
        None => 1,
    };
    template::Entity::insert(template::ActiveModel {
        id: Set(t.id.clone()),
        name: Set(t.name.clone()),
        kind: Set(t.kind().name().to_string()),
        latest_version: Set(version as i32),
        created_at: Set(millis(now)),
        updated_at: Set(millis(now)),
        deleted_at: Set(None),
    })
    .on_conflict(
        OnConflict::column(template::Column::Id)
            .update_columns([
                template::Column::Name,
                template::Column::Kind,
                template::Column::LatestVersion,
                template::Column::CreatedAt,
                template::Column::UpdatedAt,
                template::Column::DeletedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(TemplateSave::Created(insert_version(db, t, version, now).await?))
}

/// Save a new version of an existing template, unless it is the latest one already.
pub async fn update_template<C: ConnectionTrait>(
    db: &C,
    t: &Template,
    now: DateTime<Utc>,
) -> Result<TemplateSave, Error> {
    let Some(current) = get_template(db, &t.id).await? else { return Ok(TemplateSave::NotFound) };
    if current.kind != t.kind() {
        return Ok(TemplateSave::KindChanged { from: current.kind });
    }
    if let Some(latest) = get_template_version(db, &t.id, current.latest_version).await?
        && latest.template.to_document() == t.to_document()
    {
        return Ok(TemplateSave::Unchanged(latest));
    }
    let version = current.latest_version + 1;
    template::Entity::update_many()
        .col_expr(template::Column::Name, t.name.clone().into())
        .col_expr(template::Column::LatestVersion, (version as i32).into())
        .col_expr(template::Column::UpdatedAt, millis(now).into())
        .filter(template::Column::Id.eq(&t.id))
        .exec(db)
        .await?;
    Ok(TemplateSave::NewVersion(insert_version(db, t, version, now).await?))
}

/// Why a published workflow version keeps a template in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseReason {
    /// It is the live version of a live workflow.
    Live,
    /// It is the live version of a paused workflow, which can be resumed.
    Paused,
    /// Runs on it are still going.
    ActiveRuns(u64),
}

/// A published workflow version that uses a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateUse {
    pub workflow_id: String,
    pub workflow_version: u32,
    pub template_version: u32,
    pub reason: UseReason,
}

/// The published workflow versions that use template `id` now: the live version of a
/// live or paused workflow, or a version with runs still going.
pub async fn template_uses<C: ConnectionTrait>(db: &C, id: &str) -> Result<Vec<TemplateUse>, Error> {
    let pins = pin::Entity::find()
        .filter(pin::Column::TemplateId.eq(id))
        .order_by_asc(pin::Column::WorkflowId)
        .order_by_asc(pin::Column::WorkflowVersion)
        .all(db)
        .await?;
    let mut out = Vec::new();
    let mut workflows: BTreeMap<String, Option<workflow::Model>> = BTreeMap::new();
    for p in pins {
        if !workflows.contains_key(&p.workflow_id) {
            let w = workflow::Entity::find_by_id(p.workflow_id.clone()).one(db).await?;
            workflows.insert(p.workflow_id.clone(), w);
        }
        let Some(Some(w)) = workflows.get(&p.workflow_id) else { continue };
        let live = w.live_version == Some(p.workflow_version);
        let reason = match w.status.as_str() {
            "live" if live => Some(UseReason::Live),
            "paused" if live => Some(UseReason::Paused),
            _ => {
                let running = run::Entity::find()
                    .filter(run::Column::WorkflowId.eq(&p.workflow_id))
                    .filter(run::Column::Version.eq(p.workflow_version))
                    .filter(run::Column::Status.is_in(["active", "waiting"]))
                    .count(db)
                    .await?;
                (running > 0).then_some(UseReason::ActiveRuns(running))
            }
        };
        if let Some(reason) = reason {
            out.push(TemplateUse {
                workflow_id: p.workflow_id,
                workflow_version: p.workflow_version as u32,
                template_version: p.template_version as u32,
                reason,
            });
        }
    }
    Ok(out)
}

/// What deleting a template did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateDelete {
    NotFound,
    /// Refused: published journeys use it.
    InUse(Vec<TemplateUse>),
    Deleted,
}

/// Delete a template unless a published journey uses it. Its versions are kept.
pub async fn delete_template<C: ConnectionTrait>(
    db: &C,
    id: &str,
    now: DateTime<Utc>,
) -> Result<TemplateDelete, Error> {
    if get_template(db, id).await?.is_none() {
        return Ok(TemplateDelete::NotFound);
    }
    let uses = template_uses(db, id).await?;
    if !uses.is_empty() {
        return Ok(TemplateDelete::InUse(uses));
    }
    template::Entity::update_many()
        .col_expr(template::Column::DeletedAt, Some(millis(now)).into())
        .col_expr(template::Column::UpdatedAt, millis(now).into())
        .filter(template::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(TemplateDelete::Deleted)
}

/// Of `ids`, those that are deleted or never existed.
pub async fn missing_templates<C: ConnectionTrait>(db: &C, ids: &[String]) -> Result<Vec<String>, Error> {
    let mut present = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<String> = template::Entity::find()
            .select_only()
            .column(template::Column::Id)
            .filter(template::Column::Id.is_in(chunk.to_vec()))
            .filter(template::Column::DeletedAt.is_null())
            .into_tuple()
            .all(db)
            .await?;
        present.extend(rows);
    }
    Ok(ids.iter().filter(|id| !present.contains(*id)).cloned().collect())
}

/// Load the given versions into `library`; a stored document that no longer reads is
/// recorded as broken (journeys using it then say so).
async fn load_versions<C: ConnectionTrait>(
    db: &C,
    wanted: &[(String, u32)],
    library: &mut Library,
) -> Result<(), Error> {
    for chunk in wanted.chunks(200) {
        let mut any = Condition::any();
        for (id, v) in chunk {
            any = any.add(
                Condition::all()
                    .add(template_version::Column::TemplateId.eq(id.as_str()))
                    .add(template_version::Column::Version.eq(*v as i32)),
            );
        }
        for m in template_version::Entity::find().filter(any).all(db).await? {
            let (id, version) = (m.template_id.clone(), m.version);
            match decode_version(m) {
                Ok(r) => library.insert(r.template),
                Err(e) => {
                    tracing::error!(template = %id, version, error = %e, "Stored template version does not read");
                    library.insert_broken(id, e.to_string());
                }
            }
        }
    }
    Ok(())
}

/// The library a draft is checked and published against: the latest version of every
/// template, and the older versions in `versions` (asked for by number).
pub async fn template_library<C: ConnectionTrait>(db: &C, versions: &[(String, u32)]) -> Result<Library, Error> {
    let latest: Vec<(String, i32)> = template::Entity::find()
        .select_only()
        .columns([template::Column::Id, template::Column::LatestVersion])
        .filter(template::Column::DeletedAt.is_null())
        .into_tuple()
        .all(db)
        .await?;
    let mut wanted: Vec<(String, u32)> = latest.into_iter().map(|(id, v)| (id, v as u32)).collect();
    wanted.extend(versions.iter().cloned());
    wanted.sort();
    wanted.dedup();
    let mut library = Library::new();
    load_versions(db, &wanted, &mut library).await?;
    Ok(library)
}

/// The template versions a published workflow version pinned, by template id.
pub async fn get_pins<C: ConnectionTrait>(db: &C, workflow: &str, version: u32) -> Result<Vec<(String, u32)>, Error> {
    let rows: Vec<(String, i32)> = pin::Entity::find()
        .select_only()
        .columns([pin::Column::TemplateId, pin::Column::TemplateVersion])
        .filter(pin::Column::WorkflowId.eq(workflow))
        .filter(pin::Column::WorkflowVersion.eq(version as i32))
        .order_by_asc(pin::Column::TemplateId)
        .order_by_asc(pin::Column::TemplateVersion)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(id, v)| (id, v as u32)).collect())
}

/// Record the template versions a workflow version pins (publishing, in its transaction).
pub async fn save_pins<C: ConnectionTrait>(
    db: &C,
    workflow: &str,
    version: u32,
    pins: &[(String, u32)],
) -> Result<(), Error> {
    if pins.is_empty() {
        return Ok(());
    }
    pin::Entity::insert_many(pins.iter().map(|(id, v)| pin::ActiveModel {
        workflow_id: Set(workflow.to_string()),
        workflow_version: Set(version as i32),
        template_id: Set(id.clone()),
        template_version: Set(*v as i32),
    }))
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The library a published workflow version runs with: exactly the versions it pinned.
pub async fn pinned_library<C: ConnectionTrait>(db: &C, workflow: &str, version: u32) -> Result<Library, Error> {
    let pins = get_pins(db, workflow, version).await?;
    let mut library = Library::new();
    load_versions(db, &pins, &mut library).await?;
    Ok(library)
}
