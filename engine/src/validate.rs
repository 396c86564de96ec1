//! Validation: from JSON text to a runnable [`Journey`], reporting every problem at once.
//!
//! 1. The text must be JSON (problems carry line and column).
//! 2. Each top-level field and each node is deserialized on its own, so one bad node
//!    does not hide the problems of the others; each error keeps its JSON pointer.
//! 3. Semantic checks run on everything that parsed: ids, ports, reachability, loops
//!    without a wait, durations, time zones, templates, conditions, split weights.

use crate::journey::{Journey, Runtime};
use crate::library::Library;
use crate::nodes::trigger::{
    self, ApiTrigger, AttributeTrigger, DateTrigger, EventTrigger, ScheduleTrigger, SegmentTrigger, StageTrigger,
    Trigger,
};
use crate::nodes::{Build, NODE_TYPES, Node, PORT_FIELDS};
use crate::pressure::JourneyRules;
use crate::problem::{Kind, Problem, join_pointer};
use crate::template::Templates;
use crate::time::parse_timezone;
use crate::workflow::{Goal, Position, Settings, Workflow};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Fields of a journey file, in canonical order.
const TOP_LEVEL: &[&str] = &["$schema", "id", "name", "description", "trigger", "settings", "nodes", "layout"];
const REQUIRED: &[&str] = &["id", "name", "trigger", "nodes"];

/// Most nodes a journey may have.
pub const MAX_NODES: usize = 500;

/// Validate JSON text and build the runnable journey, with no template library: a
/// journey that uses library templates or partials needs [`validate_in`].
pub fn validate(text: &str) -> Result<Journey, Vec<Problem>> {
    validate_in(text, &Library::new())
}

/// Validate JSON text and build the runnable journey against a template library.
pub fn validate_in(text: &str, library: &Library) -> Result<Journey, Vec<Problem>> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => validate_value_in(value, library),
        Err(e) => Err(vec![malformed(&e)]),
    }
}

/// Build a version published before, with the template versions it pinned: the checks
/// publishing made are not made again (a render against a sample contact added by a
/// later Kairos must not stop runs already going).
pub fn validate_published(text: &str, library: &Library) -> Result<Journey, Vec<Problem>> {
    let value = serde_json::from_str::<Value>(text).map_err(|e| vec![malformed(&e)])?;
    let mut problems = Vec::new();
    let parts = parse_parts(value, &mut problems);
    let journey = check_with(parts, library, false, &mut problems);
    match journey {
        Some(j) if problems.is_empty() => Ok(j),
        _ => Err(sorted(problems)),
    }
}

/// Validate an already-parsed JSON document (the API's request body), with no template library.
pub fn validate_value(value: Value) -> Result<Journey, Vec<Problem>> {
    validate_value_in(value, &Library::new())
}

/// Validate an already-parsed JSON document against a template library.
pub fn validate_value_in(value: Value, library: &Library) -> Result<Journey, Vec<Problem>> {
    let mut problems = Vec::new();
    let parts = parse_parts(value, &mut problems);
    let journey = check(parts, library, &mut problems);
    match journey {
        Some(j) if problems.is_empty() => Ok(j),
        _ => Err(sorted(problems)),
    }
}

/// Problems in document order: by pointer, with list indices compared as numbers.
fn sorted(mut problems: Vec<Problem>) -> Vec<Problem> {
    fn key(pointer: &str) -> Vec<(usize, u64, String)> {
        let rank = |s: &str| TOP_LEVEL.iter().position(|k| *k == s).unwrap_or(TOP_LEVEL.len());
        pointer
            .split('/')
            .skip(1)
            .enumerate()
            .map(|(depth, seg)| match seg.parse::<u64>() {
                Ok(n) => (0, n, String::new()),
                Err(_) if depth == 0 => (1, rank(seg) as u64, seg.to_string()),
                Err(_) => (1, 0, seg.to_string()),
            })
            .collect()
    }
    problems.sort_by_cached_key(|p| key(&p.pointer));
    problems
}

