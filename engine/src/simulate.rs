//! The simulator: runs one contact through a journey on a virtual clock, exactly as the
//! server would (same step function, same re-entry rules), in milliseconds.
//!
//! Ordering: at equal times, events are handled before timers (an order placed at the
//! exact second a one-hour wait ends counts as in time), and existing runs see an event
//! before the trigger may start a new run with it.

use crate::contact::{Contact, Event};
use crate::journey::Journey;
use crate::nodes::send::Rendered;
use crate::pressure::{Context, DeliverySettings, RecentSend, Rules};
use crate::run::{
    DeliveryResult, DeliveryStatus, Effect, Entry, Input, NewRun, Outcome, PriorRun, Run, Wait, admit, marketing_sends,
};
use crate::step::step_with;
use crate::time::{format_duration, parse_duration, parse_timestamp};
use chrono::{DateTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Monday 2026-01-05 09:00 UTC: where virtual time starts unless a scenario says otherwise.
pub fn default_start() -> DateTime<Utc> {
    parse_timestamp("2026-01-05T09:00:00Z").expect("a valid constant")
}

/// How long after the last event the simulation may go on, unless the scenario says otherwise.
pub const DEFAULT_HORIZON_DAYS: i64 = 400;

/// One event at a time on the scenario's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimedEvent {
    /// When: an offset from the start (`0s`, `30m`, `2d`) or an RFC 3339 timestamp.
    pub at: String,
    /// Event name. Omit it and set `api_start` to start a journey that is not triggered by an
    /// event instead (through the API, or as its segment, schedule, date, attribute or stage
    /// trigger would enter the contact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Event properties (for a start: the trigger's data, `trigger.properties.*`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
    /// Start the journey (an API start, or its trigger firing) instead of sending an event.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub api_start: bool,
}

/// What to simulate: a contact, a start time and a timeline of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The contact at the start.
    pub contact: Contact,
    /// Virtual start time (RFC 3339); default Monday 2026-01-05T09:00:00Z.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Events, by time.
    #[serde(default)]
    pub events: Vec<TimedEvent>,
    /// How long after the last event to keep going (default 400 days); runs still waiting then stay waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon: Option<String>,
    /// The workspace's delivery settings to simulate with (quiet hours, frequency caps);
    /// default none. Caps count the messages of this simulation only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySettings>,
    /// What delivery answers, by send node id, for sends the run waits for (with a
    /// `failed` port or `save_response`); default: delivered, with no response body.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deliveries: BTreeMap<String, SimulatedDelivery>,
}

/// The outcome of an awaited message in a simulation or journey test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatedDelivery {
    /// `delivered` (default) or `failed`.
    #[serde(default)]
    pub outcome: SimulatedOutcome,
    /// The webhook's HTTP status (default 200 when delivered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The webhook's JSON response body, which `save_response` reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

/// Whether a simulated message was delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SimulatedOutcome {
    #[default]
    Delivered,
    Failed,
}

/// One timeline entry with the run it belongs to and its offset from the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Moment {
    /// Offset from the start, e.g. `1d 2h`.
    pub offset: String,
    /// Which run (the contact's entry number).
    pub run: u32,
    #[serde(flatten)]
    pub entry: Entry,
}

/// A message the simulation sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SentMessage {
    pub offset: String,
    #[serde(skip)]
    pub elapsed: TimeDelta,
    pub run: u32,
    pub node: String,
    pub key: String,
    pub message: Rendered,
}

/// The result of a simulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Simulation {
    pub start: DateTime<Utc>,
    pub timeline: Vec<Moment>,
    pub sends: Vec<SentMessage>,
    /// Every run, by entry number, in its final state.
    pub runs: Vec<Run>,
    /// The contact at the end.
    pub contact: Contact,
}

/// A scenario that cannot be simulated (a bad time, an event without a name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// JSON pointer into the scenario.
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

/// A scenario with its times resolved.
struct Resolved<'a> {
    start: DateTime<Utc>,
    /// Events in time order.
    events: Vec<(DateTime<Utc>, &'a TimedEvent)>,
    horizon: TimeDelta,
    rules: Rules,
}

