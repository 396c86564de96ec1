//! A run: one contact's pass through one journey version, and what a step returns.

use crate::condition::Compared;
use crate::contact::Event;
use crate::nodes::send::{Channel, Rendered};
use crate::nodes::update_contact::Change;
use crate::workflow::{Reentry, Settings};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Entered, not yet stepped.
    Active,
    /// Waiting for a time or an event.
    Waiting,
    /// Reached an exit node.
    Completed,
    /// Ended early: an `exit_when` event, a goal with `exit`, or a safety stop.
    Exited,
    /// Cancelled from outside (API, contact deleted).
    Cancelled,
}

impl Status {
    pub fn is_ended(self) -> bool {
        matches!(self, Status::Completed | Status::Exited | Status::Cancelled)
    }
}

/// What a waiting run waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Wait {
    /// A time (`delay`, `wait_until`).
    Timer { until: DateTime<Utc> },
    /// An event, with a timeout (`wait_for_event`).
    Event { event: String, timeout_at: DateTime<Utc> },
    /// The outcome of the message `key` (a send node with a `failed` port or
    /// `save_response`). Delivery wakes the run as soon as the outcome is recorded;
    /// `check_at` is only the fallback at which the scheduler looks again by itself.
    Delivery { key: String, since: DateTime<Utc>, check_at: DateTime<Utc> },
}

impl Wait {
    /// When the run must be stepped with [`Input::Timer`] at the latest.
    pub fn wake_at(&self) -> DateTime<Utc> {
        match self {
            Wait::Timer { until } => *until,
            Wait::Event { timeout_at, .. } => *timeout_at,
            Wait::Delivery { check_at, .. } => *check_at,
        }
    }
}

/// The state of one run. The engine never mutates it in place: a step returns the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Run {
    /// Unique run id; part of every send's idempotency key.
    pub id: String,
    /// Journey id.
    pub journey: String,
    /// The journey version this run started on and stays on.
    pub version: u32,
    /// Contact id.
    pub contact: String,
    /// How many times this contact had entered this journey, this entry included (1, 2, ...).
    pub entry: u32,
    /// The trigger's correlation value (e.g. the cart id), if the trigger has a correlation key.
    pub correlation: Option<String>,
    pub status: Status,
    /// The node the run is at (waiting at, or ended at).
    pub node: Option<String>,
    pub wait: Option<Wait>,
    /// The event that started the run (for API starts: name `api`, the data as properties).
    pub trigger: Event,
    /// The most recent event received by a `wait_for_event` (`event.*` in later nodes).
    pub event: Option<Event>,
    /// How many times each node was entered.
    pub visits: BTreeMap<String, u32>,
    /// Values saved by the run itself (a webhook's `save_response`): `data.<name>` in
    /// later templates and conditions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, serde_json::Value>,
    pub started_at: DateTime<Utc>,
    pub converted_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// Everything needed to create a run.
pub struct NewRun {
    pub id: String,
    pub version: u32,
    pub contact: String,
    pub entry: u32,
    pub correlation: Option<String>,
    pub trigger: Event,
}

impl Run {
    pub fn new(journey: &str, new: NewRun, now: DateTime<Utc>) -> Run {
        Run {
            id: new.id,
            journey: journey.to_string(),
            version: new.version,
            contact: new.contact,
            entry: new.entry,
            correlation: new.correlation,
            status: Status::Active,
            node: None,
            wait: None,
            trigger: new.trigger,
            event: None,
            visits: BTreeMap::new(),
            data: BTreeMap::new(),
            started_at: now,
            converted_at: None,
            ended_at: None,
        }
    }

    /// When the run must next be stepped with [`Input::Timer`], if it waits.
    pub fn wake_at(&self) -> Option<DateTime<Utc>> {
        self.wait.as_ref().map(Wait::wake_at)
    }
}

/// What happened to a run: the input of a step.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Begin the run (right after it is created).
    Start,
    /// The run's wake-up time has come.
    Timer,
    /// The contact performed an event.
    Event(&'a Event),
    /// What became of the message the run waits for ([`Wait::Delivery`]).
    Delivery(&'a DeliveryResult),
}

/// The outcome of an awaited message, as the outbox has it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryResult {
    pub key: String,
    pub status: DeliveryStatus,
    /// The HTTP status of a webhook's answer, when it was recorded.
    pub http_status: Option<u16>,
    /// The webhook's JSON response body, when it was recorded.
    pub response: Option<serde_json::Value>,
}

