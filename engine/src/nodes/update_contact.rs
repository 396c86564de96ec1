//! `update_contact`: set or unset attributes, add to numbers (lead score), set the
//! lifecycle stage, add or remove tags.

use crate::condition::{Right, Scope};
use crate::contact::Contact;
use crate::nodes::Build;
use crate::problem::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

/// The lifecycle stages a contact can be in, in order.
pub const LIFECYCLE_STAGES: &[&str] =
    &["subscriber", "lead", "customer", "repeat_customer", "loyal_advocate", "lapsed", "inactive", "reactivated"];

/// The attribute that holds the lifecycle stage.
pub const LIFECYCLE_ATTRIBUTE: &str = "lifecycle_stage";

/// Change the contact. Updates apply in order; later nodes see the new values.
///
/// ```json
/// { "id": "score_download", "type": "update_contact",
///   "updates": [ { "op": "increment", "attribute": "lead_score", "by": 10 },
///                { "op": "set", "attribute": "last_download", "value": { "ref": "trigger.properties.asset" } },
///                { "op": "set_lifecycle_stage", "stage": "lead" },
///                { "op": "add_tag", "tag": "nurture" } ],
///   "next": "check_score" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContact {
    /// Stable, human-readable node id.
    pub id: String,
    /// The changes, applied in order; at least one.
    pub updates: Vec<Update>,
    /// The node to continue with.
    pub next: String,
}

/// One change to the contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Update {
    /// Set an attribute to a value, or to another value by reference (`{ "ref": "event.properties.plan" }`).
    Set {
        /// Attribute name (dotted paths are not allowed).
        attribute: String,
        /// The value, or `{ "ref": "<operand>" }`.
        value: Right,
    },
    /// Remove an attribute.
    Unset {
        /// Attribute name.
        attribute: String,
    },
    /// Add a number (negative to subtract); a missing attribute counts as 0.
    Increment {
        /// Attribute name, e.g. `lead_score`.
        attribute: String,
        /// The amount.
        by: Number,
    },
    /// Set the lifecycle stage: subscriber, lead, customer, repeat_customer, loyal_advocate, lapsed, inactive or reactivated.
    SetLifecycleStage {
        /// The stage.
        stage: String,
    },
    /// Add a tag.
    AddTag {
        /// The tag.
        tag: String,
    },
    /// Remove a tag.
    RemoveTag {
        /// The tag.
        tag: String,
    },
}

/// A change with its value resolved, as applied to the contact and recorded in history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    Set {
        attribute: String,
        value: Value,
    },
    Unset {
        attribute: String,
    },
    Increment {
        attribute: String,
        by: Number,
        result: Value,
    },
    AddTag {
        tag: String,
    },
    RemoveTag {
        tag: String,
    },
    /// The change could not be applied (e.g. incrementing text); the contact is unchanged.
    Skipped {
        attribute: String,
        reason: String,
    },
}

const RESERVED: &[&str] = &["id", "tags"];

impl UpdateContact {
    pub fn build(&self, cx: &mut Build) {
        if self.updates.is_empty() {
            cx.error(Kind::InvalidValue, "updates", "add at least one update, or remove the node");
        }
        for (i, u) in self.updates.iter().enumerate() {
            let at = |f: &str| format!("updates/{i}/{f}");
            match u {
                Update::Set { attribute, .. } | Update::Unset { attribute } | Update::Increment { attribute, .. } => {
                    if attribute.trim().is_empty() || attribute.contains('.') {
                        cx.error(
                            Kind::InvalidValue,
                            &at("attribute"),
                            format!(
                                "`{attribute}` is not an attribute name; use a plain name such as `plan` (no dots)"
                            ),
                        );
                    } else if RESERVED.contains(&attribute.as_str()) {
                        cx.error(
                            Kind::InvalidValue,
                            &at("attribute"),
                            format!("`{attribute}` cannot be changed here; use `add_tag`/`remove_tag` for tags"),
                        );
                    } else if attribute == LIFECYCLE_ATTRIBUTE {
                        cx.error(
                            Kind::InvalidValue,
                            &at("attribute"),
                            "use the `set_lifecycle_stage` update to change the lifecycle stage",
                        );
                    }
                    if let Update::Increment { by, .. } = u
                        && by.as_f64().is_none_or(|f| !f.is_finite())
                    {
                        cx.error(Kind::InvalidValue, &at("by"), "the amount must be a number");
                    }
                }
                Update::SetLifecycleStage { stage } => {
                    if !LIFECYCLE_STAGES.contains(&stage.as_str()) {
                        cx.error(
                            Kind::InvalidValue,
                            &at("stage"),
                            format!(
                                "`{stage}` is not a lifecycle stage; expected one of {}",
                                LIFECYCLE_STAGES.join(", ")
                            ),
                        );
                    }
                }
                Update::AddTag { tag } | Update::RemoveTag { tag } => {
                    if tag.trim().is_empty() {
                        cx.error(Kind::InvalidValue, &at("tag"), "the tag is empty");
                    }
                }
            }
        }
    }

