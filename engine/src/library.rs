//! The template library: reusable message templates, partials and layouts that send
//! nodes reference, in git as `workflows/templates/<id>.json` and on a server under
//! `/v1/templates`, where every save is a new immutable version.
//!
//! - A **message** template is a whole message for one channel (email, SMS or push). A
//!   send node uses it with `"message": {"channel": "email", "template": "welcome"}`.
//! - A **partial** is a snippet inserted with `{{> footer}}` into any template field.
//! - A **layout** wraps an email's HTML body: it holds `{{> @partial-block}}` where the
//!   body goes, and a body uses it with handlebars' partial blocks,
//!   `{{#> brand}}<p>Hi</p>{{/brand}}` (or, in an email message template, `"layout": "brand"`).
//!
//! A [`Library`] is the set of templates a journey is checked and rendered against: the
//! files beside it for the command line, the latest versions when a server publishes, and
//! the versions pinned at publish when a published journey runs.

use crate::problem::{Kind, Problem, join_pointer};
use crate::validate::{is_slug, malformed, serde_problem};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The `$schema` value of template files, relative to `workflows/templates/`.
pub const SCHEMA_REF: &str = "../template.schema.json";

/// Fields of a template file, in canonical order.
const TOP_LEVEL: &[&str] = &["$schema", "id", "name", "description", "kind", "message", "content"];
const REQUIRED: &[&str] = &["id", "name", "kind"];

/// Longest template text accepted (per field), in bytes.
pub const MAX_FIELD_BYTES: usize = 256 * 1024;

/// A template of the library: one file `workflows/templates/<id>.json`.
///
/// ```json
/// { "$schema": "../template.schema.json", "id": "footer", "name": "Email footer", "kind": "partial",
///   "content": "<p>You get this because you signed up at example.com.</p>" }
/// ```
///
/// A `message` template carries `message` (its channel and texts); a `partial` or a
/// `layout` carries `content`. Every text is a handlebars template over `contact`,
/// `trigger`, `event` and `journey`, like a send node's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = kind_needs_its_field)]
pub struct TemplateFile {
    /// Path or URL of the JSON Schema, for editor autocompletion.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Stable slug the send nodes and other templates use (lowercase letters, digits, `-`,
    /// `_`), e.g. `welcome`; the file is `templates/<id>.json`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the template is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What the template is: a whole `message`, a `partial` (`{{> id}}`) or an email `layout` (`{{#> id}}…{{/id}}`).
    pub kind: TemplateKind,
    /// The message, for a `message` template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageContent>,
    /// The handlebars text of a `partial` or a `layout`. A layout puts the body it wraps
    /// where it says `{{> @partial-block}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// The JSON Schema says which of `message` and `content` each kind needs.
fn kind_needs_its_field(schema: &mut schemars::Schema) {
    schema.insert(
        "oneOf".into(),
        serde_json::json!([
            { "properties": { "kind": { "const": "message" } }, "required": ["message"], "not": { "required": ["content"] } },
            { "properties": { "kind": { "enum": ["partial", "layout"] } }, "required": ["content"], "not": { "required": ["message"] } }
        ]),
    );
}

/// What a template is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateKind {
    /// A whole message for one channel, used by send nodes.
    Message,
    /// A snippet inserted with `{{> id}}`, e.g. a shared email footer.
    Partial,
    /// An email layout wrapping a body: `{{#> id}}<p>body</p>{{/id}}`.
    Layout,
}

impl TemplateKind {
    pub fn name(self) -> &'static str {
        match self {
            TemplateKind::Message => "message",
            TemplateKind::Partial => "partial",
            TemplateKind::Layout => "layout",
        }
    }
}

