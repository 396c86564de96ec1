//! Journey tests: `<journey>.test.json` beside `<journey>.json` holds scenarios and what
//! must come of them. `kairos test` runs each on the simulator and reports differences.
//!
//! ```json
//! { "$schema": "./test.schema.json",
//!   "tests": [ { "name": "reminder when no order within an hour",
//!                "contact": { "id": "c1", "attributes": { "email": "ann@example.com" } },
//!                "events": [ { "at": "0s", "name": "cart_updated", "properties": { "cart_id": "k1" } } ],
//!                "expect": { "sends": [ { "node": "send_reminder", "channel": "email", "at": "1h" } ],
//!                            "runs": [ { "end": { "status": "completed", "node": "exit_no_order" } } ] } } ] }
//! ```

use crate::contact::Contact;
use crate::journey::Journey;
use crate::nodes::send::{Channel, channel_name};
use crate::pressure::DeliverySettings;
use crate::run::{Run, Status, What};
use crate::simulate::{Scenario, Simulation, TimedEvent, simulate};
use crate::time::{format_duration, parse_duration};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// A journey's test file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Path or URL of the JSON Schema (`./test.schema.json`).
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The test cases.
    pub tests: Vec<Case>,
}

/// One scenario and its expectations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the test shows, in a sentence.
    pub name: String,
    /// The contact at the start.
    pub contact: Contact,
    /// Virtual start time (RFC 3339); default Monday 2026-01-05T09:00:00Z.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Events, by time (offsets from the start such as `2h`, or timestamps).
    #[serde(default)]
    pub events: Vec<TimedEvent>,
    /// How long after the last event to keep simulating (default 400 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon: Option<String>,
    /// The workspace's delivery settings to test with (quiet hours, frequency caps), as
    /// `GET /v1/settings/delivery` shows them; default none. The journey's own
    /// `settings.quiet_hours` apply either way; caps count this test's messages only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySettings>,
    /// What delivery answers, by send node id, for the sends a run waits for (a `failed`
    /// port or `save_response`): `{"notify_crm": {"outcome": "failed"}}` or
    /// `{"notify_crm": {"response": {"id": "c-1"}}}`; default delivered, no body.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub deliveries: std::collections::BTreeMap<String, crate::simulate::SimulatedDelivery>,
    /// What must happen.
    pub expect: Expect,
}

/// Expectations. Each one given is checked; leave one out to not check it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Every message sent, in order (an empty list: nothing is sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sends: Option<Vec<ExpectedSend>>,
    /// Every run started, by entry (the list's length is the number of runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<Vec<ExpectedRun>>,
    /// Contact attributes that must hold these values at the end (others are not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Map<String, Value>>,
    /// Tags the contact must have at the end, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeSet<String>>,
}

/// An expected message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSend {
    /// The send node.
    pub node: String,
    /// Its channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// When, as an offset from the start (`1h`, `1d 1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Which run sent it (entry number, from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<u32>,
    /// Text the rendered message must contain (subject, body, title, URL or JSON body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
}

/// Expectations on one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRun {
    /// Node ids the run entered, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<String>>,
    /// How the run ends (or `waiting` if it still waits at the end of the simulation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<ExpectedEnd>,
    /// Whether it reached the goal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted: Option<bool>,
    /// The split variant it was assigned (first split it went through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// How a run ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedEnd {
    /// `completed` (an exit node), `exited` (exit_when or goal), or `waiting`.
    pub status: Status,
    /// The node it ends (or waits) at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// At the latest this offset from the start (`25h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// The outcome of one test case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReport {
    pub name: String,
    /// What did not match; empty when the case passed.
    pub failures: Vec<String>,
    /// Expected vs actual sends (`-` expected, `+` actual), when they differ.
    pub diff: Option<String>,
    /// The simulated timeline, for failures.
    pub timeline: String,
}

impl CaseReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Why a test file does not parse: the first problem, with its JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// JSON pointer of the problem (`/` for the whole file).
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parse a test file, reporting the first problem with its JSON pointer.
pub fn parse(text: &str) -> Result<TestFile, ParseError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let pointer = crate::problem::path_pointer("", e.path());
        let pointer = if pointer.is_empty() { "/".to_string() } else { pointer };
        ParseError { pointer, message: e.into_inner().to_string() }
    })
}

