//! A validated journey in its runtime form: what the engine runs.

use crate::consent::Links;
use crate::nodes::{Node, wait_for_event, wait_until};
use crate::pressure::JourneyRules;
use crate::template::Templates;
use crate::workflow::Workflow;
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;

/// A node's parsed runtime parts (durations, windows), beside its definition.
pub enum Runtime {
    Delay(TimeDelta),
    WaitUntil(wait_until::Compiled),
    WaitForEvent(wait_for_event::Compiled),
    /// Nothing to precompute (or kept in the shared template registry).
    Other,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Runtime::Delay(d) => write!(f, "Delay({d})"),
            Runtime::WaitUntil(_) => f.write_str("WaitUntil"),
            Runtime::WaitForEvent(w) => write!(f, "WaitForEvent({})", w.timeout),
            Runtime::Other => f.write_str("Other"),
        }
    }
}

/// A journey that passed validation. Build one with [`crate::validate::validate`].
#[derive(Debug)]
pub struct Journey {
    workflow: Workflow,
    index: HashMap<String, usize>,
    runtime: Vec<Runtime>,
    timezone: Tz,
    templates: Templates,
    delivery: JourneyRules,
    /// Signs `{{unsubscribe_url}}`: [`Links::offline`] unless the server gave its own.
    links: Links,
    /// `settings.goal.within`, parsed: how long after entry the goal still counts.
    goal_window: Option<TimeDelta>,
}

impl Journey {
    pub(crate) fn new(
        workflow: Workflow,
        index: HashMap<String, usize>,
        runtime: Vec<Runtime>,
        timezone: Tz,
        templates: Templates,
    ) -> Self {
        Journey {
            workflow,
            index,
            runtime,
            timezone,
            templates,
            delivery: JourneyRules::default(),
            links: Links::offline(),
            goal_window: None,
        }
    }

    /// The goal's conversion window (`settings.goal.within`), parsed by validation.
    pub(crate) fn with_goal_window(mut self, window: Option<TimeDelta>) -> Self {
        self.goal_window = window;
        self
    }

    /// How long after a run's entry its goal still counts; `None`: no limit.
    pub fn goal_window(&self) -> Option<TimeDelta> {
        self.goal_window
    }

    /// Whether a goal reached at `at` by a run that entered at `entered` counts as a
    /// conversion: always without a window, else at most the window after entry (the
    /// window's last instant included).
    pub fn goal_counts(&self, entered: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        self.goal_window.is_none_or(|w| at - entered <= w)
    }

    /// The journey's quiet hours and frequency-cap settings in their runtime form.
    pub(crate) fn with_delivery(mut self, delivery: JourneyRules) -> Self {
        self.delivery = delivery;
        self
    }

    /// Which quiet hours and caps apply to this journey's marketing sends.
    pub fn delivery(&self) -> &JourneyRules {
        &self.delivery
    }

    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    pub fn id(&self) -> &str {
        &self.workflow.id
    }

    /// A node and its runtime form.
    pub fn node(&self, id: &str) -> Option<(&Node, &Runtime)> {
        let &i = self.index.get(id)?;
        Some((&self.workflow.nodes[i], &self.runtime[i]))
    }

    /// The default time zone (`settings.timezone`).
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// The same journey, rendering its links with `links` (the server's public address
    /// and key) instead of the offline ones.
    pub fn with_links(mut self, links: Links) -> Journey {
        self.links = links;
        self
    }

    pub fn links(&self) -> &Links {
        &self.links
    }

    /// Where each node is in the document (`/nodes/<i>`).
    pub fn pointer_of(&self, id: &str) -> Option<String> {
        self.index.get(id).map(|i| format!("/nodes/{i}"))
    }

    /// The stored library template versions this journey uses (its message templates,
    /// partials and layouts): what publishing pins.
    pub fn template_pins(&self) -> Vec<(String, u32)> {
        self.templates.used().filter_map(|(id, v)| Some((id.to_string(), v?))).collect()
    }
}