/// The message of a `message` template, by channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "channel", rename_all = "snake_case", deny_unknown_fields)]
pub enum MessageContent {
    /// An email.
    Email {
        /// Subject line (template).
        subject: String,
        /// HTML body (template; inserted values are HTML-escaped, use `{{{ }}}` for raw HTML).
        body: String,
        /// Plain-text body (template) sent beside the HTML.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Sender address (template); the channel default when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        /// Reply-to address (template).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        /// A `layout` template of the library that wraps the body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        layout: Option<String>,
    },
    /// A text message.
    Sms {
        /// Text (template).
        body: String,
    },
    /// A push notification.
    Push {
        /// Title (template).
        title: String,
        /// Text (template).
        body: String,
        /// Link opened on tap (template).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
}

impl MessageContent {
    pub fn channel(&self) -> crate::nodes::send::Channel {
        use crate::nodes::send::Channel;
        match self {
            MessageContent::Email { .. } => Channel::Email,
            MessageContent::Sms { .. } => Channel::Sms,
            MessageContent::Push { .. } => Channel::Push,
        }
    }

    /// Every text field: (pointer below `message`, source), required ones first.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        match self {
            MessageContent::Email { subject, body, text, from, reply_to, .. } => {
                out.push(("subject", subject.as_str()));
                out.push(("body", body.as_str()));
                out.extend(text.as_deref().map(|t| ("text", t)));
                out.extend(from.as_deref().map(|t| ("from", t)));
                out.extend(reply_to.as_deref().map(|t| ("reply_to", t)));
            }
            MessageContent::Sms { body } => out.push(("body", body.as_str())),
            MessageContent::Push { title, body, url } => {
                out.push(("title", title.as_str()));
                out.push(("body", body.as_str()));
                out.extend(url.as_deref().map(|t| ("url", t)));
            }
        }
        out
    }
}

/// What a checked template holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Message(MessageContent),
    Partial(String),
    Layout(String),
}

/// A template that passed [`validate`], possibly a stored version.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The stored version (1, 2, …); `None` for a file, which has no versions.
    pub version: Option<u32>,
    pub body: Body,
}

impl Template {
    pub fn kind(&self) -> TemplateKind {
        match self.body {
            Body::Message(_) => TemplateKind::Message,
            Body::Partial(_) => TemplateKind::Partial,
            Body::Layout(_) => TemplateKind::Layout,
        }
    }

    /// `welcome` or `welcome` v3, for messages.
    pub fn label(&self) -> String {
        match self.version {
            Some(v) => format!("`{}` (version {v})", self.id),
            None => format!("`{}`", self.id),
        }
    }

    /// The template as a file (`$schema` set to [`SCHEMA_REF`]).
    pub fn to_file(&self) -> TemplateFile {
        let (message, content) = match &self.body {
            Body::Message(m) => (Some(m.clone()), None),
            Body::Partial(c) | Body::Layout(c) => (None, Some(c.clone())),
        };
        TemplateFile {
            schema: Some(SCHEMA_REF.into()),
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            kind: self.kind(),
            message,
            content,
        }
    }

    /// The template's document without `$schema`: what a server stores as a version.
    pub fn to_document(&self) -> String {
        let mut file = self.to_file();
        file.schema = None;
        file.to_canonical()
    }

    /// Every text field: (JSON pointer in the file, source).
    pub fn fields(&self) -> Vec<(String, &str)> {
        match &self.body {
            Body::Message(m) => m.fields().into_iter().map(|(f, s)| (format!("/message/{f}"), s)).collect(),
            Body::Partial(c) | Body::Layout(c) => vec![("/content".to_string(), c.as_str())],
        }
    }
}

impl TemplateFile {
    /// The canonical bytes: keys in the format's order, two-space indentation, a trailing newline.
    pub fn to_canonical(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).expect("a template always serializes");
        out.push('\n');
        out
    }
}

/// Read a template file's structure only (what `kairos fmt` needs).
pub fn parse(text: &str) -> Result<TemplateFile, Vec<Problem>> {
    let value = serde_json::from_str::<Value>(text).map_err(|e| vec![malformed(&e)])?;
    parse_value(value)
}

