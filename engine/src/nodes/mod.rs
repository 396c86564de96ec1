//! One file per node type (Vector style): a `deny_unknown_fields` config struct
//! whose doc comments become the JSON Schema, a `build` step into its runtime form,
//! and tests that its example is valid.

use crate::problem::{Kind, Problem, join_pointer};

pub mod wait_until;

/// Collects the problems found while building one node (or the trigger, or settings)
/// into its runtime form. Every problem is tagged with the node id and a JSON pointer.
pub struct Build<'a> {
    /// JSON pointer of the thing being built, e.g. `/nodes/3`.
    pub pointer: String,
    /// Node id, when building a node.
    pub node: Option<String>,
    pub problems: &'a mut Vec<Problem>,
}

impl<'a> Build<'a> {
    pub fn new(pointer: impl Into<String>, node: Option<String>, problems: &'a mut Vec<Problem>) -> Self {
        Build { pointer: pointer.into(), node, problems }
    }

    /// The pointer of a field below this one: `cx.at("until/start")` → `/nodes/3/until/start`.
    pub fn at(&self, path: &str) -> String {
        let mut p = self.pointer.clone();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            p = join_pointer(&p, seg);
        }
        p
    }

    /// Record a problem at `path` below this node.
    pub fn error(&mut self, kind: Kind, path: &str, message: impl Into<String>) {
        let mut problem = Problem::new(kind, self.at(path), message);
        problem.node = self.node.clone();
        self.problems.push(problem);
    }

    /// Record a problem that another module built with a full pointer.
    pub fn push(&mut self, mut problem: Problem) {
        if problem.node.is_none() {
            problem.node = self.node.clone();
        }
        self.problems.push(problem);
    }
}

pub mod branch;
pub mod delay;
pub mod exit;
pub mod send;
pub mod split;
pub mod trigger;
pub mod update_contact;
pub mod wait_for_event;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One step of a journey. Every node has a stable, human-readable `id` (unique in the
/// journey), a `type`, its fields, and named outgoing ports holding node ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Node {
    Delay(delay::Delay),
    WaitUntil(wait_until::WaitUntil),
    WaitForEvent(wait_for_event::WaitForEvent),
    Branch(branch::Branch),
    Split(split::Split),
    Send(send::Send),
    UpdateContact(update_contact::UpdateContact),
    Exit(exit::Exit),
}

/// Every node `type`, in palette order.
pub const NODE_TYPES: &[&str] =
    &["delay", "wait_until", "wait_for_event", "branch", "split", "send", "update_contact", "exit"];

/// Field names that are ports (a missing one is reported as a missing port).
pub const PORT_FIELDS: &[&str] = &["next", "received", "timed_out", "else"];

/// One outgoing connection of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port<'a> {
    /// The port's name as the canvas labels it: `next`, `failed`, `received`, `timed_out`, a rule or variant name, `else`, `holdout`.
    pub name: &'a str,
    /// Path of the port field below the node, e.g. `rules/0/next`.
    pub path: String,
    /// The node id it points at.
    pub target: &'a str,
}

impl Node {
    pub fn id(&self) -> &str {
        match self {
            Node::Delay(n) => &n.id,
            Node::WaitUntil(n) => &n.id,
            Node::WaitForEvent(n) => &n.id,
            Node::Branch(n) => &n.id,
            Node::Split(n) => &n.id,
            Node::Send(n) => &n.id,
            Node::UpdateContact(n) => &n.id,
            Node::Exit(n) => &n.id,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Delay(_) => "delay",
            Node::WaitUntil(_) => "wait_until",
            Node::WaitForEvent(_) => "wait_for_event",
            Node::Branch(_) => "branch",
            Node::Split(_) => "split",
            Node::Send(_) => "send",
            Node::UpdateContact(_) => "update_contact",
            Node::Exit(_) => "exit",
        }
    }

    /// Deserialize the node of type `type_name` from its fields (without `type`),
    /// keeping the path of the first error.
    pub fn from_fields(
        type_name: &str,
        fields: serde_json::Value,
    ) -> Option<Result<Node, serde_path_to_error::Error<serde_json::Error>>> {
        fn de<T: serde::de::DeserializeOwned>(
            v: serde_json::Value,
        ) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
            serde_path_to_error::deserialize(v)
        }
        Some(match type_name {
            "delay" => de(fields).map(Node::Delay),
            "wait_until" => de(fields).map(Node::WaitUntil),
            "wait_for_event" => de(fields).map(Node::WaitForEvent),
            "branch" => de(fields).map(Node::Branch),
            "split" => de(fields).map(Node::Split),
            "send" => de(fields).map(Node::Send),
            "update_contact" => de(fields).map(Node::UpdateContact),
            "exit" => de(fields).map(Node::Exit),
            _ => return None,
        })
    }

    /// The outgoing ports, in the order the canvas shows them.
    pub fn ports(&self) -> Vec<Port<'_>> {
        fn port<'a>(name: &'a str, path: &str, target: &'a str) -> Port<'a> {
            Port { name, path: path.to_string(), target }
        }
        fn single<'a>(target: &'a str) -> Vec<Port<'a>> {
            vec![Port { name: "next", path: "next".into(), target }]
        }
        match self {
            Node::Delay(n) => single(&n.next),
            Node::WaitUntil(n) => single(&n.next),
            Node::Send(n) => {
                let mut ports = single(&n.next);
                if let Some(failed) = &n.failed {
                    ports.push(port("failed", "failed", failed));
                }
                ports
            }
            Node::UpdateContact(n) => single(&n.next),
            Node::Exit(_) => vec![],
            Node::WaitForEvent(n) => {
                vec![port("received", "received", &n.received), port("timed_out", "timed_out", &n.timed_out)]
            }
            Node::Branch(n) => {
                let mut ports: Vec<Port<'_>> = n
                    .rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| Port { name: &r.name, path: format!("rules/{i}/next"), target: &r.next })
                    .collect();
                ports.push(port("else", "else", &n.otherwise));
                ports
            }
            Node::Split(n) => {
                let mut ports: Vec<Port<'_>> = n
                    .variants
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Port { name: &v.name, path: format!("variants/{i}/next"), target: &v.next })
                    .collect();
                if let Some(h) = &n.holdout {
                    ports.push(port(split::HOLDOUT, "holdout/next", &h.next));
                }
                ports
            }
        }
    }
}