/// Run every case of `file` against `journey`.
pub fn run(journey: &Journey, file: &TestFile) -> Vec<CaseReport> {
    file.tests.iter().enumerate().map(|(i, case)| run_case(journey, case, i)).collect()
}

fn run_case(journey: &Journey, case: &Case, index: usize) -> CaseReport {
    let scenario = Scenario {
        contact: case.contact.clone(),
        start: case.start.clone(),
        events: case.events.clone(),
        horizon: case.horizon.clone(),
        delivery: case.delivery.clone(),
        deliveries: case.deliveries.clone(),
    };
    let sim = match simulate(journey, &scenario, &format!("/tests/{index}")) {
        Ok(sim) => sim,
        Err(errors) => {
            return CaseReport {
                name: case.name.clone(),
                failures: errors.iter().map(ToString::to_string).collect(),
                diff: None,
                timeline: String::new(),
            };
        }
    };
    let mut failures = Vec::new();
    let mut diff = None;
    if let Some(expected) = &case.expect.sends {
        let (ok, d) = compare_sends(expected, &sim, &mut failures, index);
        if !ok {
            diff = Some(d);
        }
    }
    if let Some(runs) = &case.expect.runs {
        if runs.len() != sim.runs.len() {
            failures.push(format!("expected {} run(s), {} started", runs.len(), sim.runs.len()));
        }
        for (i, (want, got)) in runs.iter().zip(&sim.runs).enumerate() {
            check_run(i + 1, want, got, &sim, &mut failures);
        }
    }
    if let Some(attrs) = &case.expect.contact {
        for (k, v) in attrs {
            let got = sim.contact.attributes.get(k);
            if got != Some(v) {
                let got = got.map_or("nothing".to_string(), ToString::to_string);
                failures.push(format!("contact attribute `{k}`: expected {v}, got {got}"));
            }
        }
    }
    if let Some(tags) = &case.expect.tags
        && *tags != sim.contact.tags
    {
        failures.push(format!("contact tags: expected {tags:?}, got {:?}", sim.contact.tags));
    }
    CaseReport { name: case.name.clone(), failures, diff, timeline: render_timeline(&sim) }
}