/// [`parse`] for an already-parsed document (an API body): every structural problem at once.
pub fn parse_value(value: Value) -> Result<TemplateFile, Vec<Problem>> {
    let mut problems = Vec::new();
    let Value::Object(mut doc) = value else {
        return Err(vec![Problem::new(
            Kind::InvalidValue,
            "",
            "a template must be a JSON object with `id`, `name`, `kind` and its `message` or `content`",
        )]);
    };
    for key in doc.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            problems.push(Problem::new(
                Kind::UnknownField,
                join_pointer("", key),
                format!(
                    "unknown field `{key}`; a template has {}",
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
    fn field<T: DeserializeOwned>(
        doc: &mut serde_json::Map<String, Value>,
        key: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<T> {
        let v = doc.remove(key)?;
        serde_path_to_error::deserialize::<_, T>(v)
            .map_err(|e| problems.push(serde_problem(&join_pointer("", key), None, e)))
            .ok()
    }
    let schema = field::<String>(&mut doc, "$schema", &mut problems);
    let id = field::<String>(&mut doc, "id", &mut problems);
    let name = field::<String>(&mut doc, "name", &mut problems);
    let description = field::<String>(&mut doc, "description", &mut problems).unwrap_or_default();
    let kind = field::<TemplateKind>(&mut doc, "kind", &mut problems);
    let message = field::<MessageContent>(&mut doc, "message", &mut problems);
    let content = field::<String>(&mut doc, "content", &mut problems);
    let had = |k: &str, p: &[Problem]| p.iter().any(|p| p.pointer.starts_with(&format!("/{k}")));
    match kind {
        Some(TemplateKind::Message) => {
            if message.is_none() && !had("message", &problems) {
                problems.push(Problem::new(
                    Kind::MissingField,
                    "/message",
                    "a `message` template needs `message`: its `channel` (`email`, `sms` or `push`) and texts",
                ));
            }
            if content.is_some() {
                problems.push(Problem::new(
                    Kind::UnknownField,
                    "/content",
                    "a `message` template has no `content`; its texts go in `message`",
                ));
            }
        }
        Some(k @ (TemplateKind::Partial | TemplateKind::Layout)) => {
            if content.is_none() && !had("content", &problems) {
                problems.push(Problem::new(
                    Kind::MissingField,
                    "/content",
                    format!("a `{}` template needs `content`: its handlebars text", k.name()),
                ));
            }
            if message.is_some() {
                problems.push(Problem::new(
                    Kind::UnknownField,
                    "/message",
                    format!("a `{}` template has no `message`; its text goes in `content`", k.name()),
                ));
            }
        }
        None => {}
    }
    match (id, name, kind) {
        (Some(id), Some(name), Some(kind)) if problems.is_empty() => {
            Ok(TemplateFile { schema, id, name, description, kind, message, content })
        }
        _ => Err(problems),
    }
}

/// Check a template file on its own: its structure, its id and name, that every text
/// compiles and renders (helpers used correctly), and that a layout has a place for the
/// body. Partials and layouts it uses are not looked up: [`Library::check`] does that
/// where the whole library is known.
pub fn validate(text: &str) -> Result<Template, Vec<Problem>> {
    let value = serde_json::from_str::<Value>(text).map_err(|e| vec![malformed(&e)])?;
    validate_value(value)
}

/// [`validate`] for an already-parsed document (an API body).
pub fn validate_value(value: Value) -> Result<Template, Vec<Problem>> {
    let file = parse_value(value)?;
    let template = check_file(file)?;
    let problems = crate::template::Templates::check_alone(&template);
    if problems.is_empty() { Ok(template) } else { Err(problems) }
}

/// A stored version's document as a template, trusting that it was checked when saved
/// (no handlebars work: loading a library stays cheap).
pub fn from_document(text: &str, version: u32) -> Result<Template, Vec<Problem>> {
    let value = serde_json::from_str::<Value>(text).map_err(|e| vec![malformed(&e)])?;
    let mut template = check_file(parse_value(value)?)?;
    template.version = Some(version);
    Ok(template)
}

/// The template versions a journey document asks for by number
/// (`"message": {"template": "welcome", "version": 3}`), whatever else it holds.
pub fn referenced_versions(journey: &Value) -> Vec<(String, u32)> {
    let nodes = journey.get("nodes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut out: Vec<(String, u32)> = nodes
        .iter()
        .filter_map(|n| {
            let m = n.get("message")?;
            let id = m.get("template")?.as_str()?;
            let v = u32::try_from(m.get("version")?.as_u64()?).ok()?;
            Some((id.to_string(), v))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The semantic checks that need no handlebars: id, name, sizes, the email layout name.
fn check_file(file: TemplateFile) -> Result<Template, Vec<Problem>> {
    let mut problems = Vec::new();
    if !is_slug(&file.id) {
        problems.push(Problem::new(
            Kind::InvalidId,
            "/id",
            format!(
                "`{}` is not a valid template id; use lowercase letters, digits, `-` and `_` (at most 64), e.g. `welcome-email`",
                file.id
            ),
        ));
    }
    if file.name.trim().is_empty() {
        problems.push(Problem::new(
            Kind::InvalidValue,
            "/name",
            "the name is empty; give the template a name people will recognise",
        ));
    }
    let body = match (file.kind, file.message, file.content) {
        (TemplateKind::Message, Some(m), _) => Body::Message(m),
        (TemplateKind::Partial, _, Some(c)) => Body::Partial(c),
        (TemplateKind::Layout, _, Some(c)) => Body::Layout(c),
        (kind, _, _) => {
            let field = if kind == TemplateKind::Message { "/message" } else { "/content" };
            return Err(vec![Problem::new(
                Kind::MissingField,
                field,
                format!("a `{}` template needs `{}`", kind.name(), &field[1..]),
            )]);
        }
    };
    if let Body::Message(MessageContent::Email { layout: Some(layout), .. }) = &body
        && !is_slug(layout)
    {
        problems.push(Problem::new(
            Kind::InvalidValue,
            "/message/layout",
            format!("`{layout}` is not a template id; name a `layout` template of the library, e.g. `brand`"),
        ));
    }
    let template = Template { id: file.id, name: file.name, description: file.description, version: None, body };
    for (pointer, source) in template.fields() {
        if source.len() > MAX_FIELD_BYTES {
            problems.push(Problem::new(
                Kind::InvalidValue,
                pointer.clone(),
                format!("this text is {} bytes; a template field may have at most {MAX_FIELD_BYTES}", source.len()),
            ));
        }
        let required = matches!(pointer.as_str(), "/message/subject" | "/message/body" | "/message/title" | "/content");
        if required && source.trim().is_empty() {
            problems.push(Problem::new(Kind::InvalidValue, pointer, "this field is empty; write the text"));
        }
    }
    if problems.is_empty() { Ok(template) } else { Err(problems) }
}

/// Why a template could not be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// No template with this id.
    Template(String),
    /// The template exists, not this version.
    Version { id: String, version: u32, latest: Option<u32> },
    /// The template's file or stored version has problems of its own.
    Broken { id: String, why: String },
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Template(id) => write!(f, "there is no template `{id}` in the template library"),
            Missing::Version { id, version, latest: Some(latest) } => {
                write!(f, "the template `{id}` has no version {version}; its latest is version {latest}")
            }
            Missing::Version { id, version, latest: None } => write!(f, "the template `{id}` has no version {version}"),
            Missing::Broken { id, why } => write!(f, "the template `{id}` has problems of its own ({why})"),
        }
    }
}

/// What a reference without a version gets.
#[derive(Debug, Clone)]
enum Entry {
    Ok(Arc<Template>),
    Broken(String),
}

/// The templates a journey is checked and rendered against. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Library {
    /// The current template of each id: its file, or its latest (or pinned) version.
    current: BTreeMap<String, Entry>,
    /// Other versions, asked for by number.
    versions: BTreeMap<(String, u32), Arc<Template>>,
}

impl Library {
    pub fn new() -> Library {
        Library::default()
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_empty() && self.versions.is_empty()
    }

    /// Add a template. With a version, the highest version of an id is its current one
    /// (what a reference without `version` gets) and the others stay reachable by number.
    pub fn insert(&mut self, template: Template) {
        let template = Arc::new(template);
        let id = template.id.clone();
        if let Some(v) = template.version {
            self.versions.insert((id.clone(), v), template.clone());
        }
        let newer = match self.current.get(&id) {
            Some(Entry::Ok(t)) => t.version.is_some() && template.version > t.version,
            _ => true,
        };
        if newer {
            self.current.insert(id, Entry::Ok(template));
        }
    }

    /// Record that the template `id` exists but has problems (a file that does not validate).
    pub fn insert_broken(&mut self, id: impl Into<String>, why: impl Into<String>) {
        self.current.insert(id.into(), Entry::Broken(why.into()));
    }

    /// The template `id`: a given version, or the current one. A file stands for every
    /// version of its id (files have no versions; the server checks version numbers).
    pub fn get(&self, id: &str, version: Option<u32>) -> Result<&Template, Missing> {
        let current = match self.current.get(id) {
            Some(Entry::Ok(t)) => Some(t),
            Some(Entry::Broken(why)) if version.is_none() => {
                return Err(Missing::Broken { id: id.to_string(), why: why.clone() });
            }
            _ => None,
        };
        match version {
            None => current.map(|t| t.as_ref()).ok_or_else(|| Missing::Template(id.to_string())),
            Some(v) => {
                if let Some(t) = self.versions.get(&(id.to_string(), v)) {
                    return Ok(t);
                }
                match current {
                    Some(t) if t.version.is_none() => Ok(t),
                    Some(t) => Err(Missing::Version { id: id.to_string(), version: v, latest: t.version }),
                    None => match self.current.get(id) {
                        Some(Entry::Broken(why)) => Err(Missing::Broken { id: id.to_string(), why: why.clone() }),
                        _ => Err(Missing::Template(id.to_string())),
                    },
                }
            }
        }
    }

    /// The current template of every id that has one, by id.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.current.values().filter_map(|e| match e {
            Entry::Ok(t) => Some(t.as_ref()),
            Entry::Broken(_) => None,
        })
    }

    /// Check the current templates against each other: every partial and layout they use
    /// exists and is of the right kind. Problems by template id, pointers into its file.
    pub fn check(&self) -> BTreeMap<String, Vec<Problem>> {
        let mut out = BTreeMap::new();
        for t in self.templates() {
            let problems = crate::template::Templates::check_in(t, self);
            if !problems.is_empty() {
                out.insert(t.id.clone(), problems);
            }
        }
        out
    }
}

/// A template library read from a folder (`workflows/templates/`).
#[derive(Debug, Default, Clone)]
pub struct Folder {
    pub library: Library,
    /// Every template file, in name order, with its problems (empty when valid).
    pub files: Vec<(std::path::PathBuf, Vec<Problem>)>,
    /// The valid templates by id, with their file.
    pub valid: BTreeMap<String, (std::path::PathBuf, Template)>,
}

/// Read the templates of `dir`: every `*.json` file but schemas (a missing folder is an
/// empty library). Each file is checked on its own (its name must be its id) and against
/// the others: every partial and layout a template uses must be in the folder. A file
/// with problems stays in the library as broken, so journeys using it say so.
pub fn read_folder(dir: &std::path::Path) -> std::io::Result<Folder> {
    let mut out = Folder::default();
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(out) };
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_file() && name.ends_with(".json") && !name.ends_with("schema.json") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut problems_of = Vec::new();
    for file in &paths {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let text = std::fs::read_to_string(file)?;
        let problems = match validate(&text) {
            Ok(t) if t.id != stem => vec![Problem::new(
                Kind::InvalidId,
                "/id",
                format!(
                    "the id `{}` must be the file's name: rename the file to `{}.json` or the id to `{stem}`",
                    t.id, t.id
                ),
            )],
            Ok(t) => {
                out.library.insert(t.clone());
                out.valid.insert(stem.clone(), (file.clone(), t));
                vec![]
            }
            Err(problems) => problems,
        };
        if !problems.is_empty() {
            out.library.insert_broken(stem, format!("see {}", file.display()));
        }
        problems_of.push(problems);
    }
    let mut cross = out.library.check();
    for (file, mut problems) in paths.into_iter().zip(problems_of) {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if problems.is_empty() {
            problems = cross.remove(stem).unwrap_or_default();
        }
        out.files.push((file, problems));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_example_is_valid() {
        let t = validate(
            r#"{ "$schema": "../template.schema.json", "id": "footer", "name": "Email footer", "kind": "partial",
                 "content": "<p>You get this because you signed up at example.com.</p>" }"#,
        )
        .unwrap();
        assert_eq!(t.kind(), TemplateKind::Partial);
        assert_eq!(t.to_file().to_canonical(), parse(&t.to_file().to_canonical()).unwrap().to_canonical());
    }

    #[test]
    fn each_kind_needs_its_field_and_every_problem_has_a_pointer() {
        let problems =
            parse_value(json!({ "id": "x", "name": "X", "kind": "message", "content": "hi", "extra": 1 })).unwrap_err();
        let got: Vec<_> = problems.iter().map(|p| (p.code, p.pointer.as_str())).collect();
        assert_eq!(
            got,
            [(Kind::UnknownField, "/extra"), (Kind::MissingField, "/message"), (Kind::UnknownField, "/content")]
        );
        let problems = parse_value(json!({ "id": "x", "name": "X", "kind": "layout" })).unwrap_err();
        assert_eq!(problems[0].pointer, "/content");
        let problems = parse_value(json!({ "id": "x", "name": "X", "kind": "snippet", "content": "" })).unwrap_err();
        assert_eq!((problems[0].code, problems[0].pointer.as_str()), (Kind::InvalidValue, "/kind"));
        let problems = parse_value(
            json!({ "id": "x", "name": "X", "kind": "message", "message": { "channel": "webhook", "url": "x" } }),
        )
        .unwrap_err();
        assert_eq!(problems[0].pointer, "/message/channel");
        assert!(problems[0].message.contains("webhook"), "{}", problems[0].message);
    }

    #[test]
    fn semantic_problems_point_at_the_field() {
        let problems = validate_value(json!({ "id": "Bad Id", "name": " ", "kind": "message",
            "message": { "channel": "email", "subject": "", "body": "{{#if x}}", "layout": "No Such" } }))
        .unwrap_err();
        let got: Vec<_> = problems.iter().map(|p| (p.code, p.pointer.as_str())).collect();
        assert_eq!(
            got,
            [
                (Kind::InvalidId, "/id"),
                (Kind::InvalidValue, "/name"),
                (Kind::InvalidValue, "/message/layout"),
                (Kind::InvalidValue, "/message/subject"),
            ]
        );
        // Once those are fixed, the body that does not compile is reported.
        let problems = validate_value(json!({ "id": "ok", "name": "Ok", "kind": "message",
            "message": { "channel": "email", "subject": "Hi", "body": "{{#if x}}" } }))
        .unwrap_err();
        assert_eq!((problems[0].code, problems[0].pointer.as_str()), (Kind::InvalidTemplate, "/message/body"));
    }

    #[test]
    fn versions_resolve_to_the_current_or_the_one_asked_for() {
        let t = |v: u32, body: &str| Template {
            id: "welcome".into(),
            name: "W".into(),
            description: String::new(),
            version: Some(v),
            body: Body::Partial(body.into()),
        };
        let mut lib = Library::new();
        lib.insert(t(3, "three"));
        lib.insert(t(1, "one"));
        assert_eq!(lib.get("welcome", None).unwrap().version, Some(3));
        assert_eq!(lib.get("welcome", Some(1)).unwrap().body, Body::Partial("one".into()));
        assert_eq!(
            lib.get("welcome", Some(2)).unwrap_err(),
            Missing::Version { id: "welcome".into(), version: 2, latest: Some(3) }
        );
        assert_eq!(lib.get("nope", None).unwrap_err(), Missing::Template("nope".into()));
        // A file stands for every version.
        let mut files = Library::new();
        files.insert(Template { version: None, ..t(1, "file") });
        assert_eq!(files.get("welcome", Some(7)).unwrap().body, Body::Partial("file".into()));
        files.insert_broken("footer", "/content: the template does not compile");
        assert!(matches!(files.get("footer", None), Err(Missing::Broken { .. })));
    }
}
