//! The editor's test panel and message preview, on a draft (or a definition being
//! edited) without publishing it:
//!
//! - `POST /v1/workflows/{id}/simulate` runs one contact through the journey on a
//!   virtual clock — the simulator behind `kairos test`, the same step function as the
//!   server — and returns each run's path, the timeline and the messages sent.
//! - `POST /v1/workflows/{id}/preview` renders one send node for a contact exactly as a
//!   real send would.

use crate::problem::{ApiProblem, ProblemItem};
use crate::routes::JsonObject;
use crate::routes::contacts::ContactId;
use crate::routes::runs::RunStatus;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{post, web};
use chrono::{DateTime, Utc};
use kairos_engine::consent::{Links, Subscriptions};
use kairos_engine::nodes::send::{Channel, Rendered, Skip};
use kairos_engine::nodes::{Build, Node};
use kairos_engine::pressure::DeliverySettings;
use kairos_engine::run::What;
use kairos_engine::simulate::{Scenario, SimulatedDelivery, Simulation, TimedEvent};
use kairos_engine::template::Templates;
use kairos_engine::time::{format_duration, parse_duration, parse_timestamp};
use kairos_engine::{Contact, Event, Problem, journey_test, store};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(simulate_workflow).service(preview_send);
}

/// Most events a simulation request may hold.
pub const MAX_EVENTS: usize = 1_000;

/// The journey document to work on: the one given, else the stored draft.
async fn document(state: &AppState, id: &str, given: Option<Value>) -> Result<Option<Value>, store::Error> {
    let Some(record) = store::get_workflow(state.store().reader(), id).await? else { return Ok(None) };
    Ok(Some(given.unwrap_or(record.draft)))
}

fn items(problems: &[Problem]) -> Vec<ProblemItem> {
    problems.iter().map(ProblemItem::from).collect()
}

// ----- POST /v1/workflows/{id}/simulate -----

/// A contact at the start of a simulation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioContact {
    #[schema(example = "ann")]
    pub id: String,
    /// Attributes: `email`, `first_name`, `timezone`, ...
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Tags; one given twice counts once.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub tags: BTreeSet<String>,
    /// What the contact agreed to receive, e.g. `{"channels": {"email": "unsubscribed"},
    /// "topics": {"newsletter": "unsubscribed"}, "email_suppressed": true}`; subscribed to
    /// everything when omitted. Marketing sends the contact opted out of are skipped.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub subscriptions: Subscriptions,
}

/// One event on the scenario's timeline.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioEvent {
    /// When: an offset from the start (`0s`, `2h`, `1d 1h`) or an RFC 3339 timestamp.
    #[schema(example = "0s")]
    pub at: String,
    /// The event name (omit it and set `api_start` to start an `api`-triggered journey).
    #[schema(example = "cart_updated")]
    pub name: Option<String>,
    /// Event properties (for an API start: the data passed to the run).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    /// Start the journey through the API at `at` instead of sending an event.
    #[serde(default)]
    pub api_start: bool,
}

/// What to simulate: a case of `<journey>.test.json` without `name` and `expect`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    /// A journey document to simulate instead of the stored draft (e.g. unsaved edits).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub definition: Option<Value>,
    pub contact: ScenarioContact,
    /// Virtual start time (RFC 3339); default Monday 2026-01-05T09:00:00Z.
    pub start: Option<String>,
    /// Events, by time (at most 1,000). The first usually triggers the journey; a journey
    /// not triggered by an event (`api`, segment, schedule, date, attribute or stage
    /// triggers) without an `api_start` entry is entered at the start.
    #[serde(default)]
    pub events: Vec<ScenarioEvent>,
    /// How long after the last event to keep going (default `400d`).
    #[schema(example = "30d")]
    pub horizon: Option<String>,
    /// The quiet hours and frequency caps to simulate with, as a test case's `delivery`:
    /// `{"quiet_hours": {...}, "frequency_caps": {...}}` as `GET /v1/settings/delivery`
    /// shows them, where a field left out takes its default (quiet hours off, 21:00 to
    /// 08:00 UTC, `wait`; no caps). Without it: the workspace's stored settings. The
    /// journey's own `settings.quiet_hours` apply either way; caps count this
    /// simulation's messages only.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub delivery: Option<Value>,
    /// What delivery answers, by send node id, for sends the run waits for (a `failed`
    /// port or `save_response`), as a test case's `deliveries`:
    /// `{"notify_crm": {"outcome": "failed"}}` or `{"notify_crm": {"status": 201, "response": {"id": "c-1"}}}`.
    /// Default: delivered (200), with no body.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub deliveries: Option<Value>,
}

