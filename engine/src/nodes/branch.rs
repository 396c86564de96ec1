//! `branch`: ordered rules, the first whose condition holds picks the port; otherwise `else`.

use crate::condition::Condition;
use crate::nodes::Build;
use crate::problem::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// If/else and multi-way splits: rules are tried in order, the first whose condition
/// holds decides where the contact goes; when none holds, `else`.
///
/// ```json
/// { "id": "check_score", "type": "branch",
///   "rules": [ { "name": "promoter", "condition": { "left": "event.properties.score", "op": "gte", "right": 9 }, "next": "ask_referral" } ],
///   "else": "exit_done" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    /// Stable, human-readable node id.
    pub id: String,
    /// Rules in order; at least one.
    pub rules: Vec<Rule>,
    /// Port: where contacts go when no rule holds.
    #[serde(rename = "else")]
    pub otherwise: String,
}

/// One rule of a branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The rule's name, unique within the branch; it labels the port on the canvas and in run timelines.
    pub name: String,
    /// When this rule holds.
    pub condition: Condition,
    /// Port: the node to continue with.
    pub next: String,
}

impl Branch {
    pub fn build(&self, cx: &mut Build) {
        if self.rules.is_empty() {
            cx.error(Kind::InvalidValue, "rules", "a branch needs at least one rule; add one, or remove the branch");
        }
        let mut names = HashSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.name.trim().is_empty() {
                cx.error(
                    Kind::InvalidValue,
                    &format!("rules/{i}/name"),
                    "the rule name is empty; give it a short name such as `high_score`",
                );
            } else if rule.name == "else" || !names.insert(rule.name.as_str()) {
                cx.error(
                    Kind::InvalidValue,
                    &format!("rules/{i}/name"),
                    format!(
                        "the rule name `{}` is used twice (or is `else`); names must be unique within a branch",
                        rule.name
                    ),
                );
            }
            for p in rule.condition.check(&cx.at(&format!("rules/{i}/condition"))) {
                cx.push(p);
            }
        }
    }
}