    /// Resolve every update against `scope` (the contact before this node), then apply
    /// them in order to `contact`. Returns what changed.
    pub fn apply(&self, scope: &Scope, contact: &mut Contact) -> Vec<Change> {
        let resolved: Vec<Option<Value>> = self
            .updates
            .iter()
            .map(|u| match u {
                Update::Set { value, .. } => Some(value.resolve(scope).unwrap_or(Value::Null)),
                _ => None,
            })
            .collect();
        let mut changes = Vec::with_capacity(self.updates.len());
        for (u, value) in self.updates.iter().zip(resolved) {
            let change = match u {
                Update::Set { attribute, .. } => {
                    let value = value.unwrap_or(Value::Null);
                    if value.is_null() {
                        contact.attributes.remove(attribute);
                        Change::Unset { attribute: attribute.clone() }
                    } else {
                        contact.attributes.insert(attribute.clone(), value.clone());
                        Change::Set { attribute: attribute.clone(), value }
                    }
                }
                Update::Unset { attribute } => {
                    contact.attributes.remove(attribute);
                    Change::Unset { attribute: attribute.clone() }
                }
                Update::Increment { attribute, by } => match add(contact.attributes.get(attribute), by) {
                    Ok(result) => {
                        contact.attributes.insert(attribute.clone(), result.clone());
                        Change::Increment { attribute: attribute.clone(), by: by.clone(), result }
                    }
                    Err(reason) => Change::Skipped { attribute: attribute.clone(), reason },
                },
                Update::SetLifecycleStage { stage } => {
                    let value = Value::String(stage.clone());
                    contact.attributes.insert(LIFECYCLE_ATTRIBUTE.into(), value.clone());
                    Change::Set { attribute: LIFECYCLE_ATTRIBUTE.into(), value }
                }
                Update::AddTag { tag } => {
                    contact.tags.insert(tag.clone());
                    Change::AddTag { tag: tag.clone() }
                }
                Update::RemoveTag { tag } => {
                    contact.tags.remove(tag);
                    Change::RemoveTag { tag: tag.clone() }
                }
            };
            changes.push(change);
        }
        changes
    }
}

/// `current + by`, keeping integers integers. A numeric string counts as its number.
pub(crate) fn add(current: Option<&Value>, by: &Number) -> Result<Value, String> {
    let current = match current {
        None | Some(Value::Null) => Number::from(0),
        Some(Value::Number(n)) => n.clone(),
        Some(Value::String(s)) if s.trim().parse::<f64>().is_ok() => {
            let t = s.trim();
            t.parse::<i64>()
                .map(Number::from)
                .ok()
                .or_else(|| t.parse::<f64>().ok().and_then(Number::from_f64))
                .ok_or_else(|| format!("`{s}` is not a number"))?
        }
        Some(other) => return Err(format!("the attribute holds {other}, which is not a number")),
    };
    if let (Some(a), Some(b)) = (current.as_i64(), by.as_i64())
        && let Some(sum) = a.checked_add(b)
    {
        return Ok(Value::Number(sum.into()));
    }
    let sum = current.as_f64().unwrap_or(0.0) + by.as_f64().unwrap_or(0.0);
    Number::from_f64(sum).map(Value::Number).ok_or_else(|| "the result is not a finite number".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::Event;
    use chrono::Utc;
    use serde_json::json;

    const EXAMPLE: &str = r#"{ "id": "score_download",
      "updates": [ { "op": "increment", "attribute": "lead_score", "by": 10 },
                   { "op": "set", "attribute": "last_download", "value": { "ref": "trigger.properties.asset" } },
                   { "op": "set_lifecycle_stage", "stage": "lead" },
                   { "op": "add_tag", "tag": "nurture" } ],
      "next": "check_score" }"#;

    #[test]
    fn example_is_valid_and_applies_in_order() {
        let node: UpdateContact = serde_json::from_str(EXAMPLE).unwrap();
        let mut problems = vec![];
        node.build(&mut Build::new("/nodes/0", Some(node.id.clone()), &mut problems));
        assert!(problems.is_empty(), "{problems:?}");
        let mut contact = Contact::new("c1");
        contact.attributes.insert("lead_score".into(), json!(45));
        let trigger = Event::new("content_downloaded", Utc::now()).with_property("asset", "ebook");
        let before = contact.clone();
        let scope = Scope {
            contact: &before,
            trigger: Some(&trigger),
            event: Some(&trigger),
            now: Utc::now(),
            data: None,
            history: None,
        };
        let changes = node.apply(&scope, &mut contact);
        assert_eq!(changes.len(), 4);
        assert_eq!(contact.attributes["lead_score"], json!(55));
        assert_eq!(contact.attributes["lifecycle_stage"], json!("lead"));
        assert!(contact.tags.contains("nurture"));
    }

    #[test]
    fn increment_keeps_integers_and_refuses_text() {
        assert_eq!(add(None, &Number::from(5)), Ok(json!(5)));
        assert_eq!(add(Some(&json!("7")), &Number::from(-2)), Ok(json!(5)));
        assert_eq!(add(Some(&json!(1.5)), &Number::from(1)), Ok(json!(2.5)));
        assert!(add(Some(&json!("many")), &Number::from(1)).is_err());
    }

    #[test]
    fn bad_updates_are_reported_each() {
        let node: UpdateContact = serde_json::from_str(
            r#"{ "id": "u", "updates": [ { "op": "set", "attribute": "tags", "value": 1 },
                 { "op": "set_lifecycle_stage", "stage": "champion" }, { "op": "add_tag", "tag": "" },
                 { "op": "unset", "attribute": "lifecycle_stage" } ], "next": "x" }"#,
        )
        .unwrap();
        let mut problems = vec![];
        node.build(&mut Build::new("/nodes/5", Some("u".into()), &mut problems));
        let pointers: Vec<_> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/nodes/5/updates/0/attribute",
                "/nodes/5/updates/1/stage",
                "/nodes/5/updates/2/tag",
                "/nodes/5/updates/3/attribute"
            ]
        );
    }
}