/// What a timeline entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// An event of the scenario happened (`run` and `node` are null).
    Event,
    /// The contact entered the journey: a new run.
    Entered,
    /// The run arrived at `node`.
    NodeEntered,
    /// A branch chose a port; `detail` lists each comparison with its values.
    Decision,
    /// A split assigned a variant.
    Variant,
    /// The run waits for a time, an event or a message's delivery.
    Waiting,
    /// A `wait_until` let the run through at once.
    NoWait,
    /// The awaited event arrived.
    Resumed,
    /// The wait for an event timed out.
    TimedOut,
    /// A message was sent.
    Sent,
    /// A message the run waited for was delivered; `detail` names the data saved from
    /// a webhook's response.
    Delivered,
    /// A send was skipped (no address, the message could not be rendered, or consent:
    /// the contact unsubscribed or opted out of the topic, or the address is suppressed).
    Skipped,
    /// A marketing message fell inside quiet hours: it waits for their end, or was skipped.
    QuietHours,
    /// A frequency cap held a marketing message back: it waits, or was skipped.
    FrequencyCapped,
    ContactUpdated,
    /// The goal was reached.
    Converted,
    /// The run reached an exit node.
    Completed,
    /// The run ended early (`exit_when`, goal with `exit`).
    Exited,
    /// Delivery of a message was given up (only on a server, never simulated).
    DeliveryFailed,
    /// An at-most-once provider's message may or may not have been delivered (only on a
    /// server, never simulated).
    DeliveryUnknown,
    /// A queued message was not delivered: consent changed or the address was
    /// suppressed before it went out (only on a server, never simulated).
    DeliverySkipped,
}

fn kind_of(what: &What) -> TimelineKind {
    match what {
        What::Entered { .. } => TimelineKind::Entered,
        What::NodeEntered { .. } => TimelineKind::NodeEntered,
        What::Decision { .. } => TimelineKind::Decision,
        What::Variant { .. } => TimelineKind::Variant,
        What::WaitingUntil { .. } | What::WaitingForEvent { .. } | What::WaitingForDelivery { .. } => {
            TimelineKind::Waiting
        }
        What::Delivered { .. } => TimelineKind::Delivered,
        What::NoWait { .. } => TimelineKind::NoWait,
        What::EventReceived { .. } => TimelineKind::Resumed,
        What::TimedOut { .. } => TimelineKind::TimedOut,
        What::Sent { .. } => TimelineKind::Sent,
        What::SendSkipped { .. } => TimelineKind::Skipped,
        What::QuietHours { .. } => TimelineKind::QuietHours,
        What::FrequencyCapped { .. } => TimelineKind::FrequencyCapped,
        What::DeliveryFailed { .. } => TimelineKind::DeliveryFailed,
        What::DeliveryUnknown { .. } => TimelineKind::DeliveryUnknown,
        What::DeliverySkipped { .. } => TimelineKind::DeliverySkipped,
        What::ContactUpdated { .. } => TimelineKind::ContactUpdated,
        What::Converted { .. } => TimelineKind::Converted,
        What::Completed => TimelineKind::Completed,
        What::Exited { .. } => TimelineKind::Exited,
    }
}

/// One moment of the simulated timeline.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimelineItem {
    pub at: DateTime<Utc>,
    /// Offset from the start, e.g. `1d 1h`.
    pub offset: String,
    /// The run (the contact's entry number, from 1); `null` for scenario events.
    pub run: Option<u32>,
    /// The node, when the moment belongs to one.
    pub node: Option<String>,
    pub kind: TimelineKind,
    /// What happened, in words (decisions with the values they compared).
    pub detail: String,
    /// The entry as the engine records it (as in `GET /v1/runs/{id}`); `null` for scenario events.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