/// Read the structure only (no semantic checks): what `kairos fmt` needs to rewrite a
/// file that is still being worked on.
pub fn parse(text: &str) -> Result<Workflow, Vec<Problem>> {
    let value = serde_json::from_str::<Value>(text).map_err(|e| vec![malformed(&e)])?;
    let mut problems = Vec::new();
    let p = parse_parts(value, &mut problems);
    if !problems.is_empty() || !p.opaque.is_empty() {
        return Err(problems);
    }
    match (p.id, p.name, p.trigger, p.settings, p.layout) {
        (Some(id), Some(name), Some(trigger), Some(settings), Some(layout)) => Ok(Workflow {
            schema: p.schema,
            id,
            name,
            description: p.description,
            trigger,
            settings,
            nodes: p.nodes,
            layout,
        }),
        _ => Err(problems),
    }
}

/// Build a journey from typed definitions (all structural checks already passed).
pub fn compile(workflow: Workflow, library: &Library) -> Result<Journey, Vec<Problem>> {
    let mut problems = Vec::new();
    let parts = Parts {
        schema: workflow.schema,
        id: Some(workflow.id),
        name: Some(workflow.name),
        description: workflow.description,
        trigger: Some(workflow.trigger),
        settings: Some(workflow.settings),
        settings_given: true,
        positions: (0..workflow.nodes.len()).collect(),
        nodes: workflow.nodes,
        opaque: HashSet::new(),
        layout: Some(workflow.layout),
    };
    match check(parts, library, &mut problems) {
        Some(j) if problems.is_empty() => Ok(j),
        _ => Err(sorted(problems)),
    }
}

pub(crate) fn malformed(e: &serde_json::Error) -> Problem {
    let what = e.to_string();
    let message = match what.find(" at line ") {
        Some(i) => what[..i].to_string(),
        None => what,
    };
    let mut p = Problem::new(Kind::MalformedJson, "", format!("the file is not valid JSON: {message}"));
    p.line = Some(e.line());
    p.column = Some(e.column());
    p
}

/// What could be read of a document; `None` where the field had problems.
struct Parts {
    schema: Option<String>,
    id: Option<String>,
    name: Option<String>,
    description: String,
    trigger: Option<Trigger>,
    settings: Option<Settings>,
    /// Whether the document has `settings` (absent: the defaults).
    settings_given: bool,
    /// Nodes that parsed, in document order.
    nodes: Vec<Node>,
    /// Each parsed node's index in the document's `nodes` array (for pointers).
    positions: Vec<usize>,
    /// Ids of nodes that did not parse: ports may point at them, but they are not checked further.
    opaque: HashSet<String>,
    layout: Option<BTreeMap<String, Position>>,
}

fn field<T: DeserializeOwned>(
    value: Value,
    pointer: &str,
    node: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| problems.push(serde_problem(pointer, node, e))).ok()
}

/// Turn a serde error into a problem with a pointer below `base`.
pub(crate) fn serde_problem(
    base: &str,
    node: Option<&str>,
    e: serde_path_to_error::Error<serde_json::Error>,
) -> Problem {
    let pointer = crate::problem::path_pointer(base, e.path());
    let inner = e.inner().to_string();
    let inner = match inner.find(" at line ") {
        Some(i) => inner[..i].to_string(),
        None => inner,
    };
    let mut pointer = pointer;
    let (kind, message) = if inner.starts_with("unknown field") {
        (Kind::UnknownField, format!("{inner}; remove it or check its spelling"))
    } else if let Some(rest) = inner.strip_prefix("missing field `") {
        let name = rest.trim_end_matches('`');
        pointer = join_pointer(&pointer, name);
        if PORT_FIELDS.contains(&name) {
            (
                Kind::MissingPort,
                format!("the `{name}` port is not connected; connect it to the node that should come next"),
            )
        } else {
            (Kind::MissingField, format!("the required field `{name}` is missing"))
        }
    } else {
        (Kind::InvalidValue, inner)
    };
    let mut p = Problem::new(kind, pointer, message);
    p.node = node.map(str::to_string);
    p
}