impl Scenario {
    /// Resolve the start time and every event's time; report every problem.
    fn resolve(&self, base: &str) -> Result<Resolved<'_>, Vec<ScenarioError>> {
        let mut errors = Vec::new();
        let mut error = |pointer: String, message: String| errors.push(ScenarioError { pointer, message });
        let start = match &self.start {
            None => default_start(),
            Some(s) => parse_timestamp(s).unwrap_or_else(|| {
                error(
                    format!("{base}/start"),
                    format!("`{s}` is not a timestamp; expected RFC 3339 such as `2026-01-05T09:00:00Z`"),
                );
                default_start()
            }),
        };
        let horizon = match &self.horizon {
            None => TimeDelta::days(DEFAULT_HORIZON_DAYS),
            Some(h) => parse_duration(h).unwrap_or_else(|e| {
                error(format!("{base}/horizon"), e);
                TimeDelta::zero()
            }),
        };
        let rules = match self.delivery.as_ref().map(|d| d.compile(&format!("{base}/delivery"))) {
            None => Rules::NONE,
            Some(Ok(rules)) => rules,
            Some(Err(problems)) => {
                for p in problems {
                    error(p.pointer, p.message);
                }
                Rules::NONE
            }
        };
        let mut events = Vec::new();
        for (i, e) in self.events.iter().enumerate() {
            let at = parse_timestamp(&e.at).or_else(|| parse_duration(&e.at).ok().map(|d| start + d));
            match at {
                Some(t) if t >= start => events.push((t, e)),
                Some(_) => {
                    error(format!("{base}/events/{i}/at"), format!("`{}` is before the start of the scenario", e.at))
                }
                None => error(
                    format!("{base}/events/{i}/at"),
                    format!("`{}` is neither an offset such as `2h` nor an RFC 3339 timestamp", e.at),
                ),
            }
            match (&e.name, e.api_start) {
                (None, false) => {
                    error(format!("{base}/events/{i}"), "give the event a `name`, or set `api_start: true`".into())
                }
                (Some(_), true) => error(
                    format!("{base}/events/{i}"),
                    "an entry is either an event (`name`) or an API start (`api_start`), not both".into(),
                ),
                _ => {}
            }
        }
        if errors.is_empty() {
            events.sort_by_key(|(t, _)| *t);
            Ok(Resolved { start, events, horizon, rules })
        } else {
            Err(errors)
        }
    }
}

/// Most steps a simulation takes before it stops (a journey that loops with a wait).
pub const MAX_STEPS: usize = 100_000;

/// Run `scenario` through `journey`. `base` prefixes error pointers (e.g. `/tests/2`).
pub fn simulate(journey: &Journey, scenario: &Scenario, base: &str) -> Result<Simulation, Vec<ScenarioError>> {
    let Resolved { start, events, horizon, rules } = scenario.resolve(base)?;
    let end = events.last().map_or(start, |(t, _)| *t) + horizon;
    let mut sim = Sim {
        journey,
        start,
        runs: vec![],
        contact: scenario.contact.clone(),
        timeline: vec![],
        sends: vec![],
        rules: &rules,
        recent: vec![],
        deliveries: &scenario.deliveries,
    };
    let mut next_event = 0;
    for _ in 0..MAX_STEPS {
        let event_at = events.get(next_event).map(|(t, _)| *t);
        let timer_at = sim.runs.iter().filter_map(Run::wake_at).min();
        let now = match (event_at, timer_at) {
            (Some(e), Some(t)) => e.min(t),
            (Some(e), None) => e,
            (None, Some(t)) => t,
            (None, None) => break,
        };
        if now > end {
            break;
        }
        if event_at == Some(now) {
            let (_, timed) = events[next_event];
            next_event += 1;
            sim.handle_event(timed, now);
        } else if let Some(i) = sim.runs.iter().position(|r| r.wake_at() == Some(now)) {
            sim.apply(i, Input::Timer, now);
        }
    }
    Ok(Simulation { start, timeline: sim.timeline, sends: sim.sends, runs: sim.runs, contact: sim.contact })
}