/// One run of the simulation, in its final state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SimulatedRun {
    /// The contact's entry number (1, 2, ...), as `run` in the timeline.
    pub run: u32,
    /// Node ids entered, in order (to highlight on the canvas).
    pub path: Vec<String>,
    pub status: RunStatus,
    /// Where it ended, or waits at the end of the simulation.
    pub node: Option<String>,
    pub converted: bool,
    /// The split variant of the first split it went through.
    pub variant: Option<String>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// A message the simulation sent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SimulatedSend {
    pub run: u32,
    pub node: String,
    #[schema(value_type = String, example = "email")]
    pub channel: String,
    /// The address (email, phone, push token); `null` for webhooks and Slack.
    pub to: Option<String>,
    /// Email subject.
    pub subject: Option<String>,
    /// Push title.
    pub title: Option<String>,
    /// Push link or webhook URL.
    pub url: Option<String>,
    /// The text or HTML body; a webhook's JSON body as text; a Slack message's text.
    pub body: String,
    /// A Slack message's Block Kit blocks, rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub blocks: Option<Value>,
    pub at: DateTime<Utc>,
    pub offset: String,
}

/// The contact at the end of the simulation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SimulatedContact {
    pub id: String,
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    pub tags: Vec<String>,
}

/// The outcome of a simulation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SimulationResult {
    /// Virtual start time.
    pub start: DateTime<Utc>,
    /// Every run, by entry.
    pub runs: Vec<SimulatedRun>,
    /// Everything that happened, in time order.
    pub timeline: Vec<TimelineItem>,
    /// Every message sent, in order.
    pub sends: Vec<SimulatedSend>,
    pub contact: SimulatedContact,
}

/// Errors of `POST /v1/workflows/{id}/simulate`.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error("the journey has {} problem(s); fix them before simulating", .0.len())]
    InvalidWorkflow(Vec<Problem>),
    #[error("the scenario cannot be simulated: {}", .0.iter().map(|p| format!("{} {}", p.pointer, p.message)).collect::<Vec<_>>().join("; "))]
    InvalidScenario(Vec<ProblemItem>),
    #[error("the simulation failed: {0}")]
    Failed(String),
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for SimulateError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::InvalidWorkflow(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InvalidScenario(_) => StatusCode::BAD_REQUEST,
            Self::Failed(_) | Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::InvalidWorkflow(_) => "invalid_workflow",
            Self::InvalidScenario(_) => "invalid_scenario",
            Self::Failed(_) | Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::InvalidWorkflow(problems) => items(problems),
            Self::InvalidScenario(items) => items.clone(),
            _ => vec![],
        }
    }
}

fn scenario_item(pointer: impl Into<String>, message: impl Into<String>) -> ProblemItem {
    ProblemItem { pointer: pointer.into(), node: None, message: message.into(), code: "invalid_scenario".into() }
}