fn compare_sends(
    expected: &[ExpectedSend],
    sim: &Simulation,
    failures: &mut Vec<String>,
    index: usize,
) -> (bool, String) {
    let mut ok = expected.len() == sim.sends.len();
    let actual_line = |s: &crate::simulate::SentMessage| {
        format!("{:>8}  run {}  {:<8} {}", s.offset, s.run, channel_name(s.message.channel()), s.node)
    };
    let mut expected_lines = Vec::new();
    for (i, want) in expected.iter().enumerate() {
        let got = sim.sends.get(i);
        let at = match &want.at {
            Some(text) => match parse_duration(text) {
                Ok(d) => Some(d),
                Err(e) => {
                    failures.push(format!("/tests/{index}/expect/sends/{i}/at: {e}"));
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let matches = got.is_some_and(|g| {
            g.node == want.node
                && want.channel.is_none_or(|c| c == g.message.channel())
                && at.is_none_or(|d| d == g.elapsed)
                && want.run.is_none_or(|r| r == g.run)
                && want.contains.as_ref().is_none_or(|text| {
                    serde_json::to_string(&g.message)
                        .is_ok_and(|json| json.contains(text.as_str()) || contains_unescaped(&g.message, text))
                })
        });
        ok &= matches;
        // Fill what the expectation leaves open from the actual send, so the diff shows only real differences.
        let same_node = got.filter(|g| g.node == want.node);
        let offset = match (&at, same_node) {
            (Some(d), _) => format_duration(*d),
            (None, Some(g)) => g.offset.clone(),
            (None, None) => "*".into(),
        };
        let run = want.run.or(same_node.map(|g| g.run)).map_or("*".into(), |r| r.to_string());
        let channel = want.channel.or(same_node.map(|g| g.message.channel())).map_or("*", channel_name);
        let mut line = format!("{offset:>8}  run {run}  {channel:<8} {}", want.node);
        if let Some(text) = &want.contains {
            line.push_str(&format!("  containing {text:?}"));
        }
        expected_lines.push(line);
    }
    let actual_lines: Vec<String> = sim
        .sends
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut line = actual_line(s);
            if let Some(text) = expected.get(i).and_then(|w| w.contains.as_ref())
                && serde_json::to_string(&s.message)
                    .is_ok_and(|json| json.contains(text.as_str()) || contains_unescaped(&s.message, text))
            {
                line.push_str(&format!("  containing {text:?}"));
            }
            line
        })
        .collect();
    if !ok {
        failures.push(format!("the messages sent differ from the {} expected", expected.len()));
    }
    let (e, a) = (expected_lines.join("\n") + "\n", actual_lines.join("\n") + "\n");
    let diff = similar::TextDiff::from_lines(&e, &a);
    let rendered = diff
        .iter_all_changes()
        .map(|c| {
            let sign = match c.tag() {
                similar::ChangeTag::Delete => "-",
                similar::ChangeTag::Insert => "+",
                similar::ChangeTag::Equal => " ",
            };
            format!("{sign} {}", c.value().trim_end())
        })
        .collect::<Vec<_>>()
        .join("\n");
    (ok, rendered)
}

/// `contains` also matches the text as rendered inside JSON strings (quotes unescaped).
fn contains_unescaped(message: &crate::nodes::send::Rendered, text: &str) -> bool {
    fn walk(v: &Value, text: &str) -> bool {
        match v {
            Value::String(s) => s.contains(text),
            Value::Array(a) => a.iter().any(|v| walk(v, text)),
            Value::Object(m) => m.values().any(|v| walk(v, text)),
            _ => false,
        }
    }
    serde_json::to_value(message).is_ok_and(|v| walk(&v, text))
}

fn check_run(n: usize, want: &ExpectedRun, run: &Run, sim: &Simulation, failures: &mut Vec<String>) {
    let entries = || sim.timeline.iter().filter(|m| m.run == run.entry);
    if let Some(path) = &want.path {
        let got: Vec<String> = entries()
            .filter(|m| matches!(m.entry.what, What::NodeEntered { .. }))
            .filter_map(|m| m.entry.node.clone())
            .collect();
        if *path != got {
            failures.push(format!("run {n} path: expected [{}], got [{}]", path.join(" → "), got.join(" → ")));
        }
    }
    if let Some(end) = &want.end {
        if run.status != end.status {
            failures.push(format!(
                "run {n}: expected status {:?}, got {:?} at {}",
                end.status,
                run.status,
                run.node.as_deref().unwrap_or("-")
            ));
        }
        if let Some(node) = &end.node
            && run.node.as_deref() != Some(node.as_str())
        {
            failures.push(format!(
                "run {n}: expected to end at `{node}`, got {}",
                run.node.as_deref().unwrap_or("nothing")
            ));
        }
        if let Some(by) = &end.by {
            match (parse_duration(by), run.ended_at) {
                (Err(e), _) => failures.push(format!("run {n}: end.by: {e}")),
                (Ok(_), None) => failures.push(format!("run {n}: expected to end by {by}, still {:?}", run.status)),
                (Ok(d), Some(t)) if t - sim.start > d => failures
                    .push(format!("run {n}: expected to end by {by}, ended at {}", format_duration(t - sim.start))),
                _ => {}
            }
        }
    }
    if let Some(converted) = want.converted
        && converted != run.converted_at.is_some()
    {
        failures.push(format!("run {n}: expected converted = {converted}, got {}", run.converted_at.is_some()));
    }
    if let Some(variant) = &want.variant {
        let got = entries().find_map(|m| match &m.entry.what {
            What::Variant { variant, .. } => Some(variant.clone()),
            _ => None,
        });
        if got.as_deref() != Some(variant.as_str()) {
            failures
                .push(format!("run {n}: expected variant `{variant}`, got {}", got.unwrap_or_else(|| "none".into())));
        }
    }
}

/// The timeline as people read it, one line per entry.
pub fn render_timeline(sim: &Simulation) -> String {
    let mut out = String::new();
    for m in &sim.timeline {
        let node = m.entry.node.as_deref().unwrap_or("");
        let what = describe(&m.entry.what, sim.start);
        out.push_str(&format!("{:>10}  run {}  {node:<22} {what}\n", format!("+{}", m.offset), m.run));
    }
    out
}

/// One timeline entry in words, with the values a decision compared; times are shown
/// as offsets from `start`.
pub fn describe(what: &What, start: chrono::DateTime<chrono::Utc>) -> String {
    match what {
        What::Entered { trigger, correlation } => match correlation {
            Some(c) => format!("entered on `{trigger}` (correlation {c})"),
            None => format!("entered on `{trigger}`"),
        },
        What::NodeEntered { node_type } => format!("→ {node_type}"),
        What::Decision { port, compared } => {
            let values: Vec<String> = compared
                .iter()
                .map(|c| {
                    let show = |v: &Option<Value>| v.as_ref().map_or("missing".to_string(), ToString::to_string);
                    format!("{} ({}) {:?} {} → {}", c.left, show(&c.left_value), c.op, show(&c.right_value), c.result)
                })
                .collect();
            format!("took `{port}` [{}]", values.join("; "))
        }
        What::Variant { variant, holdout } => {
            format!("assigned variant `{variant}`{}", if *holdout { " (holdout)" } else { "" })
        }
        What::WaitingUntil { until } => format!("waits until +{}", format_duration(*until - start)),
        What::WaitingForEvent { event, timeout_at } => {
            format!("waits for `{event}` until +{}", format_duration(*timeout_at - start))
        }
        What::NoWait { reason } => format!("no wait: {reason}"),
        What::EventReceived { event } => format!("received `{event}`"),
        What::TimedOut { event } => format!("timed out waiting for `{event}`"),
        What::Sent { key, channel } => format!("sent {} ({key})", channel_name(*channel)),
        What::WaitingForDelivery { key } => format!("waits for the delivery of {key}"),
        What::Delivered { key, status, saved } => {
            let mut s = format!("delivered {key}");
            if let Some(code) = status {
                s.push_str(&format!(" (HTTP {code})"));
            }
            if !saved.is_empty() {
                s.push_str(&format!(", saved {}", saved.join(", ")));
            }
            s
        }
        What::SendSkipped { reason } => format!("skipped send: {reason}"),
        What::QuietHours { channel, until, timezone, skipped } => {
            let when = until.with_timezone(&timezone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::UTC));
            let local = when.format("%H:%M %Z");
            if *skipped {
                format!(
                    "skipped {}: quiet hours until {local} (+{})",
                    channel_name(*channel),
                    format_duration(*until - start)
                )
            } else {
                format!(
                    "{} waits for the end of quiet hours at {local} (+{})",
                    channel_name(*channel),
                    format_duration(*until - start)
                )
            }
        }
        What::FrequencyCapped { channel, max, period, until, skipped } => {
            let cap = format!("at most {max} {} per {period}", channel_name(*channel));
            if *skipped {
                format!("skipped {}: frequency cap ({cap})", channel_name(*channel))
            } else {
                format!("{} capped ({cap}): waits until +{}", channel_name(*channel), format_duration(*until - start))
            }
        }
        What::DeliveryFailed { key, channel, attempts, error } => {
            format!("delivery of {} ({key}) failed after {attempts} attempts: {error}", channel_name(*channel))
        }
        What::DeliveryUnknown { key, channel, attempts, error } => {
            format!("delivery of {} ({key}) is unknown after {attempts} attempts: {error}", channel_name(*channel))
        }
        What::DeliverySkipped { key, channel, reason } => {
            format!("delivery of {} ({key}) skipped: {reason}", channel_name(*channel))
        }
        What::ContactUpdated { changes } => {
            format!("updated contact {}", serde_json::to_string(changes).unwrap_or_default())
        }
        What::Converted { event } => match event {
            Some(e) => format!("converted (goal `{e}`)"),
            None => "converted (goal condition)".into(),
        },
        What::Completed => "completed".into(),
        What::Exited { reason } => format!("exited: {}", serde_json::to_string(reason).unwrap_or_default()),
    }
}
