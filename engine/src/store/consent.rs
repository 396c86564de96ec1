//! Consent in the store: topics, each contact's subscription status per channel and
//! topic, and the suppressed email addresses (see [`crate::consent`]).

use super::entity::{contact_consent, suppression, topic};
use super::{Error, from_millis, millis};
use crate::consent::{self, Channel, Status, Subscriptions};
use crate::contact::Contact;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{HashMap, HashSet};

// ----- Topics -----

/// A topic: a marketing category contacts can opt out of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRecord {
    /// A slug, e.g. `newsletter`; what a send's `topic` names.
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn topic_of(m: topic::Model) -> TopicRecord {
    TopicRecord {
        id: m.id,
        name: m.name,
        description: m.description,
        created_at: from_millis(m.created_at),
        updated_at: from_millis(m.updated_at),
    }
}

/// Every topic, by id.
pub async fn list_topics<C: ConnectionTrait>(db: &C) -> Result<Vec<TopicRecord>, Error> {
    Ok(topic::Entity::find().order_by_asc(topic::Column::Id).all(db).await?.into_iter().map(topic_of).collect())
}

pub async fn get_topic<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<TopicRecord>, Error> {
    Ok(topic::Entity::find_by_id(id.to_string()).one(db).await?.map(topic_of))
}

/// Create a topic; `None` when the id is taken.
pub async fn insert_topic<C: ConnectionTrait>(
    db: &C,
    id: &str,
    name: &str,
    description: &str,
    now: DateTime<Utc>,
) -> Result<Option<TopicRecord>, Error> {
    let row = topic::ActiveModel {
        id: Set(id.to_string()),
        name: Set(name.to_string()),
        description: Set(description.to_string()),
        created_at: Set(millis(now)),
        updated_at: Set(millis(now)),
    };
    let inserted = topic::Entity::insert(row)
        .on_conflict(OnConflict::column(topic::Column::Id).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    if inserted == 0 {
        return Ok(None);
    }
    get_topic(db, id).await
}

/// Rename or re-describe a topic; `None` when there is no such topic.
pub async fn update_topic<C: ConnectionTrait>(
    db: &C,
    id: &str,
    name: &str,
    description: &str,
    now: DateTime<Utc>,
) -> Result<Option<TopicRecord>, Error> {
    let updated = topic::Entity::update_many()
        .col_expr(topic::Column::Name, sea_orm::sea_query::Expr::value(name))
        .col_expr(topic::Column::Description, sea_orm::sea_query::Expr::value(description))
        .col_expr(topic::Column::UpdatedAt, sea_orm::sea_query::Expr::value(millis(now)))
        .filter(topic::Column::Id.eq(id))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Ok(None);
    }
    get_topic(db, id).await
}

/// Delete a topic and every contact's status for it. False when there was none.
pub async fn delete_topic<C: ConnectionTrait>(db: &C, id: &str) -> Result<bool, Error> {
    let existed = topic::Entity::delete_by_id(id.to_string()).exec(db).await?.rows_affected > 0;
    contact_consent::Entity::delete_many()
        .filter(contact_consent::Column::Scope.eq(ConsentScope::Topic(id.to_string()).key()))
        .exec(db)
        .await?;
    Ok(existed)
}

/// The ids of every topic.
pub async fn topic_ids<C: ConnectionTrait>(db: &C) -> Result<HashSet<String>, Error> {
    let ids: Vec<String> = topic::Entity::find().select_only().column(topic::Column::Id).into_tuple().all(db).await?;
    Ok(ids.into_iter().collect())
}

/// The sends of published versions that may still run (the live version of every
/// workflow that is not archived) naming `topic`: (workflow id, node id).
pub async fn topic_users<C: ConnectionTrait>(db: &C, topic: &str) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for (id, doc) in super::published_definitions(db).await? {
        for node in doc.get("nodes").and_then(|n| n.as_array()).into_iter().flatten() {
            if node.get("type").and_then(|t| t.as_str()) == Some("send")
                && node.get("topic").and_then(|t| t.as_str()) == Some(topic)
            {
                out.push((id.clone(), node.get("id").and_then(|i| i.as_str()).unwrap_or_default().to_string()));
            }
        }
    }
    Ok(out)
}

// ----- Subscription status -----

/// What a subscription status is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsentScope {
    Channel(Channel),
    Topic(String),
}

impl ConsentScope {
    /// The stored form: `channel:email`, `topic:newsletter`.
    pub fn key(&self) -> String {
        match self {
            ConsentScope::Channel(c) => format!("channel:{}", c.name()),
            ConsentScope::Topic(t) => format!("topic:{t}"),
        }
    }

    fn parse(key: &str) -> Option<ConsentScope> {
        match key.split_once(':')? {
            ("channel", c) => Channel::parse(c).map(ConsentScope::Channel),
            ("topic", t) => Some(ConsentScope::Topic(t.to_string())),
            _ => None,
        }
    }
}

