//! The data a journey reads: the contact (a snapshot) and events.

use crate::consent::Subscriptions;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// A contact as the engine sees it: an id, free-form attributes, tags and subscriptions.
///
/// Reserved attribute names: `timezone` (IANA name used by local-time waits),
/// `lifecycle_stage` (set by `update_contact`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// The contact's id (the `userId` of the ingestion API).
    pub id: String,
    /// Attributes (traits): `email`, `first_name`, `plan`, `lead_score`, `timezone`, ...
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// Tags, kept sorted and unique.
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// What the contact agreed to receive (subscribed to everything unless listed).
    #[serde(default, skip_serializing_if = "Subscriptions::is_empty")]
    pub subscriptions: Subscriptions,
}

impl Contact {
    pub fn new(id: impl Into<String>) -> Self {
        Contact { id: id.into(), ..Default::default() }
    }

    /// The value at a dotted attribute path (`address.city`), if any.
    pub fn attribute(&self, path: &[String]) -> Option<&Value> {
        lookup(&self.attributes, path)
    }

    /// The contact as handlebars sees it: attributes at the top level plus `id` and `tags`.
    pub fn template_data(&self) -> Value {
        let mut map = self.attributes.clone();
        map.insert("id".into(), Value::String(self.id.clone()));
        map.insert("tags".into(), Value::Array(self.tags.iter().cloned().map(Value::String).collect()));
        Value::Object(map)
    }
}

/// An event performed by a contact (Segment `track`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Event name, e.g. `cart_updated`.
    pub name: String,
    /// Event properties.
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// The sender's unique id, used to deduplicate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl Event {
    pub fn new(name: impl Into<String>, timestamp: DateTime<Utc>) -> Self {
        Event { name: name.into(), properties: Map::new(), timestamp, message_id: None }
    }

    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// The value at a dotted property path (`items.0.sku` is not supported; objects only).
    pub fn property(&self, path: &[String]) -> Option<&Value> {
        lookup(&self.properties, path)
    }

    /// The event as handlebars sees it.
    pub fn template_data(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "properties": self.properties,
            "timestamp": self.timestamp.to_rfc3339(),
        })
    }
}

/// The value at `path` inside nested objects.
fn lookup<'a>(map: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(map.get(first)?, |value, key| value.as_object()?.get(key))
}