impl SimulateRequest {
    /// The engine's scenario; an `api`-triggered journey with no API start gets one at the
    /// start. `stored` is the workspace's delivery settings, used when none are given.
    fn scenario(self, api_trigger: bool, stored: DeliverySettings) -> Result<Scenario, Vec<ProblemItem>> {
        let mut problems = Vec::new();
        // Read here; its values are checked with the rest of the scenario.
        let delivery = match self.delivery.map(serde_path_to_error::deserialize::<_, DeliverySettings>) {
            None => Some(stored),
            Some(Ok(settings)) => Some(settings),
            Some(Err(e)) => {
                let pointer = kairos_engine::problem::path_pointer("/delivery", e.path());
                problems.push(scenario_item(pointer, e.inner().to_string()));
                None
            }
        };
        let deliveries =
            match self.deliveries.map(serde_path_to_error::deserialize::<_, BTreeMap<String, SimulatedDelivery>>) {
                None => BTreeMap::new(),
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    let pointer = kairos_engine::problem::path_pointer("/deliveries", e.path());
                    problems.push(scenario_item(pointer, e.inner().to_string()));
                    BTreeMap::new()
                }
            };
        if let Err(e) = ContactId::parse(&self.contact.id) {
            problems.push(scenario_item("/contact/id", e));
        }
        if self.events.len() > MAX_EVENTS {
            problems.push(scenario_item(
                "/events",
                format!("at most {MAX_EVENTS} events; there are {}", self.events.len()),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut events: Vec<TimedEvent> = self
            .events
            .into_iter()
            .map(|e| TimedEvent { at: e.at, name: e.name, properties: e.properties, api_start: e.api_start })
            .collect();
        if api_trigger && !events.iter().any(|e| e.api_start) {
            events.insert(0, TimedEvent { at: "0s".into(), name: None, properties: Map::new(), api_start: true });
        }
        let contact = Contact {
            id: self.contact.id,
            attributes: self.contact.attributes,
            tags: self.contact.tags,
            subscriptions: self.contact.subscriptions,
        };
        Ok(Scenario { contact, start: self.start, events, horizon: self.horizon, delivery, deliveries })
    }
}

/// The result DTO of a simulation of `scenario`.
fn result_of(sim: Simulation, scenario: &Scenario) -> SimulationResult {
    let start = sim.start;
    let mut timeline: Vec<(DateTime<Utc>, u8, TimelineItem)> = Vec::new();
    for e in &scenario.events {
        let Some(at) = parse_timestamp(&e.at).or_else(|| parse_duration(&e.at).ok().map(|d| start + d)) else {
            continue;
        };
        let detail = match &e.name {
            Some(name) if e.properties.is_empty() => format!("`{name}`"),
            Some(name) => format!("`{name}` {}", Value::Object(e.properties.clone())),
            None => format!("started through the API with {}", Value::Object(e.properties.clone())),
        };
        let offset = format_duration(at - start);
        timeline.push((
            at,
            0,
            TimelineItem { at, offset, run: None, node: None, kind: TimelineKind::Event, detail, data: None },
        ));
    }
    for m in &sim.timeline {
        let item = TimelineItem {
            at: m.entry.at,
            offset: m.offset.clone(),
            run: Some(m.run),
            node: m.entry.node.clone(),
            kind: kind_of(&m.entry.what),
            detail: journey_test::describe(&m.entry.what, start),
            data: serde_json::to_value(&m.entry).ok(),
        };
        timeline.push((m.entry.at, 1, item));
    }
    // Events are handled before the steps at the same time; steps keep their order.
    timeline.sort_by_key(|(at, group, _)| (*at, *group));
    let runs = sim
        .runs
        .iter()
        .map(|r| {
            let mine = || sim.timeline.iter().filter(|m| m.run == r.entry);
            SimulatedRun {
                run: r.entry,
                path: mine()
                    .filter(|m| matches!(m.entry.what, What::NodeEntered { .. }))
                    .filter_map(|m| m.entry.node.clone())
                    .collect(),
                status: r.status.into(),
                node: r.node.clone(),
                converted: r.converted_at.is_some(),
                variant: mine().find_map(|m| match &m.entry.what {
                    What::Variant { variant, .. } => Some(variant.clone()),
                    _ => None,
                }),
                ended_at: r.ended_at,
            }
        })
        .collect();
    let sends = sim
        .sends
        .iter()
        .map(|s| {
            let m = message_fields(&s.message);
            SimulatedSend {
                run: s.run,
                node: s.node.clone(),
                channel: m.channel,
                to: m.to,
                subject: m.subject,
                title: m.title,
                url: m.url,
                body: m.body,
                blocks: m.blocks,
                at: start + s.elapsed,
                offset: s.offset.clone(),
            }
        })
        .collect();
    SimulationResult {
        start,
        runs,
        timeline: timeline.into_iter().map(|(_, _, item)| item).collect(),
        sends,
        contact: SimulatedContact {
            id: sim.contact.id,
            attributes: sim.contact.attributes,
            tags: sim.contact.tags.into_iter().collect(),
        },
    }
}

/// A rendered message, field by field.
struct Fields {
    channel: String,
    to: Option<String>,
    subject: Option<String>,
    title: Option<String>,
    url: Option<String>,
    body: String,
    blocks: Option<Value>,
    method: Option<String>,
    headers: BTreeMap<String, String>,
}

fn channel_name(c: Channel) -> String {
    store::channel_name(c).to_string()
}

fn message_fields(m: &Rendered) -> Fields {
    let to = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let empty = Fields {
        channel: channel_name(m.channel()),
        to: None,
        subject: None,
        title: None,
        url: None,
        body: String::new(),
        blocks: None,
        method: None,
        headers: BTreeMap::new(),
    };
    match m {
        Rendered::Email { to: address, subject, body, headers, .. } => Fields {
            to: to(address),
            subject: Some(subject.clone()),
            body: body.clone(),
            headers: headers.clone(),
            ..empty
        },
        Rendered::Sms { to: address, body } => Fields { to: to(address), body: body.clone(), ..empty },
        Rendered::Push { to: address, title, body, url } => {
            Fields { to: to(address), title: Some(title.clone()), url: url.clone(), body: body.clone(), ..empty }
        }
        Rendered::Webhook { method, url, headers, body, .. } => Fields {
            url: Some(url.clone()),
            body: body.as_ref().map(|b| serde_json::to_string_pretty(b).unwrap_or_default()).unwrap_or_default(),
            method: serde_json::to_value(method).ok().and_then(|v| v.as_str().map(str::to_string)),
            headers: headers.clone(),
            ..empty
        },
        Rendered::Slack { text, blocks } => Fields { body: text.clone(), blocks: blocks.clone(), ..empty },
    }
}

/// Run a scenario through the draft (or the `definition` given) on a virtual clock: a
/// 30-day journey takes milliseconds, nothing is stored and nothing is sent. The answer
/// lists each run's path (to highlight on the canvas), the timeline with every decision
/// and its values, and the messages as they would be sent.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    request_body = SimulateRequest,
    responses(
        (status = 200, description = "The simulation", body = SimulationResult),
        (status = 400, description = "Not JSON (`malformed_json`), not the expected fields (`invalid_body`), or a scenario that cannot run (`invalid_scenario`; `errors` points at each bad field)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Signed in by cookie without the CSRF token (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The journey is not valid (`invalid_workflow`); `errors` lists every problem with its pointer and node, as validate does", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/workflows/{id}/simulate")]
pub async fn simulate_workflow(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JsonObject<SimulateRequest>>,
) -> Result<web::Json<SimulationResult>, SimulateError> {
    let id = path.into_inner();
    let mut request = body.into_inner().into_inner();
    let doc = document(&state, &id, request.definition.take()).await?.ok_or(SimulateError::NotFound(id))?;
    let stored = store::get_delivery_settings(state.store().reader()).await?.settings;
    let library = crate::routes::templates::library_for(&state, &doc).await?;
    // Validating and simulating are CPU work (a simulation may take up to 100,000 steps).
    let outcome = tokio::task::spawn_blocking(move || {
        let journey =
            kairos_engine::validate::validate_value_in(doc, &library).map_err(SimulateError::InvalidWorkflow)?;
        let api_trigger = !matches!(journey.workflow().trigger, kairos_engine::nodes::trigger::Trigger::Event(_));
        let scenario = request.scenario(api_trigger, stored).map_err(SimulateError::InvalidScenario)?;
        let sim = kairos_engine::simulate::simulate(&journey, &scenario, "").map_err(|errors| {
            SimulateError::InvalidScenario(errors.into_iter().map(|e| scenario_item(e.pointer, e.message)).collect())
        })?;
        Ok(result_of(sim, &scenario))
    })
    .await
    .map_err(|e| SimulateError::Failed(e.to_string()))?;
    outcome.map(web::Json)
}

// ----- POST /v1/workflows/{id}/preview -----

/// The trigger event a preview renders with (`trigger.*` and `event.*` in templates).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewTrigger {
    /// Event name; default the trigger's event.
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
}

/// What to preview.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WorkflowPreviewRequest)]
pub struct PreviewRequest {
    /// A journey document to use instead of the stored draft (e.g. unsaved edits).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub definition: Option<Value>,
    /// The send node to render.
    #[schema(example = "send_reminder")]
    pub node: String,
    /// A stored contact to render for.
    pub contact_id: Option<String>,
    /// Attributes to render with: alone, or over the stored contact's.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    /// The trigger event to render with (default: the trigger's event, no properties).
    pub trigger: Option<PreviewTrigger>,
}

/// A message rendered for a contact.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PreviewResult {
    #[schema(value_type = String, example = "email")]
    pub channel: String,
    /// The contact's address for the channel; `null` if it has none (a real send would be skipped).
    pub to: Option<String>,
    /// Email subject.
    pub subject: Option<String>,
    /// Push title.
    pub title: Option<String>,
    /// Push link or webhook URL.
    pub url: Option<String>,
    /// Text or HTML body (a webhook's JSON body as text; a Slack message's text).
    pub body: String,
    /// A Slack message's Block Kit blocks, rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub blocks: Option<Value>,
    /// Webhook method.
    pub method: Option<String>,
    /// Webhook headers, or an email's extra headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Why a real send to this contact would be skipped, if it would.
    pub warning: Option<String>,
}

/// Errors of `POST /v1/workflows/{id}/preview`.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("there is no workflow `{0}`")]
    NotFound(String),
    #[error("the journey has no node `{0}`")]
    UnknownNode(String),
    #[error("`{0}` is not a send node; only send nodes render messages")]
    NotSendNode(String),
    #[error("the node `{node}` cannot be rendered until its problems are fixed ({} problem(s))", .problems.len())]
    InvalidNode { node: String, problems: Vec<Problem> },
    #[error("there is no contact `{0}`")]
    UnknownContact(String),
    #[error("the message cannot be rendered: {message}")]
    RenderFailed { node: String, pointer: String, message: String },
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for PreviewError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::UnknownNode(_)
            | Self::NotSendNode(_)
            | Self::InvalidNode { .. }
            | Self::UnknownContact(_)
            | Self::RenderFailed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::UnknownNode(_) => "unknown_node",
            Self::NotSendNode(_) => "not_a_send_node",
            Self::InvalidNode { .. } => "invalid_workflow",
            Self::UnknownContact(_) => "unknown_contact",
            Self::RenderFailed { .. } => "render_failed",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        let item = |pointer: &str, node: Option<&str>, message: String, code: &str| ProblemItem {
            pointer: pointer.into(),
            node: node.map(str::to_string),
            message,
            code: code.into(),
        };
        match self {
            // No `node`: there is no such node to mark.
            Self::UnknownNode(_) => vec![item("/node", None, self.to_string(), "unknown_node")],
            Self::NotSendNode(n) => vec![item("/node", Some(n), self.to_string(), "not_a_send_node")],
            Self::InvalidNode { problems, .. } => items(problems),
            Self::UnknownContact(_) => vec![item("/contact_id", None, self.to_string(), "unknown_contact")],
            Self::RenderFailed { node, pointer, message } => {
                vec![item(pointer, Some(node), message.clone(), "render_failed")]
            }
            _ => vec![],
        }
    }
}