/// Who set a subscription status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentSource {
    /// Through `/v1/contacts/{id}/subscriptions`.
    Api,
    /// The contact, on the unsubscribe page.
    UnsubscribePage,
    /// The contact's mail client, by RFC 8058 one-click unsubscribe.
    OneClick,
}

impl ConsentSource {
    pub fn name(self) -> &'static str {
        match self {
            ConsentSource::Api => "api",
            ConsentSource::UnsubscribePage => "unsubscribe_page",
            ConsentSource::OneClick => "one_click",
        }
    }

    fn parse(s: &str) -> ConsentSource {
        match s {
            "unsubscribe_page" => ConsentSource::UnsubscribePage,
            "one_click" => ConsentSource::OneClick,
            _ => ConsentSource::Api,
        }
    }
}

/// One stored status of a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub scope: ConsentScope,
    pub status: Status,
    pub source: ConsentSource,
    pub updated_at: DateTime<Utc>,
}

fn consent_of(m: contact_consent::Model) -> Option<(String, ConsentRecord)> {
    Some((
        m.contact_id,
        ConsentRecord {
            scope: ConsentScope::parse(&m.scope)?,
            status: Status::parse(&m.status)?,
            source: ConsentSource::parse(&m.source),
            updated_at: from_millis(m.updated_at),
        },
    ))
}

/// Every status a contact has set, by scope.
pub async fn consents<C: ConnectionTrait>(db: &C, contact: &str) -> Result<Vec<ConsentRecord>, Error> {
    let rows = contact_consent::Entity::find()
        .filter(contact_consent::Column::ContactId.eq(contact))
        .order_by_asc(contact_consent::Column::Scope)
        .all(db)
        .await?;
    Ok(rows.into_iter().filter_map(consent_of).map(|(_, r)| r).collect())
}

/// Set statuses of a contact (a status set again only moves its time).
pub async fn set_consents<C: ConnectionTrait>(
    db: &C,
    contact: &str,
    changes: &[(ConsentScope, Status)],
    source: ConsentSource,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if changes.is_empty() {
        return Ok(());
    }
    let rows: Vec<contact_consent::ActiveModel> = changes
        .iter()
        .map(|(scope, status)| contact_consent::ActiveModel {
            contact_id: Set(contact.to_string()),
            scope: Set(scope.key()),
            status: Set(status.name().to_string()),
            source: Set(source.name().to_string()),
            updated_at: Set(millis(now)),
        })
        .collect();
    contact_consent::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([contact_consent::Column::ContactId, contact_consent::Column::Scope])
                .update_columns([
                    contact_consent::Column::Status,
                    contact_consent::Column::Source,
                    contact_consent::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Forget every status of a contact (they are subscribed to everything again).
pub async fn clear_consents<C: ConnectionTrait>(db: &C, contact: &str) -> Result<(), Error> {
    contact_consent::Entity::delete_many().filter(contact_consent::Column::ContactId.eq(contact)).exec(db).await?;
    Ok(())
}

/// The subscriptions of each contact id: its statuses, one query per 500 contacts.
async fn subscriptions_by_contact<C: ConnectionTrait>(
    db: &C,
    ids: &[&str],
) -> Result<HashMap<String, Subscriptions>, Error> {
    let mut out: HashMap<String, Subscriptions> = HashMap::new();
    for chunk in ids.chunks(500) {
        let chunk: Vec<String> = chunk.iter().map(|s| s.to_string()).collect();
        let rows =
            contact_consent::Entity::find().filter(contact_consent::Column::ContactId.is_in(chunk)).all(db).await?;
        for (contact, r) in rows.into_iter().filter_map(consent_of) {
            let s = out.entry(contact).or_default();
            match r.scope {
                ConsentScope::Channel(c) => {
                    s.channels.insert(c, r.status);
                }
                ConsentScope::Topic(t) => {
                    s.topics.insert(t, r.status);
                }
            }
        }
    }
    Ok(out)
}

/// Fill in each contact's [`Contact::subscriptions`]: its statuses, and whether its
/// `email` attribute is a suppressed address (one query each per 500 contacts).
pub async fn load_subscriptions<'a, C: ConnectionTrait>(
    db: &C,
    contacts: impl IntoIterator<Item = &'a mut Contact>,
) -> Result<(), Error> {
    let mut contacts: Vec<&mut Contact> = contacts.into_iter().collect();
    if contacts.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = contacts.iter().map(|c| c.id.as_str()).collect();
    let mut found = subscriptions_by_contact(db, &ids).await?;
    let emails: Vec<String> = contacts.iter().filter_map(|c| email_of(c)).collect();
    let suppressed = suppressed_among(db, &emails).await?;
    for c in contacts.iter_mut() {
        let mut s = found.remove(&c.id).unwrap_or_default();
        s.email_suppressed = email_of(c).is_some_and(|e| suppressed.contains(&e));
        c.subscriptions = s;
    }
    Ok(())
}

/// The contact's `email` attribute, normalized.
fn email_of(c: &Contact) -> Option<String> {
    c.attributes.get("email").and_then(|v| v.as_str()).map(consent::normalize_email).filter(|e| !e.is_empty())
}

// ----- Suppressions -----

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressionReason {
    /// The receiving server refused the address for good.
    HardBounce,
    /// The recipient reported a message as spam.
    SpamComplaint,
}

impl SuppressionReason {
    pub fn name(self) -> &'static str {
        match self {
            SuppressionReason::HardBounce => "hard_bounce",
            SuppressionReason::SpamComplaint => "spam_complaint",
        }
    }

    pub fn parse(s: &str) -> Option<SuppressionReason> {
        match s {
            "hard_bounce" => Some(SuppressionReason::HardBounce),
            "spam_complaint" => Some(SuppressionReason::SpamComplaint),
            _ => None,
        }
    }

    /// "a hard bounce", "a spam complaint".
    pub fn describe(self) -> &'static str {
        match self {
            SuppressionReason::HardBounce => "a hard bounce",
            SuppressionReason::SpamComplaint => "a spam complaint",
        }
    }
}