struct Sim<'j> {
    journey: &'j Journey,
    start: DateTime<Utc>,
    runs: Vec<Run>,
    contact: Contact,
    timeline: Vec<Moment>,
    sends: Vec<SentMessage>,
    /// The workspace's delivery rules of the scenario.
    rules: &'j Rules,
    /// The contact's marketing messages so far (the frequency caps count them).
    recent: Vec<RecentSend>,
    /// What delivery answers to awaited messages, by node.
    deliveries: &'j BTreeMap<String, SimulatedDelivery>,
}

impl Sim<'_> {
    fn handle_event(&mut self, timed: &TimedEvent, now: DateTime<Utc>) {
        if timed.api_start {
            // An API start, or the moment a segment, schedule, date, attribute or stage
            // trigger would enter the contact (its data as the properties).
            let trigger = &self.journey.workflow().trigger;
            if !matches!(trigger, crate::nodes::trigger::Trigger::Event(_)) {
                let event = trigger.entry_event(timed.properties.clone(), now);
                self.enter(None, event, now);
            }
            return;
        }
        let event = Event {
            name: timed.name.clone().unwrap_or_default(),
            properties: timed.properties.clone(),
            timestamp: now,
            message_id: None,
        };
        for i in 0..self.runs.len() {
            if !self.runs[i].status.is_ended() {
                self.apply(i, Input::Event(&event), now);
            }
        }
        if let Ok(correlation) = self.journey.workflow().trigger.matches(&event, &self.contact) {
            self.enter(correlation, event, now);
        }
    }

    fn enter(&mut self, correlation: Option<String>, trigger: Event, now: DateTime<Utc>) {
        let prior =
            self.runs.iter().map(|r| PriorRun { correlation: r.correlation.as_deref(), active: !r.status.is_ended() });
        if admit(&self.journey.workflow().settings, correlation.as_deref(), prior).is_err() {
            return;
        }
        let entry = self.runs.len() as u32 + 1;
        let new = NewRun {
            id: format!("sim-{entry}"),
            version: 0,
            contact: self.contact.id.clone(),
            entry,
            correlation,
            trigger,
        };
        self.runs.push(Run::new(self.journey.id(), new, now));
        self.apply(self.runs.len() - 1, Input::Start, now);
    }

    fn apply(&mut self, i: usize, input: Input<'_>, now: DateTime<Utc>) {
        let ctx = Context { rules: self.rules, recent: &self.recent };
        let Outcome { run, contact, effects, history } =
            step_with(self.journey, &self.runs[i], &self.contact, input, now, &ctx);
        self.recent.extend(marketing_sends(&effects, now));
        let entry = run.entry;
        let elapsed = now - self.start;
        for e in history {
            self.timeline.push(Moment { offset: format_duration(e.at - self.start), run: entry, entry: e });
        }
        for effect in effects {
            if let Effect::Send { key, node, message, .. } = effect {
                self.sends.push(SentMessage {
                    offset: format_duration(elapsed),
                    elapsed,
                    run: entry,
                    node,
                    key,
                    message,
                });
            }
        }
        self.runs[i] = run;
        self.contact = contact;
        // A message the run waits for is delivered (or fails) at once, as the scenario says.
        if let Some(Wait::Delivery { key, .. }) = &self.runs[i].wait {
            let node = self.runs[i].node.clone().unwrap_or_default();
            let simulated = self.deliveries.get(&node);
            let failed = simulated.is_some_and(|d| d.outcome == SimulatedOutcome::Failed);
            let result = DeliveryResult {
                key: key.clone(),
                status: if failed { DeliveryStatus::Failed } else { DeliveryStatus::Sent },
                http_status: if failed { None } else { Some(simulated.and_then(|d| d.status).unwrap_or(200)) },
                response: simulated.and_then(|d| d.response.clone()),
            };
            self.apply(i, Input::Delivery(&result), now);
        }
    }
}
