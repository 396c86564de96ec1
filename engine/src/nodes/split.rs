//! `split`: weighted random variants (A/B/n) with an optional holdout.

use crate::nodes::Build;
use crate::problem::Kind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// Send contacts down one of several variants at random, by weight (percent). The pick is
/// deterministic per (journey, contact, entry, node): re-running or simulating picks the same.
/// Weights of the variants and the holdout add up to 100.
///
/// ```json
/// { "id": "offer_test", "type": "split",
///   "variants": [ { "name": "discount", "weight": 45, "next": "send_discount" },
///                 { "name": "free_shipping", "weight": 45, "next": "send_shipping" } ],
///   "holdout": { "weight": 10, "next": "exit_holdout" } }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Stable, human-readable node id.
    pub id: String,
    /// The variants; at least one.
    pub variants: Vec<Variant>,
    /// A control group that receives none of the variants; its conversions are measured for lift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<Holdout>,
}

/// One variant of a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The variant's name, unique within the split (`A`, `discount`).
    pub name: String,
    /// Share of contacts, in whole percent (0–100).
    pub weight: u32,
    /// Port: the node to continue with.
    pub next: String,
}

/// The holdout (control) group of a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Holdout {
    /// Share of contacts held out, in whole percent (1–100).
    pub weight: u32,
    /// Port: usually an exit, or a wait that lets the goal be measured.
    pub next: String,
}

/// The name recorded for the holdout group.
pub const HOLDOUT: &str = "holdout";

impl Split {
    pub fn build(&self, cx: &mut Build) {
        if self.variants.is_empty() {
            cx.error(Kind::InvalidValue, "variants", "a split needs at least one variant");
        }
        let mut names = HashSet::new();
        for (i, v) in self.variants.iter().enumerate() {
            if v.name.trim().is_empty() {
                cx.error(
                    Kind::InvalidValue,
                    &format!("variants/{i}/name"),
                    "the variant name is empty; name it, e.g. `A`",
                );
            } else if v.name == HOLDOUT || !names.insert(v.name.as_str()) {
                cx.error(
                    Kind::InvalidValue,
                    &format!("variants/{i}/name"),
                    format!(
                        "the variant name `{}` is used twice (or is the reserved `holdout`); names must be unique",
                        v.name
                    ),
                );
            }
            if v.weight > 100 {
                cx.error(
                    Kind::SplitWeights,
                    &format!("variants/{i}/weight"),
                    format!("a weight is a percentage from 0 to 100, not {}", v.weight),
                );
            }
        }
        if let Some(h) = &self.holdout
            && (h.weight == 0 || h.weight > 100)
        {
            cx.error(
                Kind::SplitWeights,
                "holdout/weight",
                format!("the holdout weight is a percentage from 1 to 100, not {}", h.weight),
            );
        }
        let total: u64 = self.variants.iter().map(|v| u64::from(v.weight)).sum::<u64>()
            + self.holdout.as_ref().map_or(0, |h| u64::from(h.weight));
        if total != 100 {
            let parts = if self.holdout.is_some() { "variant and holdout weights" } else { "variant weights" };
            cx.error(Kind::SplitWeights, "variants", format!("the {parts} add up to {total}; they must add up to 100"));
        }
    }

    /// Pick a variant for one entry: `(name, next, is_holdout)`.
    pub fn pick(&self, journey: &str, contact: &str, entry: u32) -> (&str, &str, bool) {
        let bucket = bucket(journey, contact, entry, &self.id);
        let mut upper = 0u64;
        for v in &self.variants {
            upper += u64::from(v.weight) * 100;
            if bucket < upper {
                return (&v.name, &v.next, false);
            }
        }
        match &self.holdout {
            Some(h) => (HOLDOUT, &h.next, true),
            // Only reachable if weights were invalid; validation prevents it.
            None => self.variants.last().map_or(("", "", false), |v| (v.name.as_str(), v.next.as_str(), false)),
        }
    }
}

/// A stable number in `0..10_000` for (journey, contact, entry, node), from SHA-256 so
/// it never changes between Rust versions or machines.
pub fn bucket(journey: &str, contact: &str, entry: u32, node: &str) -> u64 {
    let mut h = Sha256::new();
    for part in [journey.as_bytes(), contact.as_bytes(), entry.to_string().as_bytes(), node.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % 10_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn example() -> Split {
        serde_json::from_str(
            r#"{ "id": "offer_test",
                 "variants": [ { "name": "discount", "weight": 45, "next": "send_discount" },
                               { "name": "free_shipping", "weight": 45, "next": "send_shipping" } ],
                 "holdout": { "weight": 10, "next": "exit_holdout" } }"#,
        )
        .unwrap()
    }

    #[test]
    fn example_is_valid() {
        let mut problems = vec![];
        example().build(&mut Build::new("/nodes/0", Some("offer_test".into()), &mut problems));
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn distribution_is_within_two_percent_over_10000_contacts() {
        let split = example();
        let mut counts: HashMap<&str, u32> = HashMap::new();
        for i in 0..10_000 {
            let (name, _, _) = split.pick("re-engagement", &format!("contact-{i}"), 1);
            *counts.entry(name).or_default() += 1;
        }
        for (name, weight) in [("discount", 45.0), ("free_shipping", 45.0), (HOLDOUT, 10.0)] {
            let share = f64::from(counts[name]) / 100.0;
            assert!((share - weight).abs() <= 2.0, "{name}: {share}% vs {weight}%");
        }
    }

    #[test]
    fn pick_is_deterministic_per_entry() {
        let split = example();
        assert_eq!(split.pick("j", "c", 1), split.pick("j", "c", 1));
        let differs = (1..50).any(|e| split.pick("j", "c", e) != split.pick("j", "c", 1));
        assert!(differs, "different entries should not all pick the same variant");
    }

    #[test]
    fn weights_must_add_up_to_100() {
        let mut split = example();
        split.variants[0].weight = 50;
        let mut problems = vec![];
        split.build(&mut Build::new("/nodes/3", Some("offer_test".into()), &mut problems));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].code, Kind::SplitWeights);
        assert_eq!(problems[0].pointer, "/nodes/3/variants");
        assert!(problems[0].message.contains("105"), "{}", problems[0].message);
    }
}
