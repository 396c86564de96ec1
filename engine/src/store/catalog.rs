//! What the editor's pickers offer: the event names and property paths, and the contact
//! attribute paths, seen in recent data.
//!
//! Every read is bounded: the most recent events by their primary key (`seq`), and
//! contacts by primary key. Nothing here scans a whole table or needs an index that
//! ingestion would have to maintain.

use super::entity::{contact, event};
use super::{Error, from_millis};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A JSON type, as the catalog reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JsonType {
    String,
    Number,
    Boolean,
    Object,
    Array,
    Null,
}

impl JsonType {
    pub fn of(v: &Value) -> JsonType {
        match v {
            Value::String(_) => JsonType::String,
            Value::Number(_) => JsonType::Number,
            Value::Bool(_) => JsonType::Boolean,
            Value::Object(_) => JsonType::Object,
            Value::Array(_) => JsonType::Array,
            Value::Null => JsonType::Null,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Number => "number",
            JsonType::Boolean => "boolean",
            JsonType::Object => "object",
            JsonType::Array => "array",
            JsonType::Null => "null",
        }
    }
}

/// A dotted path into a JSON object (`address.city`) and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathType {
    pub path: String,
    /// The type seen most often (`null` only when nothing else was seen).
    pub json_type: JsonType,
}

/// Counts the types seen at each dotted path of many JSON objects.
#[derive(Default)]
struct Paths(BTreeMap<String, HashMap<JsonType, u64>>);

/// Deepest object nesting followed; and most distinct paths kept.
const MAX_DEPTH: usize = 6;
const MAX_PATHS: usize = 500;

impl Paths {
    fn add(&mut self, map: &Map<String, Value>) {
        self.walk(map, "", 0);
    }

    fn walk(&mut self, map: &Map<String, Value>, prefix: &str, depth: usize) {
        for (key, value) in map {
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            if self.0.len() >= MAX_PATHS && !self.0.contains_key(&path) {
                continue;
            }
            *self.0.entry(path.clone()).or_default().entry(JsonType::of(value)).or_default() += 1;
            if let Value::Object(inner) = value
                && depth + 1 < MAX_DEPTH
            {
                self.walk(inner, &path, depth + 1);
            }
        }
    }

    fn finish(self) -> Vec<PathType> {
        self.0
            .into_iter()
            .map(|(path, types)| {
                let json_type = types
                    .iter()
                    .filter(|(t, _)| **t != JsonType::Null)
                    .max_by_key(|(t, n)| (**n, std::cmp::Reverse(**t)))
                    .map_or(JsonType::Null, |(t, _)| *t);
                PathType { path, json_type }
            })
            .collect()
    }
}

/// One event name seen in the window.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSummary {
    pub name: String,
    /// How many of the examined events have this name.
    pub count: u64,
    /// When the most recent of them was received.
    pub last_seen: DateTime<Utc>,
    /// Property paths and types, by path.
    pub properties: Vec<PathType>,
}

/// The event catalog: names by name, and how many events were examined.
#[derive(Debug, Clone, PartialEq)]
pub struct EventCatalog {
    pub examined: u64,
    pub events: Vec<EventSummary>,
}

/// Summarise the most recent `window` stored events (by arrival).
pub async fn event_catalog<C: ConnectionTrait>(db: &C, window: u64) -> Result<EventCatalog, Error> {
    let rows: Vec<(String, String, i64)> = event::Entity::find()
        .select_only()
        .columns([event::Column::Name, event::Column::Properties, event::Column::ReceivedAt])
        .order_by_desc(event::Column::Seq)
        .limit(window)
        .into_tuple()
        .all(db)
        .await?;
    let examined = rows.len() as u64;
    let mut by_name: BTreeMap<String, (u64, i64, Paths)> = BTreeMap::new();
    for (name, properties, received_at) in rows {
        let entry = by_name.entry(name).or_insert_with(|| (0, i64::MIN, Paths::default()));
        entry.0 += 1;
        entry.1 = entry.1.max(received_at);
        // Stored properties are always an object; anything else is skipped rather than failing the catalog.
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&properties) {
            entry.2.add(&map);
        }
    }
    let events = by_name
        .into_iter()
        .map(|(name, (count, last, paths))| EventSummary {
            name,
            count,
            last_seen: from_millis(last),
            properties: paths.finish(),
        })
        .collect();
    Ok(EventCatalog { examined, events })
}

/// The attribute catalog and how many contacts were examined.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeCatalog {
    pub examined: u64,
    pub attributes: Vec<PathType>,
}

/// Attribute paths and types of up to `contacts` contacts: those who sent the most recent
/// `window` events first (recently active), then others by id.
pub async fn attribute_catalog<C: ConnectionTrait>(
    db: &C,
    window: u64,
    contacts: u64,
) -> Result<AttributeCatalog, Error> {
    let recent: Vec<String> = event::Entity::find()
        .select_only()
        .column(event::Column::ContactId)
        .order_by_desc(event::Column::Seq)
        .limit(window)
        .into_tuple()
        .all(db)
        .await?;
    let mut ids: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for id in recent {
        if ids.len() as u64 >= contacts {
            break;
        }
        if seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    let mut attributes: Vec<String> = Vec::with_capacity(contacts as usize);
    for chunk in ids.chunks(500) {
        let rows: Vec<String> = contact::Entity::find()
            .select_only()
            .column(contact::Column::Attributes)
            .filter(contact::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        attributes.extend(rows);
    }
    let room = contacts.saturating_sub(attributes.len() as u64);
    if room > 0 {
        // Top up with contacts by id (identified but without recent events), skipping those read already.
        let rows: Vec<(String, String)> = contact::Entity::find()
            .select_only()
            .columns([contact::Column::Id, contact::Column::Attributes])
            .order_by_asc(contact::Column::Id)
            .limit(room + seen.len() as u64)
            .into_tuple()
            .all(db)
            .await?;
        attributes.extend(rows.into_iter().filter(|(id, _)| !seen.contains(id)).map(|(_, a)| a).take(room as usize));
    }
    let mut paths = Paths::default();
    for text in &attributes {
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) {
            paths.add(&map);
        }
    }
    Ok(AttributeCatalog { examined: attributes.len() as u64, attributes: paths.finish() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_are_dotted_and_typed_by_majority_ignoring_null() {
        let mut p = Paths::default();
        for v in [
            json!({ "total": 3, "cart_id": "c1", "address": { "city": "Oslo" }, "items": [1] }),
            json!({ "total": 4.5, "cart_id": null, "coupon": null }),
            json!({ "total": "n/a" }),
        ] {
            p.add(v.as_object().unwrap());
        }
        let got: Vec<(String, &str)> = p.finish().into_iter().map(|t| (t.path, t.json_type.name())).collect();
        assert_eq!(
            got,
            [
                ("address".to_string(), "object"),
                ("address.city".to_string(), "string"),
                ("cart_id".to_string(), "string"),
                ("coupon".to_string(), "null"),
                ("items".to_string(), "array"),
                ("total".to_string(), "number"),
            ]
        );
    }
}
