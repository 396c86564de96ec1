//! What the fuzz targets share: the example template library and the reading of a
//! condition's scope from JSON.

use chrono::{DateTime, Utc};
use kairos_engine::library::{self, Library};
use kairos_engine::time::timestamp_from_json;
use kairos_engine::{Contact, Event};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The example journeys' template library (a partial, a layout and a message), so that
/// journeys and templates that use `{{> footer}}`, `{{#> northwind}}` or a library
/// message are checked as far as they go on a real server.
pub static LIBRARY: LazyLock<Library> = LazyLock::new(|| {
    let mut library = Library::new();
    for text in [
        include_str!("../../workflows/templates/footer.json"),
        include_str!("../../workflows/templates/northwind.json"),
        include_str!("../../workflows/templates/welcome-email.json"),
    ] {
        library.insert(library::validate(text).expect("the example templates are valid"));
    }
    library
});

/// Monday 2026-01-05 09:00 UTC: `now` and event times unless the input gives them.
pub fn default_now() -> DateTime<Utc> {
    kairos_engine::simulate::default_start()
}

/// The object at `key`, or an empty one.
pub fn object(value: &Value, key: &str) -> Map<String, Value> {
    value.get(key).and_then(Value::as_object).cloned().unwrap_or_default()
}

/// A timestamp as conditions read them (RFC 3339, a date, Unix seconds), or `default`.
pub fn time(value: Option<&Value>, default: DateTime<Utc>) -> DateTime<Utc> {
    value.and_then(timestamp_from_json).unwrap_or(default)
}

/// An event read leniently: `{"name": …, "properties": {…}, "timestamp": …}`, anything
/// missing or of another type left empty (or at `now`).
pub fn event(value: &Value, now: DateTime<Utc>) -> Event {
    Event {
        name: value.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
        properties: object(value, "properties"),
        timestamp: time(value.get("timestamp"), now),
        message_id: None,
    }
}

/// A contact read leniently: `{"id": …, "attributes": {…}, "tags": […]}`.
pub fn contact(value: &Value) -> Contact {
    let mut contact = Contact::new(value.get("id").and_then(Value::as_str).unwrap_or("fuzz"));
    contact.attributes = object(value, "attributes");
    if let Some(tags) = value.get("tags").and_then(Value::as_array) {
        contact.tags = tags.iter().filter_map(Value::as_str).map(str::to_string).collect();
    }
    contact
}

/// The run's saved data (`data.*`), when the input has an object there.
pub fn run_data(value: &Value) -> Option<BTreeMap<String, Value>> {
    value.get("data").and_then(Value::as_object).map(|m| m.clone().into_iter().collect())
}