/// Where an awaited message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not delivered yet (queued, retrying, or held back).
    Pending,
    Sent,
    /// Given up: a permanent failure or too many attempts.
    Failed,
    /// An at-most-once provider's attempt whose outcome is unknown.
    Unknown,
    /// Not delivered because of consent checked again at delivery.
    Skipped,
}

/// Something the outside world must do because of a step.
// A step makes a handful of effects and they live only until the commit: boxing the
// message would cost more allocations than the size difference costs.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// Deliver a message, at most once per idempotency key.
    Send {
        /// `<run id>:<node id>:<visit>`; the same every time this step is computed.
        key: String,
        node: String,
        message: Rendered,
        /// The provider to send through (its id); none: the channel's default provider.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
        /// A transactional message: it bypassed quiet hours, frequency caps and channel and
        /// topic opt-outs, and does not count towards the caps.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        transactional: bool,
        /// The topic of a marketing message: delivery checks the contact's opt-out again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        /// The run waits for the outcome: delivery wakes it when it is recorded.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        awaited: bool,
    },
    /// Apply these changes to the stored contact.
    UpdateContact { node: String, changes: Vec<Change> },
}

/// Why a run ended early.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExitReason {
    /// A `settings.exit_when` event arrived.
    ExitWhen { event: String },
    /// The goal was reached and the goal has `exit: true`.
    Goal,
    /// The run entered more nodes in one step than any valid journey can (a safety stop).
    StepLimit,
    /// Cancelled from outside: through the API, or because the contact was deleted.
    Cancelled,
}

/// One entry of a run's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Entry {
    pub at: DateTime<Utc>,
    /// The node, when the entry belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(flatten)]
    pub what: What,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum What {
    /// The contact entered the journey.
    Entered {
        trigger: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        correlation: Option<String>,
    },
    /// The run arrived at a node.
    NodeEntered { node_type: String },
    /// A branch chose a port; `compared` holds every comparison with its values.
    Decision { port: String, compared: Vec<Compared> },
    /// A split assigned a variant.
    Variant { variant: String, holdout: bool },
    /// The run waits until a time.
    WaitingUntil { until: DateTime<Utc> },
    /// The run waits for an event until a timeout.
    WaitingForEvent { event: String, timeout_at: DateTime<Utc> },
    /// A `wait_until` let the run through without waiting.
    NoWait { reason: String },
    /// The awaited event arrived.
    EventReceived { event: String },
    /// The wait for an event timed out.
    TimedOut { event: String },
    /// A message was handed to delivery.
    Sent { key: String, channel: Channel },
    /// The run waits at the send node for the outcome of message `key` (the node has a
    /// `failed` port or saves the response).
    WaitingForDelivery { key: String },
    /// The awaited message was delivered; `saved` names the run data taken from the
    /// webhook's response.
    Delivered {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        saved: Vec<String>,
    },
    /// A message was not sent (no address, a template that failed, or consent: the
    /// contact unsubscribed or opted out of its topic, or the email address is suppressed).
    SendSkipped { reason: String },
    /// A marketing message fell inside quiet hours (in the contact's time zone
    /// `timezone`): the run waits at the send node until `until`, when they end, or, if
    /// `skipped`, the message was dropped and the run carried on.
    QuietHours { channel: Channel, until: DateTime<Utc>, timezone: String, skipped: bool },
    /// A frequency cap (at most `max` marketing messages of `channel` per `period`, across
    /// journeys) was reached: the run waits at the send node until `until`, when a counted
    /// message leaves the period, or, if `skipped`, the message was dropped and the run
    /// carried on.
    FrequencyCapped { channel: Channel, max: u32, period: String, until: DateTime<Utc>, skipped: bool },
    /// A message handed to delivery was not delivered after all: before it went out, the
    /// contact unsubscribed (or opted out of its topic) or the address was suppressed. It
    /// stays in the outbox as `skipped` with this reason.
    DeliverySkipped { key: String, channel: Channel, reason: String },
    /// Delivery of a message was given up (a permanent failure, or too many attempts): it
    /// stays in the outbox as `failed` with this error.
    DeliveryFailed { key: String, channel: Channel, attempts: u32, error: String },
    /// An at-most-once provider's message may or may not have been delivered (its attempt
    /// timed out or vanished in a crash): it is not sent again, and stays in the outbox as
    /// `unknown` with this error.
    DeliveryUnknown { key: String, channel: Channel, attempts: u32, error: String },
    /// The contact was changed.
    ContactUpdated { changes: Vec<Change> },
    /// The goal was reached.
    Converted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event: Option<String>,
    },
    /// The run reached an exit node.
    Completed,
    /// The run ended early.
    Exited { reason: ExitReason },
}