fn parse_parts(value: Value, problems: &mut Vec<Problem>) -> Parts {
    let mut parts = Parts {
        schema: None,
        id: None,
        name: None,
        description: String::new(),
        trigger: None,
        settings: None,
        settings_given: false,
        nodes: Vec::new(),
        positions: Vec::new(),
        opaque: HashSet::new(),
        layout: None,
    };
    let Value::Object(mut doc) = value else {
        problems.push(Problem::new(
            Kind::InvalidValue,
            "",
            "a journey file must be a JSON object with `id`, `name`, `trigger` and `nodes`",
        ));
        return parts;
    };
    for key in doc.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            problems.push(Problem::new(
                Kind::UnknownField,
                join_pointer("", key),
                format!(
                    "unknown field `{key}`; a journey has {}",
                    TOP_LEVEL.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    for key in REQUIRED {
        if !doc.contains_key(*key) {
            problems.push(Problem::new(
                Kind::MissingField,
                join_pointer("", key),
                format!("the required field `{key}` is missing"),
            ));
        }
    }
    if let Some(v) = doc.remove("$schema") {
        parts.schema = field(v, "/$schema", None, problems);
    }
    if let Some(v) = doc.remove("id") {
        parts.id = field(v, "/id", None, problems);
    }
    if let Some(v) = doc.remove("name") {
        parts.name = field(v, "/name", None, problems);
    }
    if let Some(v) = doc.remove("description") {
        parts.description = field(v, "/description", None, problems).unwrap_or_default();
    }
    if let Some(v) = doc.remove("trigger") {
        parts.trigger = parse_trigger(v, problems);
    }
    parts.settings_given = doc.contains_key("settings");
    parts.settings = match doc.remove("settings") {
        Some(v) => field(v, "/settings", None, problems),
        None => Some(Settings::default()),
    };
    parts.layout = match doc.remove("layout") {
        Some(v) => field(v, "/layout", None, problems),
        None => Some(BTreeMap::new()),
    };
    match doc.remove("nodes") {
        Some(Value::Array(items)) => {
            if items.len() > MAX_NODES {
                problems.push(Problem::new(
                    Kind::InvalidValue,
                    "/nodes",
                    format!("a journey may have at most {MAX_NODES} nodes; this one has {}", items.len()),
                ));
            }
            for (i, item) in items.into_iter().enumerate().take(MAX_NODES) {
                parse_node(i, item, &mut parts, problems);
            }
        }
        Some(_) => problems.push(Problem::new(Kind::InvalidValue, "/nodes", "`nodes` must be a list (array) of nodes")),
        None => {}
    }
    parts
}

fn parse_trigger(value: Value, problems: &mut Vec<Problem>) -> Option<Trigger> {
    let Value::Object(mut fields) = value else {
        problems.push(Problem::new(Kind::InvalidValue, "/trigger", "the trigger must be an object such as `{\"type\": \"event\", \"event\": \"signed_up\", \"next\": \"...\"}`"));
        return None;
    };
    let kind = type_of(&mut fields, "/trigger", None, problems)?;
    match kind.as_str() {
        "event" => field::<EventTrigger>(Value::Object(fields), "/trigger", None, problems).map(Trigger::Event),
        "api" => field::<ApiTrigger>(Value::Object(fields), "/trigger", None, problems).map(Trigger::Api),
        "segment_entered" => {
            field::<SegmentTrigger>(Value::Object(fields), "/trigger", None, problems).map(Trigger::SegmentEntered)
        }
        "segment_exited" => {
            field::<SegmentTrigger>(Value::Object(fields), "/trigger", None, problems).map(Trigger::SegmentExited)
        }
        "schedule" => {
            field::<ScheduleTrigger>(Value::Object(fields), "/trigger", None, problems).map(Trigger::Schedule)
        }
        "date_property" => {
            field::<DateTrigger>(Value::Object(fields), "/trigger", None, problems).map(Trigger::DateProperty)
        }
        "attribute_changed" => {
            field::<AttributeTrigger>(Value::Object(fields), "/trigger", None, problems).map(Trigger::AttributeChanged)
        }
        "stage_changed" => {
            field::<StageTrigger>(Value::Object(fields), "/trigger", None, problems).map(Trigger::StageChanged)
        }
        other => {
            problems.push(Problem::new(
                Kind::InvalidValue,
                "/trigger/type",
                format!(
                    "`{other}` is not a trigger type; expected one of {}",
                    trigger::TYPES.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
                ),
            ));
            None
        }
    }
}

/// Take the `type` field out of an object, reporting when it is missing or not a string.
fn type_of(
    fields: &mut Map<String, Value>,
    pointer: &str,
    node: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let problem = |kind, at: String, msg: String| {
        let mut p = Problem::new(kind, at, msg);
        p.node = node.map(str::to_string);
        p
    };
    match fields.remove("type") {
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            problems.push(problem(Kind::InvalidValue, format!("{pointer}/type"), "`type` must be a string".into()));
            None
        }
        None => {
            problems.push(problem(
                Kind::MissingField,
                format!("{pointer}/type"),
                "the required field `type` is missing".into(),
            ));
            None
        }
    }
}

fn parse_node(i: usize, item: Value, parts: &mut Parts, problems: &mut Vec<Problem>) {
    let pointer = format!("/nodes/{i}");
    let Value::Object(mut fields) = item else {
        problems.push(Problem::new(
            Kind::InvalidValue,
            pointer,
            "a node must be an object with `id`, `type` and its fields",
        ));
        return;
    };
    let id = fields.get("id").and_then(Value::as_str).map(str::to_string);
    let Some(kind) = type_of(&mut fields, &pointer, id.as_deref(), problems) else {
        parts.opaque.extend(id);
        return;
    };
    match Node::from_fields(&kind, Value::Object(fields)) {
        Some(Ok(node)) => {
            parts.nodes.push(node);
            parts.positions.push(i);
        }
        Some(Err(e)) => {
            problems.push(serde_problem(&pointer, id.as_deref(), e));
            parts.opaque.extend(id);
        }
        None => {
            let mut p = Problem::new(
                Kind::UnknownNodeType,
                format!("{pointer}/type"),
                format!("`{kind}` is not a node type; expected one of {}", NODE_TYPES.join(", ")),
            );
            p.node = id.clone();
            problems.push(p);
            parts.opaque.extend(id);
        }
    }
}

/// A slug: starts with a lowercase letter or digit; then lowercase letters, digits, `_`, `-`; at most 64.
pub fn is_slug(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn check(parts: Parts, library: &Library, problems: &mut Vec<Problem>) -> Option<Journey> {
    check_with(parts, library, true, problems)
}

fn check_with(parts: Parts, library: &Library, sample_render: bool, problems: &mut Vec<Problem>) -> Option<Journey> {
    if let Some(id) = &parts.id
        && !is_slug(id)
    {
        problems.push(Problem::new(Kind::InvalidId, "/id", format!("`{id}` is not a valid journey id; use lowercase letters, digits, `-` and `_` (at most 64), e.g. `abandoned-cart`")));
    }
    if let Some(name) = &parts.name
        && name.trim().is_empty()
    {
        problems.push(Problem::new(
            Kind::InvalidValue,
            "/name",
            "the name is empty; give the journey a name people will recognise",
        ));
    }
    if let Some(t) = &parts.trigger {
        t.build(&mut Build::new("/trigger", None, problems));
        let reentry = parts.settings.as_ref().map(|s| s.reentry).unwrap_or_default();
        let repeating = match t {
            Trigger::Schedule(_) => Some("a schedule enters its segment's members at every tick"),
            Trigger::DateProperty(d) if d.repeat == trigger::Repeat::Yearly => {
                Some("a yearly date trigger enters the contact every year")
            }
            _ => None,
        };
        if let (Some(why), crate::workflow::Reentry::Once) = (repeating, reentry) {
            // `reentry` is usually left out (the default): the problem points where it belongs.
            let at = if parts.settings_given { "/settings/reentry" } else { "/settings" };
            problems.push(Problem::new(
                Kind::MissingField,
                at,
                format!(
                    "{why}, but `reentry` is `once` (the default), so each contact would only ever get the first; \
                     set `\"reentry\": \"after_exit\"` (or `always`){}",
                    if matches!(t, Trigger::DateProperty(_)) {
                        ", or make the trigger `\"repeat\": \"once\"`"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    let timezone = parts.settings.as_ref().and_then(|s| check_settings(s, problems));
    let goal_window = parts.settings.as_ref().and_then(|s| goal_window(s, problems));
    let delivery = parts
        .settings
        .as_ref()
        .map(|s| JourneyRules::build(&s.quiet_hours, s.frequency_caps, timezone, problems))
        .unwrap_or_default();

    // Node ids: valid, unique, not the reserved `trigger`.
    let mut index = HashMap::new();
    for (i, node) in parts.nodes.iter().enumerate() {
        let id = node.id();
        let at = format!("/nodes/{}/id", parts.positions[i]);
        if !is_slug(id) {
            problems.push(
                Problem::new(
                    Kind::InvalidId,
                    at.clone(),
                    format!(
                        "`{id}` is not a valid node id; use lowercase letters, digits, `_` and `-`, e.g. `send_welcome`"
                    ),
                )
                .at_node(id),
            );
        } else if id == "trigger" {
            problems.push(
                Problem::new(
                    Kind::InvalidId,
                    at.clone(),
                    "`trigger` is reserved for the journey's trigger; choose another id",
                )
                .at_node(id),
            );
        }
        // The first node with an id keeps it, so ports and reachability stay meaningful.
        if index.contains_key(id) || parts.opaque.contains(id) {
            problems.push(
                Problem::new(
                    Kind::InvalidId,
                    at,
                    format!("the id `{id}` is used by more than one node; ids must be unique"),
                )
                .at_node(id),
            );
        } else {
            index.insert(id.to_string(), i);
        }
    }

    // Each node into its runtime form.
    let mut templates = Templates::new(library.clone(), timezone.unwrap_or(chrono_tz::Tz::UTC));
    templates.set_sample_render(sample_render);
    let mut runtime = Vec::with_capacity(parts.nodes.len());
    for (i, node) in parts.nodes.iter().enumerate() {
        let mut cx = Build::new(format!("/nodes/{}", parts.positions[i]), Some(node.id().to_string()), problems);
        runtime.push(match node {
            Node::Delay(n) => n.build(&mut cx).map(Runtime::Delay),
            Node::WaitUntil(n) => n.build(&mut cx).map(Runtime::WaitUntil),
            Node::WaitForEvent(n) => n.build(&mut cx).map(Runtime::WaitForEvent),
            Node::Branch(n) => Some(Runtime::Other).inspect(|_| n.build(&mut cx)),
            Node::Split(n) => Some(Runtime::Other).inspect(|_| n.build(&mut cx)),
            Node::Send(n) => Some(Runtime::Other).inspect(|_| n.build(&mut cx, &mut templates)),
            Node::UpdateContact(n) => Some(Runtime::Other).inspect(|_| n.build(&mut cx)),
            Node::Exit(_) => Some(Runtime::Other),
        });
    }

    check_graph(&parts, &index, &runtime, problems);

    if let Some(layout) = &parts.layout {
        for key in layout.keys() {
            if key != "trigger" && !index.contains_key(key) && !parts.opaque.contains(key) {
                problems.push(Problem::new(
                    Kind::MissingNode,
                    join_pointer("/layout", key),
                    format!("the layout has a position for `{key}`, which is not a node of this journey; remove it"),
                ));
            }
        }
    }

    if !problems.is_empty() {
        return None;
    }
    let workflow = Workflow {
        schema: parts.schema,
        id: parts.id?,
        name: parts.name?,
        description: parts.description,
        trigger: parts.trigger?,
        settings: parts.settings?,
        nodes: parts.nodes,
        layout: parts.layout?,
    };
    let runtime = runtime.into_iter().collect::<Option<Vec<_>>>()?;
    Some(
        Journey::new(workflow, index, runtime, timezone?, templates)
            .with_delivery(delivery)
            .with_goal_window(goal_window),
    )
}

/// The goal's conversion window (`settings.goal.within`): a duration of more than zero.
fn goal_window(settings: &Settings, problems: &mut Vec<Problem>) -> Option<chrono::TimeDelta> {
    let text = settings.goal.as_ref()?.within()?;
    const AT: &str = "/settings/goal/within";
    match crate::time::parse_duration(text) {
        Ok(d) if d > chrono::TimeDelta::zero() => Some(d),
        Ok(_) => {
            problems.push(Problem::new(
                Kind::InvalidDuration,
                AT,
                format!("the goal's conversion window `{text}` is zero; give a duration of more than zero, e.g. `7d`"),
            ));
            None
        }
        Err(e) => {
            problems.push(Problem::new(Kind::InvalidDuration, AT, format!("the goal's conversion window: {e}")));
            None
        }
    }
}

fn check_settings(settings: &Settings, problems: &mut Vec<Problem>) -> Option<chrono_tz::Tz> {
    for (i, m) in settings.exit_when.iter().enumerate() {
        if m.event.trim().is_empty() {
            problems.push(Problem::new(
                Kind::InvalidValue,
                format!("/settings/exit_when/{i}/event"),
                "the event name is empty",
            ));
        }
        if let Some(c) = &m.conditions {
            problems.extend(c.check(&format!("/settings/exit_when/{i}/conditions")));
        }
    }
    match &settings.goal {
        Some(Goal::Event { event, conditions, .. }) => {
            if event.trim().is_empty() {
                problems.push(Problem::new(
                    Kind::InvalidValue,
                    "/settings/goal/event",
                    "the goal's event name is empty",
                ));
            }
            if let Some(c) = conditions {
                problems.extend(c.check("/settings/goal/conditions"));
            }
        }
        Some(Goal::Condition { condition, .. }) => problems.extend(condition.check("/settings/goal/condition")),
        None => {}
    }
    parse_timezone(&settings.timezone)
        .map_err(|e| problems.push(Problem::new(Kind::InvalidTimezone, "/settings/timezone", e)))
        .ok()
}

fn check_graph(
    parts: &Parts,
    index: &HashMap<String, usize>,
    runtime: &[Option<Runtime>],
    problems: &mut Vec<Problem>,
) {
    let exists = |id: &str| index.contains_key(id) || parts.opaque.contains(id);
    if let Some(t) = &parts.trigger
        && !exists(t.next())
    {
        problems.push(Problem::new(
            Kind::MissingNode,
            "/trigger/next",
            format!("the trigger's `next` points at `{}`, which is not a node of this journey", t.next()),
        ));
    }
    // Edges by node index; ports to unknown ids are reported and dropped.
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); parts.nodes.len()];
    for (i, node) in parts.nodes.iter().enumerate() {
        for port in node.ports() {
            match index.get(port.target) {
                Some(&j) => edges[i].push(j),
                None if parts.opaque.contains(port.target) => {}
                None => problems.push(
                    Problem::new(
                        Kind::MissingNode,
                        format!("/nodes/{}/{}", parts.positions[i], port.path),
                        format!(
                            "the `{}` port points at `{}`, which is not a node of this journey",
                            port.name, port.target
                        ),
                    )
                    .at_node(node.id()),
                ),
            }
        }
    }

    // Reachability, only when the whole graph is known.
    if let Some(t) = &parts.trigger
        && parts.opaque.is_empty()
    {
        let mut seen = vec![false; parts.nodes.len()];
        let mut stack: Vec<usize> = index.get(t.next()).copied().into_iter().collect();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend(edges[i].iter().copied());
            }
        }
        for (i, node) in parts.nodes.iter().enumerate() {
            if !seen[i] && index.get(node.id()) == Some(&i) {
                problems.push(
                    Problem::new(
                        Kind::Unreachable,
                        format!("/nodes/{}", parts.positions[i]),
                        "no path from the trigger leads to this node; connect it or delete it",
                    )
                    .at_node(node.id()),
                );
            }
        }
    }

    // Loops that contain no real wait would spin forever in an instant.
    let waits = |i: usize| match (&parts.nodes[i], &runtime[i]) {
        (Node::Delay(_), Some(Runtime::Delay(d))) => *d > chrono::TimeDelta::zero(),
        (Node::Delay(_), None) => true, // already reported; don't pile on
        (Node::WaitForEvent(_), _) => true,
        _ => false,
    };
    let instant: Vec<Vec<usize>> = edges
        .iter()
        .enumerate()
        .map(|(i, out)| if waits(i) { vec![] } else { out.iter().copied().filter(|&j| !waits(j)).collect() })
        .collect();
    for component in strongly_connected(&instant) {
        let looped = component.len() > 1 || instant[component[0]].contains(&component[0]);
        if looped {
            let first = *component.iter().min().expect("components are not empty");
            let mut names: Vec<&str> = component.iter().map(|&i| parts.nodes[i].id()).collect();
            names.sort_unstable();
            problems.push(
                Problem::new(
                    Kind::InstantLoop,
                    format!("/nodes/{}", parts.positions[first]),
                    format!("the nodes {} form a loop with no delay or wait for an event, so a contact would cycle forever; add a delay to the loop", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
                )
                .at_node(parts.nodes[first].id()),
            );
        }
    }
}

/// Tarjan's strongly connected components (iterative), each as a list of node indices.
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let (mut index, mut low, mut on_stack) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
    let (mut stack, mut out, mut next) = (Vec::new(), Vec::new(), 0);
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(&(v, child)) = call.last() {
            if index[v] == usize::MAX {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges[v].get(child) {
                if let Some(top) = call.last_mut() {
                    top.1 += 1;
                }
                if index[w] == usize::MAX {
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            call.pop();
            if let Some(&(parent, _)) = call.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(component);
            }
        }
    }
    out
}