/// Render one send node of the draft (or the `definition` given) for a stored contact
/// (`contact_id`), for attributes given (`attributes`), or both (attributes over the
/// stored ones), exactly as a real send would: the same templates, escaping and data
/// (`contact`, `trigger`, `event`, `journey`). Only that node needs to be valid.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "The rendered message", body = PreviewResult),
        (status = 400, description = "Not JSON (`malformed_json`) or not the expected fields (`invalid_body`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Signed in by cookie without the CSRF token (`csrf`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such workflow (`not_found`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large (`body_too_large`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "No such node (`unknown_node`), not a send node (`not_a_send_node`), a node with problems (`invalid_workflow`), no such contact (`unknown_contact`) or a template that fails for this contact (`render_failed`); `errors` names the field", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Unexpected error", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/workflows/{id}/preview")]
pub async fn preview_send(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JsonObject<PreviewRequest>>,
) -> Result<web::Json<PreviewResult>, PreviewError> {
    let id = path.into_inner();
    let request = body.into_inner().into_inner();
    let doc = document(&state, &id, request.definition).await?.ok_or(PreviewError::NotFound(id))?;
    let nodes = doc.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default();
    let (index, raw) = nodes
        .into_iter()
        .enumerate()
        .find(|(_, n)| n.get("id").and_then(Value::as_str) == Some(request.node.as_str()))
        .ok_or_else(|| PreviewError::UnknownNode(request.node.clone()))?;
    let pointer = format!("/nodes/{index}");
    let node = request.node.clone();
    if raw.get("type").and_then(Value::as_str) != Some("send") {
        return Err(PreviewError::NotSendNode(node));
    }
    let send = match serde_json::from_value::<Node>(raw) {
        Ok(Node::Send(send)) => send,
        Ok(_) => return Err(PreviewError::NotSendNode(node)),
        Err(e) => {
            let problem =
                Problem::new(kairos_engine::problem::Kind::InvalidValue, pointer, e.to_string()).at_node(&node);
            return Err(PreviewError::InvalidNode { node, problems: vec![problem] });
        }
    };
    let library = crate::routes::templates::library_for(&state, &doc).await?;
    let mut templates = Templates::with_library(library);
    let mut problems = Vec::new();
    send.build(&mut Build::new(pointer.clone(), Some(node.clone()), &mut problems), &mut templates);
    if !problems.is_empty() {
        return Err(PreviewError::InvalidNode { node, problems });
    }
    let mut contact = match &request.contact_id {
        Some(cid) => {
            store::get_contact(state.store().reader(), cid)
                .await?
                .ok_or_else(|| PreviewError::UnknownContact(cid.clone()))?
                .contact
        }
        None => Contact::new("preview"),
    };
    contact.attributes.extend(request.attributes.unwrap_or_default());
    let trigger_event = doc.pointer("/trigger/event").and_then(Value::as_str).unwrap_or("api").to_string();
    let trigger = request.trigger.unwrap_or(PreviewTrigger { name: None, properties: Map::new() });
    let mut event = Event::new(trigger.name.unwrap_or(trigger_event), state.scheduler.now());
    event.properties = trigger.properties;
    let data = json!({
        "contact": contact.template_data(),
        "trigger": event.template_data(),
        "event": event.template_data(),
        "journey": { "id": doc.get("id"), "name": doc.get("name"), "version": 0, "run_id": "preview", "entry": 1 },
        // A preview's link unsubscribes nobody: it is an offline one.
        "unsubscribe_url": Links::offline().unsubscribe_url(&send.unsubscribe_target(&contact.id)),
    });
    let rendered = send.preview(&templates, &data).map_err(|skip| match skip {
        Skip::Render { field, message } => PreviewError::RenderFailed {
            node: node.clone(),
            pointer: format!("{pointer}/{field}"),
            message: format!("{field}: {message}"),
        },
        other => {
            PreviewError::RenderFailed { node: node.clone(), pointer: pointer.clone(), message: other.to_string() }
        }
    })?;
    let consent = contact.subscriptions.check(send.message.channel(), send.transactional, send.topic.as_deref());
    let warning = match (consent, send.render(&templates, &data)) {
        (Err(blocked), _) => Some(format!("a real send would be skipped: {blocked}")),
        (_, Err(skip @ Skip::NoAddress(_))) => Some(format!("a real send would be skipped: {skip}")),
        _ => None,
    };
    let m = message_fields(&rendered);
    Ok(web::Json(PreviewResult {
        channel: m.channel,
        to: m.to,
        subject: m.subject,
        title: m.title,
        url: m.url,
        body: m.body,
        blocks: m.blocks,
        method: m.method,
        headers: m.headers,
        warning,
    }))
}

crate::problem_response!(SimulateError, PreviewError);