/// The result of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The run's next state.
    pub run: Run,
    /// The contact as the run left it (with its own updates applied).
    pub contact: crate::contact::Contact,
    pub effects: Vec<Effect>,
    pub history: Vec<Entry>,
}

impl Outcome {
    /// True when the input did not apply (a timer before its time, an event nobody waits for).
    pub fn is_noop(&self) -> bool {
        self.history.is_empty() && self.effects.is_empty()
    }

    /// The marketing messages this step handed to delivery (they count towards the
    /// frequency caps), as sent at `now`.
    pub fn marketing_sends(&self, now: DateTime<Utc>) -> impl Iterator<Item = crate::pressure::RecentSend> + '_ {
        marketing_sends(&self.effects, now)
    }
}

/// The marketing messages among `effects` (they count towards the frequency caps), as sent at `now`.
pub fn marketing_sends(
    effects: &[Effect],
    now: DateTime<Utc>,
) -> impl Iterator<Item = crate::pressure::RecentSend> + '_ {
    effects.iter().filter_map(move |e| match e {
        Effect::Send { message, transactional: false, .. } => {
            Some(crate::pressure::RecentSend { channel: message.channel(), at: now })
        }
        _ => None,
    })
}

/// A contact's earlier run of the same journey, for re-entry decisions.
#[derive(Debug, Clone, Copy)]
pub struct PriorRun<'a> {
    pub correlation: Option<&'a str>,
    pub active: bool,
}

/// Why a trigger did not start a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// `reentry: once` and the contact has entered before (for this correlation value).
    AlreadyEntered,
    /// A run for the contact (or this correlation value) is still active.
    StillActive,
}

/// May a contact enter, given its earlier runs of this journey? With a correlation key,
/// only earlier runs with the same correlation value count.
pub fn admit<'a>(
    settings: &Settings,
    correlation: Option<&str>,
    prior: impl IntoIterator<Item = PriorRun<'a>>,
) -> Result<(), Refusal> {
    for p in prior {
        if correlation.is_some() && p.correlation != correlation {
            continue;
        }
        match settings.reentry {
            Reentry::Once => return Err(Refusal::AlreadyEntered),
            Reentry::AfterExit if p.active => return Err(Refusal::StillActive),
            Reentry::Always if p.active && correlation.is_some() => return Err(Refusal::StillActive),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(reentry: Reentry) -> Settings {
        Settings { reentry, ..Settings::default() }
    }

    #[test]
    fn reentry_rules() {
        let ended = PriorRun { correlation: None, active: false };
        let active = PriorRun { correlation: None, active: true };
        assert_eq!(admit(&settings(Reentry::Once), None, []), Ok(()));
        assert_eq!(admit(&settings(Reentry::Once), None, [ended]), Err(Refusal::AlreadyEntered));
        assert_eq!(admit(&settings(Reentry::AfterExit), None, [ended]), Ok(()));
        assert_eq!(admit(&settings(Reentry::AfterExit), None, [ended, active]), Err(Refusal::StillActive));
        assert_eq!(admit(&settings(Reentry::Always), None, [active, active]), Ok(()));
    }

    #[test]
    fn reentry_is_per_correlation_value() {
        let cart1 = PriorRun { correlation: Some("cart-1"), active: true };
        let cart1_done = PriorRun { correlation: Some("cart-1"), active: false };
        for r in [Reentry::Once, Reentry::AfterExit, Reentry::Always] {
            assert_eq!(admit(&settings(r), Some("cart-2"), [cart1]), Ok(()), "{r:?}: another cart may enter");
            assert!(admit(&settings(r), Some("cart-1"), [cart1]).is_err(), "{r:?}: same active cart may not");
        }
        assert_eq!(admit(&settings(Reentry::Once), Some("cart-1"), [cart1_done]), Err(Refusal::AlreadyEntered));
        assert_eq!(admit(&settings(Reentry::AfterExit), Some("cart-1"), [cart1_done]), Ok(()));
        assert_eq!(admit(&settings(Reentry::Always), Some("cart-1"), [cart1_done]), Ok(()));
    }
}