/// A suppressed address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionRecord {
    /// Lowercase, without a display name.
    pub address: String,
    pub reason: SuppressionReason,
    /// Who reported it: `postmark`, `resend`, `sendgrid`.
    pub provider: String,
    /// The provider's description, if it gave one.
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn suppression_of(m: suppression::Model) -> Result<SuppressionRecord, Error> {
    Ok(SuppressionRecord {
        reason: SuppressionReason::parse(&m.reason)
            .ok_or_else(|| Error::Corrupt { what: "suppression reason", detail: m.reason.clone() })?,
        address: m.address,
        provider: m.provider,
        detail: m.detail,
        created_at: from_millis(m.created_at),
    })
}

/// Suppress `address` (normalized here). An address suppressed already keeps its first
/// record. Returns whether it is new.
pub async fn suppress<C: ConnectionTrait>(
    db: &C,
    address: &str,
    reason: SuppressionReason,
    provider: &str,
    detail: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let row = suppression::ActiveModel {
        address: Set(consent::normalize_email(address)),
        reason: Set(reason.name().to_string()),
        provider: Set(provider.to_string()),
        detail: Set(detail.map(str::to_string)),
        created_at: Set(millis(now)),
    };
    let inserted = suppression::Entity::insert(row)
        .on_conflict(OnConflict::column(suppression::Column::Address).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(inserted > 0)
}

pub async fn get_suppression<C: ConnectionTrait>(db: &C, address: &str) -> Result<Option<SuppressionRecord>, Error> {
    suppression::Entity::find_by_id(consent::normalize_email(address)).one(db).await?.map(suppression_of).transpose()
}

/// Suppressed addresses in address order, after the cursor `after`.
pub async fn list_suppressions<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<SuppressionRecord>, Error> {
    let mut q = suppression::Entity::find();
    if let Some(a) = after {
        q = q.filter(suppression::Column::Address.gt(a));
    }
    q.order_by_asc(suppression::Column::Address).limit(limit).all(db).await?.into_iter().map(suppression_of).collect()
}

/// Lift a suppression (mail may go to the address again). False when there was none.
pub async fn delete_suppression<C: ConnectionTrait>(db: &C, address: &str) -> Result<bool, Error> {
    let address = consent::normalize_email(address);
    Ok(suppression::Entity::delete_by_id(address).exec(db).await?.rows_affected > 0)
}

/// The suppression records of these (normalized) addresses.
pub async fn suppressions_of<C: ConnectionTrait>(
    db: &C,
    addresses: &[String],
) -> Result<HashMap<String, SuppressionRecord>, Error> {
    let mut unique: Vec<&String> = addresses.iter().collect();
    unique.sort();
    unique.dedup();
    let mut out = HashMap::new();
    for chunk in unique.chunks(500) {
        let chunk: Vec<String> = chunk.iter().map(|s| (*s).clone()).collect();
        for m in suppression::Entity::find().filter(suppression::Column::Address.is_in(chunk)).all(db).await? {
            let r = suppression_of(m)?;
            out.insert(r.address.clone(), r);
        }
    }
    Ok(out)
}

async fn suppressed_among<C: ConnectionTrait>(db: &C, addresses: &[String]) -> Result<HashSet<String>, Error> {
    if addresses.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(suppressions_of(db, addresses).await?.into_keys().collect())
}

/// The subscriptions of contacts by id, for delivery's second check.
pub(crate) async fn subscriptions_of_contacts<C: ConnectionTrait>(
    db: &C,
    ids: &[&str],
) -> Result<HashMap<String, Subscriptions>, Error> {
    subscriptions_by_contact(db, ids).await
}
