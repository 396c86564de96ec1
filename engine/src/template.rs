//! Handlebars templates of send nodes, compiled once per journey version, with the
//! partials and layouts of the template library and the helpers every template can use.
//!
//! Three registries: email bodies are HTML and escape what they insert; Slack mrkdwn
//! escapes `&`, `<` and `>` in what it inserts (so a contact's value cannot become a
//! mention such as `<!channel>` or a link); every other field (subjects, SMS, push, URLs,
//! webhook values) is plain text and inserts verbatim. Partials and layouts are
//! registered in all three, so a footer escapes as the text it is inserted into does.
//!
//! Compiling a template resolves every partial it uses from the [`Library`] (missing,
//! of the wrong kind, or not compiling: an error now, not at send time) and renders it
//! twice, against empty data and against a sample contact, so that unknown helpers and
//! helpers used wrongly are found too. What can still fail at send time is a helper given
//! a value of the wrong type by a real contact or event (`format_date` of `"soon"`): the
//! send is then skipped with the field and the reason on the run's timeline.
//!
//! # Helpers
//!
//! | helper | does |
//! |---|---|
//! | `{{format_date value "%B %-d, %Y" "Europe/Paris"}}` | a timestamp (RFC 3339), a date (`2026-03-01`) or Unix seconds, in strftime format (default `%Y-%m-%d`), in the time zone given, else the contact's `timezone`, else the journey's |
//! | `{{format_number value 2}}` | a number (or numeric text) with thousands separators and the decimals given (default: as written); `thousands="."` and `decimal=","` change the separators |
//! | `{{default value "there"}}` | the value, or the fallback when it is missing, `null` or empty text |
//! | `{{url_encode value}}` | percent-encoding for a URL query value (`a b&c` → `a%20b%26c`) |
//!
//! A missing value renders as nothing (as it does in handlebars) except in `default`.
//! A value of the wrong type is a render error naming the helper and the value.

use crate::library::{Library, Missing, Template as LibraryTemplate, TemplateKind};
use crate::problem::{Kind, Problem};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use handlebars::template::{Parameter, Template, TemplateElement};
use handlebars::{Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason, ScopedJson};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};

/// The most bytes one rendered message field may have.
pub const MAX_OUTPUT_BYTES: usize = 512 * 1024;

/// The most times one render may run `{{#each}}` bodies, all loops together (a loop
/// inside a loop counts each inner pass). The output limit stops loops that write; this
/// stops those whose bodies write nothing, which could otherwise run for hours.
pub const MAX_ITERATIONS: u64 = 100_000;

thread_local! {
    /// `{{#each}}` passes in the render running on this thread ([`render_limited`] resets it).
    static ITERATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How deep a template may nest blocks (`{{#if}}` inside `{{#each}}` …), subexpressions
/// and literals, counting the library partials it includes and those they include.
/// Handlebars parses and renders nesting recursively: thousands of levels overflow the
/// stack, which ends the whole process rather than failing one request.
pub const MAX_NESTING: usize = 48;

/// The compiled templates of one journey, keyed by `<node id>/<field pointer>`, and the
/// library partials they use.
pub struct Templates {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
    slack: Handlebars<'static>,
    library: Library,
    /// Library partials and layouts registered so far.
    registered: HashSet<String>,
    /// Library templates used, with their versions (`None` for files).
    used: BTreeSet<(String, Option<u32>)>,
    /// The message of each send node that uses a message template of the library.
    messages: HashMap<String, crate::nodes::send::Message>,
    /// A partial missing from the library gets an empty stand-in rather than an error:
    /// for checking one template on its own, before the library is complete.
    stand_ins: bool,
    /// Render each template against a sample contact when adding it (off for versions
    /// published before, which were checked then).
    sample_render: bool,
    /// How deep each registered library partial nests, with what it includes.
    depths: HashMap<String, usize>,
    /// The partials each registered library partial names, for finding loops through
    /// inline partials (`{{#*inline}}`).
    includes: HashMap<String, Vec<String>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").field("used", &self.used).finish_non_exhaustive()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new(Library::new(), Tz::UTC)
    }
}

/// Slack's control characters in inserted text, as Slack documents for `mrkdwn`
/// (<https://api.slack.com/reference/surfaces/formatting#escaping>): only `&`, `<`, `>`.
pub fn escape_mrkdwn(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// How a template escapes the values it inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// HTML (email bodies).
    Html,
    /// Slack `mrkdwn`: `&`, `<`, `>`.
    Slack,
    /// Verbatim.
    None,
}

/// Why a template cannot be used: the problem kind and a message in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

impl Error {
    fn invalid(message: impl Into<String>) -> Error {
        Error { kind: Kind::InvalidTemplate, message: message.into() }
    }

    fn missing(message: impl Into<String>) -> Error {
        Error { kind: Kind::MissingTemplate, message: message.into() }
    }

    /// The same error, its message prefixed: `the partial `footer`: …`.
    fn within(self, context: &str) -> Error {
        Error { kind: self.kind, message: format!("{context}: {}", self.message) }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A partial named in a template.
enum PartialRef {
    Named {
        name: String,
        block: bool,
    },
    /// `{{> (lookup …)}}`: a name computed at render time.
    Computed,
}

impl Templates {
    /// Templates resolving partials from `library`; `timezone` is the journey's default
    /// for `format_date` when the contact has no valid `timezone` attribute.
    pub fn new(library: Library, timezone: Tz) -> Templates {
        let mut html = Handlebars::new();
        let mut text = Handlebars::new();
        text.register_escape_fn(handlebars::no_escape);
        let mut slack = Handlebars::new();
        slack.register_escape_fn(escape_mrkdwn);
        for registry in [&mut html, &mut text, &mut slack] {
            registry.register_helper("format_date", Box::new(FormatDate { timezone }));
            registry.register_helper("format_number", Box::new(FormatNumber));
            registry.register_helper("default", Box::new(DefaultValue));
            registry.register_helper("url_encode", Box::new(UrlEncode));
            registry.register_helper("each", Box::new(CountedEach));
        }
        Templates {
            html,
            text,
            slack,
            library,
            registered: HashSet::new(),
            used: BTreeSet::new(),
            messages: HashMap::new(),
            stand_ins: false,
            sample_render: true,
            depths: HashMap::new(),
            includes: HashMap::new(),
        }
    }

    /// Templates resolving partials from `library`, dates in UTC by default.
    pub fn with_library(library: Library) -> Templates {
        Templates::new(library, Tz::UTC)
    }

    /// Whether [`Templates::add`] renders against a sample contact (it always renders
    /// against empty data).
    pub fn set_sample_render(&mut self, on: bool) {
        self.sample_render = on;
    }

    pub fn library(&self) -> &Library {
        &self.library
    }

    /// Note that a library template (a message template) is used, for the pins.
    pub fn record_use(&mut self, template: &LibraryTemplate) {
        self.used.insert((template.id.clone(), template.version));
    }

    /// Keep the message a send node takes from the library.
    pub fn set_message(&mut self, node: &str, message: crate::nodes::send::Message) {
        self.messages.insert(node.to_string(), message);
    }

    /// The message the send node `node` takes from the library, once built.
    pub fn message(&self, node: &str) -> Option<&crate::nodes::send::Message> {
        self.messages.get(node)
    }

    /// The library templates used by what was added, with their versions (`None` for files).
    pub fn used(&self) -> impl Iterator<Item = (&str, Option<u32>)> {
        self.used.iter().map(|(id, v)| (id.as_str(), *v))
    }

    fn registry(&self, escape: Escape) -> &Handlebars<'static> {
        match escape {
            Escape::Html => &self.html,
            Escape::Slack => &self.slack,
            Escape::None => &self.text,
        }
    }

    /// Compile `source` under `name`, with the library partials it uses. The template is
    /// also rendered against empty data and a sample contact, so that unknown helpers,
    /// helpers used wrongly and partials that fail are caught now rather than at send time.
    pub fn add(&mut self, name: &str, source: &str, escape: Escape) -> Result<(), Error> {
        let (compiled, depth) = compile(source, name)?;
        let below = self.resolve(&compiled, &mut Vec::new())?;
        if depth + below > MAX_NESTING {
            return Err(Error::invalid(format!(
                "with the partials it includes, the template nests {} levels deep; at most {MAX_NESTING} are allowed",
                depth + below
            )));
        }
        let registry = match escape {
            Escape::Html => &mut self.html,
            Escape::Slack => &mut self.slack,
            Escape::None => &mut self.text,
        };
        registry.register_template(name, compiled);
        let samples = if self.sample_render { vec![empty_data(), sample_data()] } else { vec![empty_data()] };
        for data in samples {
            if let Err(e) = render_limited(registry, name, &data) {
                registry.unregister_template(name);
                return Err(Error::invalid(format!("the template cannot be rendered: {e}")));
            }
        }
        Ok(())
    }

    /// Render a registered template; output longer than [`MAX_OUTPUT_BYTES`] is an error,
    /// and the render stops there.
    pub fn render(&self, name: &str, data: &Value, escape: Escape) -> Result<String, String> {
        render_limited(self.registry(escape), name, data)
    }

    /// Register every library partial `template` uses (and those they use), and refuse
    /// inline partials that include themselves. Returns how deep the deepest of those
    /// partials nests (0 without any).
    fn resolve(&mut self, template: &Template, stack: &mut Vec<String>) -> Result<usize, Error> {
        let mut refs = Vec::new();
        let mut inline = HashMap::new();
        partials(&template.elements, &mut refs, &mut inline);
        let mut deepest = 0;
        for r in refs {
            match r {
                PartialRef::Computed => {
                    return Err(Error::invalid(
                        "a partial's name must be written out, as in `{{> footer}}`; a computed name cannot be checked before sending",
                    ));
                }
                PartialRef::Named { name, .. } if name.starts_with('@') || inline.contains_key(&name) => {}
                PartialRef::Named { name, block } => deepest = deepest.max(self.partial(&name, block, stack)?),
            }
        }
        self.inline_loops(&inline)?;
        Ok(deepest)
    }

    /// An inline partial (`{{#*inline "p"}}`) that includes itself, directly or through
    /// other partials, renders forever (until the stack overflows): an error.
    fn inline_loops(&self, inline: &HashMap<String, Vec<String>>) -> Result<(), Error> {
        let includes = |name: &str| inline.get(name).or_else(|| self.includes.get(name));
        for start in inline.keys() {
            let mut seen = HashSet::new();
            let mut todo: Vec<&str> = includes(start).into_iter().flatten().map(String::as_str).collect();
            while let Some(name) = todo.pop() {
                if name == start {
                    return Err(Error::invalid(format!(
                        "the inline partial `{start}` includes itself; a partial cannot include itself, directly or through others"
                    )));
                }
                if seen.insert(name) {
                    todo.extend(includes(name).into_iter().flatten().map(String::as_str));
                }
            }
        }
        Ok(())
    }

    /// Register the library partial or layout `id`, used as a block (`{{#> id}}`) or not.
    /// Returns how deep it nests, with what it includes.
    fn partial(&mut self, id: &str, block: bool, stack: &mut Vec<String>) -> Result<usize, Error> {
        if let Some(i) = stack.iter().position(|s| s == id) {
            let cycle: Vec<String> = stack[i..].iter().chain([&id.to_string()]).map(|s| format!("`{s}`")).collect();
            return Err(Error::invalid(format!(
                "the partials {} include each other in a loop; a partial cannot include itself",
                cycle.join(" → ")
            )));
        }
        if stack.len() >= MAX_NESTING {
            return Err(Error::invalid(format!(
                "partials include partials more than {MAX_NESTING} levels deep (through `{id}`)"
            )));
        }
        let template = match self.library.get(id, None) {
            Ok(t) => t.clone(),
            Err(Missing::Template(_)) if self.stand_ins => {
                let stand_in = if block { "{{> @partial-block}}" } else { "" };
                let (compiled, depth) = compile(stand_in, id)?;
                self.register_partial(id, compiled);
                self.registered.insert(id.to_string());
                self.depths.insert(id.to_string(), depth + 1);
                return Ok(depth + 1);
            }
            Err(Missing::Template(_)) => {
                let (what, example) =
                    if block { ("layout", format!("{{{{#> {id}}}}}")) } else { ("partial", format!("{{{{> {id}}}}}")) };
                return Err(Error::missing(format!(
                    "`{example}` uses the {what} `{id}`, which is not in the template library"
                )));
            }
            Err(e @ Missing::Broken { .. }) => return Err(Error::invalid(e.to_string())),
            Err(other) => return Err(Error::missing(other.to_string())),
        };
        let content = match (&template.body, block) {
            (crate::library::Body::Partial(c), false) | (crate::library::Body::Layout(c), true) => c.clone(),
            (crate::library::Body::Message(_), _) => {
                return Err(Error::invalid(format!(
                    "`{id}` is a message template; only partials (`{{{{> name}}}}`) and layouts (`{{{{#> name}}}}…{{{{/name}}}}`) can be inserted into a text"
                )));
            }
            (crate::library::Body::Partial(_), true) => {
                return Err(Error::invalid(format!(
                    "`{id}` is a partial: insert it with `{{{{> {id}}}}}`; only layouts wrap a body with `{{{{#> {id}}}}}…{{{{/{id}}}}}`"
                )));
            }
            (crate::library::Body::Layout(_), false) => {
                return Err(Error::invalid(format!(
                    "`{id}` is a layout: wrap the body with `{{{{#> {id}}}}}…{{{{/{id}}}}}` rather than inserting it with `{{{{> {id}}}}}`"
                )));
            }
        };
        self.used.insert((template.id.clone(), template.version));
        if self.registered.contains(id) {
            return Ok(self.depths.get(id).copied().unwrap_or_default());
        }
        let what = template.kind().name();
        let (compiled, depth) = compile(&content, id).map_err(|e| Error {
            kind: e.kind,
            message: format!("the {what} `{id}` {}", e.message.trim_start_matches("the template ")),
        })?;
        let mut names = Vec::new();
        partials(&compiled.elements, &mut names, &mut HashMap::new());
        stack.push(id.to_string());
        let resolved = self.resolve(&compiled, stack);
        stack.pop();
        let below = resolved.map_err(|e| e.within(&format!("the {what} `{id}`")))?;
        self.register_partial(id, compiled);
        self.registered.insert(id.to_string());
        // An included partial is a level of its own.
        let depth = depth + 1 + below;
        self.depths.insert(id.to_string(), depth);
        let names = names.into_iter().filter_map(|r| match r {
            PartialRef::Named { name, .. } => Some(name),
            PartialRef::Computed => None,
        });
        self.includes.insert(id.to_string(), names.collect());
        Ok(depth)
    }

    /// A library partial in every registry: it escapes as the text it is inserted into does.
    fn register_partial(&mut self, id: &str, compiled: Template) {
        self.html.register_template(id, compiled.clone());
        self.slack.register_template(id, compiled.clone());
        self.text.register_template(id, compiled);
    }

    /// Check a library template on its own (saving it): every field compiles and renders;
    /// partials and layouts it uses that are not in `library` get empty stand-ins.
    pub fn check_alone(template: &LibraryTemplate) -> Vec<Problem> {
        let mut library = Library::new();
        library.insert(template.clone());
        check(template, library, true)
    }

    /// Check a library template against the whole `library`: every partial and layout it
    /// uses must be there, of the right kind, and work.
    pub fn check_in(template: &LibraryTemplate, library: &Library) -> Vec<Problem> {
        check(template, library.clone(), false)
    }
}

/// The checks of [`Templates::check_alone`] and [`Templates::check_in`]: problems with
/// pointers into the template's file.
fn check(template: &LibraryTemplate, library: Library, stand_ins: bool) -> Vec<Problem> {
    use crate::library::{Body, MessageContent};
    let mut problems = Vec::new();
    let mut templates = Templates::new(library, Tz::UTC);
    templates.stand_ins = stand_ins;
    let id = &template.id;
    match &template.body {
        Body::Partial(content) | Body::Layout(content) => {
            let layout = template.kind() == TemplateKind::Layout;
            match compile(content, id) {
                Err(e) => problems.push(Problem::new(e.kind, "/content", e.message)),
                Ok((compiled, _)) => {
                    let mut refs = Vec::new();
                    partials(&compiled.elements, &mut refs, &mut HashMap::new());
                    let has_block =
                        refs.iter().any(|r| matches!(r, PartialRef::Named { name, .. } if name == "@partial-block"));
                    if layout && !has_block {
                        problems.push(Problem::new(
                            Kind::InvalidTemplate,
                            "/content",
                            "a layout needs `{{> @partial-block}}` where the body it wraps goes",
                        ));
                    } else if !layout && has_block {
                        problems.push(Problem::new(
                            Kind::InvalidTemplate,
                            "/content",
                            "only a layout has `{{> @partial-block}}`; make this template a `layout`, or remove it",
                        ));
                    } else {
                        let source = if layout {
                            format!("{{{{#> {id}}}}}<p>body</p>{{{{/{id}}}}}")
                        } else {
                            format!("{{{{> {id}}}}}")
                        };
                        if let Err(e) = templates.add(&format!("{id}/content"), &source, Escape::Html) {
                            let message = e.message.replace(&format!("the {} `{id}`: ", template.kind().name()), "");
                            problems.push(Problem::new(e.kind, "/content", message));
                        }
                    }
                }
            }
        }
        Body::Message(message) => {
            if let MessageContent::Email { layout: Some(layout), .. } = message {
                let found = templates.library.get(layout, None).map(|t| t.kind());
                match found {
                    Ok(TemplateKind::Layout) => {}
                    Err(Missing::Template(_)) if stand_ins => {}
                    Ok(other) => problems.push(Problem::new(
                        Kind::InvalidValue,
                        "/message/layout",
                        format!("`{layout}` is a {} template, not a layout", other.name()),
                    )),
                    Err(e) => problems.push(Problem::new(Kind::MissingTemplate, "/message/layout", e.to_string())),
                }
                if !problems.is_empty() {
                    return problems;
                }
            }
            let inline = crate::nodes::send::Message::from(message);
            for (field, source, escape) in inline.fields() {
                if let Err(e) = templates.add(&format!("{id}/{field}"), source, escape) {
                    problems.push(Problem::new(e.kind, format!("/{field}"), e.message));
                }
            }
        }
    }
    problems
}

/// Every partial a template names, and the names its `{{#*inline}}` blocks define with
/// the partials each of them names.
fn partials(elements: &[TemplateElement], out: &mut Vec<PartialRef>, inline: &mut HashMap<String, Vec<String>>) {
    let name_of = |p: &Parameter| match p {
        Parameter::Name(n) => Some(n.clone()),
        Parameter::Path(handlebars::Path::Relative((_, raw))) => Some(raw.clone()),
        Parameter::Path(handlebars::Path::Local((_, _, raw))) => Some(raw.clone()),
        Parameter::Literal(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    for e in elements {
        match e {
            TemplateElement::PartialExpression(d) | TemplateElement::PartialBlock(d) => {
                let block = matches!(e, TemplateElement::PartialBlock(_));
                out.push(match name_of(&d.name) {
                    Some(name) => PartialRef::Named { name, block },
                    None => PartialRef::Computed,
                });
                if let Some(t) = &d.template {
                    partials(&t.elements, out, inline);
                }
            }
            TemplateElement::DecoratorBlock(d) | TemplateElement::DecoratorExpression(d) => {
                let mut body = Vec::new();
                if let Some(t) = &d.template {
                    partials(&t.elements, &mut body, inline);
                }
                if name_of(&d.name).as_deref() == Some("inline")
                    && let Some(Some(n)) = d.params.first().map(name_of)
                {
                    let names = body.iter().filter_map(|r| match r {
                        PartialRef::Named { name, .. } => Some(name.clone()),
                        PartialRef::Computed => None,
                    });
                    inline.entry(n).or_default().extend(names);
                }
                out.extend(body);
            }
            TemplateElement::HelperBlock(h) => {
                for t in [&h.template, &h.inverse].into_iter().flatten() {
                    partials(&t.elements, out, inline);
                }
            }
            _ => {}
        }
    }
}

/// Compile `source` under `name`, first making sure it nests at most [`MAX_NESTING`]
/// levels deep. Returns the template and how deep it nests.
fn compile(source: &str, name: &str) -> Result<(Template, usize), Error> {
    let depth = nesting(source);
    if depth > MAX_NESTING {
        return Err(Error::invalid(format!(
            "the template nests blocks, subexpressions or literals {depth} levels deep; at most {MAX_NESTING} are allowed"
        )));
    }
    let template =
        Template::compile_with_name(source, name.to_string()).map_err(|e| Error::invalid(compile_error(&e)))?;
    Ok((template, depth))
}

/// How deep a template's source nests: open blocks (`{{#…}}`, `{{^…}}`) around a tag,
/// plus parentheses, brackets and braces open inside it. Read from the text before
/// handlebars parses it (its parser recurses as deep); comments are skipped, text in
/// quotes inside a tag too. Never less than the real depth.
fn nesting(source: &str) -> usize {
    let bytes = source.as_bytes();
    let (mut blocks, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i + 1 < bytes.len() {
        if &bytes[i..i + 2] != b"{{" || (i > 0 && bytes[i - 1] == b'\\') {
            i += 1;
            continue;
        }
        i += 2;
        let rest = &bytes[i..];
        if rest.starts_with(b"!--") || rest.starts_with(b"~!--") {
            i += find(rest, b"--}}").map_or(rest.len(), |at| at + 4);
            continue;
        }
        if rest.starts_with(b"!") || rest.starts_with(b"~!") {
            i += find(rest, b"}}").map_or(rest.len(), |at| at + 2);
            continue;
        }
        let first = rest.iter().position(|&b| b != b'{' && b != b'~' && !b.is_ascii_whitespace());
        match first.map(|at| rest[at]) {
            Some(b'#') => blocks += 1,
            Some(b'^') if rest.get(first.unwrap_or(0) + 1).is_some_and(|&b| b != b'}' && b != b'~') => blocks += 1,
            Some(b'/') => blocks = blocks.saturating_sub(1),
            _ => {}
        }
        // Inside the tag, to its `}}`: brackets, and quoted text skipped.
        let mut open = 0usize;
        let mut quote = None;
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(_) if b == b'\\' => i += 1,
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None => match b {
                    b'"' | b'\'' => quote = Some(b),
                    b'(' | b'[' | b'{' => {
                        open += 1;
                        deepest = deepest.max(blocks + open);
                    }
                    b'}' if open == 0 => break,
                    b')' | b']' | b'}' => open = open.saturating_sub(1),
                    _ => {}
                },
            }
            i += 1;
        }
        deepest = deepest.max(blocks);
    }
    deepest
}

/// Where `needle` first is in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Output that fails once it is longer than [`MAX_OUTPUT_BYTES`], which stops the render
/// there: a loop over a long list (or loops inside loops) cannot fill the memory first.
#[derive(Default)]
struct Limited {
    bytes: Vec<u8>,
    over: bool,
}

impl std::io::Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT_BYTES {
            self.over = true;
            return Err(std::io::Error::other("the rendered text is too long"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Render `name` with `data`, at most [`MAX_OUTPUT_BYTES`] of it and [`MAX_ITERATIONS`]
/// loop passes; the error in words.
fn render_limited(registry: &Handlebars<'static>, name: &str, data: &Value) -> Result<String, String> {
    let mut out = Limited::default();
    ITERATIONS.with(|n| n.set(0));
    match registry.render_to_write(name, data, &mut out) {
        // Handlebars writes whole `str`s: the bytes are UTF-8.
        Ok(()) => String::from_utf8(out.bytes).map_err(|e| e.to_string()),
        Err(_) if out.over => Err(format!(
            "the rendered text is over {0} KiB; a message field may be at most {0} KiB (a loop over a long list?)",
            MAX_OUTPUT_BYTES / 1024
        )),
        Err(_) if ITERATIONS.with(|n| n.get()) > MAX_ITERATIONS => Err(format!(
            "the template's `{{{{#each}}}}` loops ran over {MAX_ITERATIONS} times; a message may loop at most \
             {MAX_ITERATIONS} times in all (loops inside loops over long lists?)"
        )),
        Err(e) => Err(describe(&e)),
    }
}

/// What templates see when they are checked with no contact at all.
fn empty_data() -> Value {
    json!({ "contact": {}, "trigger": {}, "event": {}, "journey": {} })
}

/// A sample contact with the usual attributes, so that a helper applied to the wrong
/// kind of value (`format_number contact.first_name`) is caught when publishing.
pub fn sample_data() -> Value {
    let event = json!({ "name": "sample_event", "properties": {}, "timestamp": "2026-01-05T09:00:00+00:00" });
    json!({
        "contact": {
            "id": "sample", "email": "sample@example.com", "phone": "+15555550100", "push_token": "sample-token",
            "first_name": "Sam", "last_name": "Sample", "tags": []
        },
        "trigger": event,
        "event": event,
        "journey": { "id": "sample", "name": "Sample", "version": 1, "run_id": "sample", "entry": 1 },
    })
}

/// A compile error in words: where it is and the usual cause.
fn compile_error(e: &handlebars::TemplateError) -> String {
    use handlebars::TemplateErrorReason as R;
    let at = e.pos().map_or(String::new(), |(line, column)| format!(" at line {line}, column {column}"));
    let what = match e.reason() {
        R::InvalidSyntax(_) => {
            "invalid handlebars syntax; check that every `{{` has its `}}` and every block such as `{{#if …}}` is closed (`{{/if}}`)".to_string()
        }
        R::MismatchingClosedHelper(open, close) => {
            format!("the block `{{{{#{open}}}}}` is closed by `{{{{/{close}}}}}`; close it with `{{{{/{open}}}}}`")
        }
        other => other.to_string(),
    };
    format!("the template does not compile{at}: {what}")
}

/// A render error in words: what went wrong, in which library partial, and where.
fn describe(e: &RenderError) -> String {
    let reason = match e.reason() {
        RenderErrorReason::Other(message) => message.clone(),
        RenderErrorReason::HelperNotFound(name) => format!(
            "there is no helper `{name}`; the helpers are format_date, format_number, default, url_encode and handlebars' own (if, unless, each, with, lookup, eq, …)"
        ),
        RenderErrorReason::PartialNotFound(name) => format!("there is no partial `{name}`"),
        other => other.to_string(),
    };
    let reason = reason.lines().next().unwrap_or_default().trim().to_string();
    let partial = e.template_name.as_deref().filter(|n| !n.contains('/'));
    let at = match (e.line_no, e.column_no) {
        (Some(l), Some(c)) => format!("line {l}, column {c}"),
        _ => String::new(),
    };
    match (partial, at.is_empty()) {
        (Some(p), false) => format!("in `{p}` at {at}: {reason}"),
        (Some(p), true) => format!("in `{p}`: {reason}"),
        (None, false) => format!("at {at}: {reason}"),
        (None, true) => reason,
    }
}

// ----- Helpers -----

fn fail(message: String) -> RenderError {
    RenderErrorReason::Other(message).into()
}

/// A JSON value in words, for error messages.
fn shown(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("the text \"{s}\""),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "an object".to_string(),
        Value::Null => "null".to_string(),
    };
    if s.chars().count() > 80 { format!("{}…", s.chars().take(79).collect::<String>()) } else { s }
}

/// A parameter's value, `None` when it is missing, `null` or empty text.
fn present<'a>(h: &'a Helper<'_>, i: usize) -> Option<&'a Value> {
    let p = h.param(i)?;
    match p.value() {
        _ if p.is_value_missing() => None,
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        v => Some(v),
    }
}

fn arity(h: &Helper<'_>, name: &str, min: usize, max: usize, usage: &str) -> Result<(), RenderError> {
    let n = h.params().len();
    if n < min || n > max {
        let given = match n {
            0 => "nothing".to_string(),
            1 => "1 value".to_string(),
            n => format!("{n} values"),
        };
        return Err(fail(format!("{name} was given {given}; use it as {usage}")));
    }
    Ok(())
}

/// A text parameter (format, time zone): a missing one is `None`; anything but text is an error.
fn text_param<'a>(h: &'a Helper<'_>, i: usize, helper: &str, what: &str) -> Result<Option<&'a str>, RenderError> {
    match h.param(i).map(|p| p.value()) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(fail(format!("{helper}: the {what} must be text, not {}", shown(other)))),
    }
}

/// `{{format_date value [format] [time zone]}}`.
struct FormatDate {
    timezone: Tz,
}

const FORMAT_DATE_USAGE: &str = "{{format_date contact.renewal_at \"%B %-d, %Y\"}} (an optional third value is a time zone such as \"Europe/Paris\")";

impl HelperDef for FormatDate {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        arity(h, "format_date", 1, 3, FORMAT_DATE_USAGE)?;
        let format = text_param(h, 1, "format_date", "format")?.unwrap_or("%Y-%m-%d");
        check_strftime(format)?;
        let timezone = match text_param(h, 2, "format_date", "time zone")? {
            Some(name) => crate::time::parse_timezone(name).map_err(|e| fail(format!("format_date: {e}")))?,
            None => ctx
                .data()
                .pointer("/contact/timezone")
                .and_then(Value::as_str)
                .and_then(|tz| tz.parse::<Tz>().ok())
                .unwrap_or(self.timezone),
        };
        let Some(value) = present(h, 0) else { return Ok(ScopedJson::Derived(Value::Null)) };
        let at = date_of(value, timezone).ok_or_else(|| {
            fail(format!(
                "format_date needs a date (an RFC 3339 timestamp such as \"2026-03-01T09:00:00Z\", a date \"2026-03-01\" or Unix seconds); it got {}",
                shown(value)
            ))
        })?;
        let mut out = String::new();
        std::fmt::Write::write_fmt(&mut out, format_args!("{}", at.format(format)))
            .map_err(|_| fail(format!("format_date: the format \"{format}\" cannot be applied to {}", shown(value))))?;
        Ok(ScopedJson::Derived(Value::String(out)))
    }
}

/// A value as a date in `timezone`: timestamps are converted, a plain date is that day.
fn date_of(value: &Value, timezone: Tz) -> Option<DateTime<Tz>> {
    if let Value::String(s) = value
        && let Ok(date) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
    {
        return timezone.from_local_datetime(&date.and_hms_opt(0, 0, 0)?).earliest();
    }
    let utc: DateTime<Utc> = match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim()).ok()?.with_timezone(&Utc),
        Value::Number(_) => crate::time::timestamp_from_json(value)?,
        _ => return None,
    };
    Some(utc.with_timezone(&timezone))
}

fn check_strftime(format: &str) -> Result<(), RenderError> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err(fail(format!(
            "format_date: \"{format}\" is not a date format; use strftime codes such as \"%Y-%m-%d\", \"%B %-d, %Y\" or \"%H:%M\""
        )));
    }
    Ok(())
}

/// `{{format_number value [decimals] thousands="," decimal="."}}`.
struct FormatNumber;

const FORMAT_NUMBER_USAGE: &str = "{{format_number trigger.properties.total 2}}";

impl HelperDef for FormatNumber {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        arity(h, "format_number", 1, 2, FORMAT_NUMBER_USAGE)?;
        let decimals = match h.param(1).map(|p| p.value()) {
            None => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|d| d <= 12) => n.as_u64().map(|d| d as usize),
            Some(other) => {
                return Err(fail(format!(
                    "format_number: the decimals must be a whole number from 0 to 12, not {}",
                    shown(other)
                )));
            }
        };
        let separator = |key: &str, default: &'static str| -> Result<String, RenderError> {
            match h.hash_get(key).map(|p| p.value()) {
                None => Ok(default.to_string()),
                Some(Value::String(s)) if s.chars().count() <= 3 => Ok(s.clone()),
                Some(other) => Err(fail(format!(
                    "format_number: `{key}` must be a short text such as \",\" or \".\", not {}",
                    shown(other)
                ))),
            }
        };
        let (thousands, decimal) = (separator("thousands", ",")?, separator("decimal", ".")?);
        let Some(value) = present(h, 0) else { return Ok(ScopedJson::Derived(Value::Null)) };
        let digits = match value {
            Value::Number(n) => n.to_string(),
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => {
                    if s.trim().bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'+') {
                        s.trim().trim_start_matches('+').to_string()
                    } else {
                        f.to_string()
                    }
                }
                _ => return Err(fail(format!("format_number needs a number; it got {}", shown(value)))),
            },
            other => return Err(fail(format!("format_number needs a number; it got {}", shown(other)))),
        };
        Ok(ScopedJson::Derived(Value::String(group(&digits, decimals, &thousands, &decimal))))
    }
}

/// A decimal number written out (`-1234.5`, `1e21` never: callers pass plain notation)
/// rounded half away from zero to `decimals` and grouped by thousands.
fn group(number: &str, decimals: Option<usize>, thousands: &str, decimal: &str) -> String {
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    // serde_json writes large floats with an exponent; expand it.
    let plain = if digits.contains(['e', 'E']) {
        digits.parse::<f64>().map(|f| format!("{f}")).unwrap_or_else(|_| digits.to_string())
    } else {
        digits.to_string()
    };
    let (int, frac) = plain.split_once('.').unwrap_or((&plain, ""));
    let mut int: Vec<u8> = int.bytes().map(|b| b - b'0').collect();
    let mut frac: Vec<u8> = frac.bytes().map(|b| b - b'0').collect();
    if let Some(d) = decimals {
        let round_up = frac.get(d).is_some_and(|&digit| digit >= 5);
        frac.resize(d, 0);
        if round_up {
            let mut carry = true;
            for digit in frac.iter_mut().rev().chain(int.iter_mut().rev()) {
                if !carry {
                    break;
                }
                *digit += 1;
                carry = *digit == 10;
                if carry {
                    *digit = 0;
                }
            }
            if carry {
                int.insert(0, 1);
            }
        }
    } else {
        while frac.last() == Some(&0) {
            frac.pop();
        }
    }
    let int: String = int.iter().map(|d| char::from(b'0' + d)).collect();
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push_str(thousands);
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push_str(decimal);
        out.extend(frac.iter().map(|d| char::from(b'0' + d)));
    }
    let zero = int == "0" && frac.iter().all(|&d| d == 0);
    if negative && !zero { format!("-{out}") } else { out }
}

/// `{{default value fallback}}`: the value unless it is missing, `null` or empty text.
struct DefaultValue;

impl HelperDef for DefaultValue {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        arity(h, "default", 2, 2, "{{default contact.first_name \"there\"}}")?;
        let value = present(h, 0).or_else(|| h.param(1).map(|p| p.value())).cloned().unwrap_or(Value::Null);
        Ok(ScopedJson::Derived(value))
    }
}

/// `{{url_encode value}}`: percent-encoding (RFC 3986) for a query value.
/// `{{#each}}` as handlebars' own (6.4: `helpers/helper_each.rs`, MIT, whose internals
/// are private), counting its passes against [`MAX_ITERATIONS`].
struct CountedEach;

impl HelperDef for CountedEach {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn handlebars::Output,
    ) -> handlebars::HelperResult {
        use handlebars::{BlockContext, BlockParams, Renderable};
        let value = h.param(0).ok_or(RenderErrorReason::ParamNotFoundForIndex("each", 0))?;
        let Some(template) = h.template() else { return Ok(()) };
        let entries: Vec<(Value, &Value)> = match value.value() {
            Value::Array(list) if !list.is_empty() || h.inverse().is_none() => {
                list.iter().enumerate().map(|(i, v)| (json!(i), v)).collect()
            }
            Value::Object(map) if !map.is_empty() || h.inverse().is_none() => {
                map.iter().map(|(k, v)| (json!(k), v)).collect()
            }
            _ => {
                return match h.inverse() {
                    Some(otherwise) => otherwise.render(r, ctx, rc, out),
                    None if r.strict_mode() => Err(RenderError::strict_error(value.relative_path())),
                    None => Ok(()),
                };
            }
        };
        let is_object = value.value().is_object();
        let mut block = BlockContext::new();
        match value.context_path() {
            Some(path) => block.base_path_mut().clone_from(path),
            None => block.set_base_value(value.value().clone()),
        }
        rc.push_block(block);
        let path = value.context_path();
        let len = entries.len();
        for (i, (key, v)) in entries.into_iter().enumerate() {
            let passes = ITERATIONS.with(|n| {
                n.set(n.get() + 1);
                n.get()
            });
            if passes > MAX_ITERATIONS {
                rc.pop_block();
                return Err(RenderErrorReason::Other(format!("`each` loops ran over {MAX_ITERATIONS} times")).into());
            }
            if let Some(block) = rc.block_mut() {
                block.set_local_var("first", json!(i == 0));
                block.set_local_var("last", json!(i == len - 1));
                if is_object {
                    block.set_local_var("key", key.clone());
                }
                block.set_local_var("index", json!(i));
                let relative = match &key {
                    Value::String(k) => k.clone(),
                    other => other.to_string(),
                };
                match path {
                    Some(p) if i == 0 => {
                        let mut base = p.clone();
                        base.push(relative);
                        *block.base_path_mut() = base;
                    }
                    Some(_) => {
                        if let Some(last) = block.base_path_mut().last_mut() {
                            *last = relative;
                        }
                    }
                    None => block.set_base_value(v.clone()),
                }
                let mut params = BlockParams::new();
                let mut set = false;
                if let Some(name) = h.block_param() {
                    add_block_param(&mut params, name, path.is_some(), v)?;
                    set = true;
                } else if let Some((name, key_name)) = h.block_param_pair() {
                    add_block_param(&mut params, name, path.is_some(), v)?;
                    params.add_value(key_name, key.clone())?;
                    set = true;
                }
                if set {
                    block.set_block_params(params);
                }
            }
            template.render(r, ctx, rc, out)?;
        }
        rc.pop_block();
        Ok(())
    }
}

/// The item's block parameter (`as |item|`): a path into the context when the list is
/// one, else the value itself.
fn add_block_param<'rc>(
    params: &mut handlebars::BlockParams<'rc>,
    name: &'rc str,
    by_path: bool,
    v: &Value,
) -> Result<(), RenderError> {
    if by_path { params.add_path(name, Vec::new()) } else { params.add_value(name, v.clone()) }
}

struct UrlEncode;

impl HelperDef for UrlEncode {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        arity(h, "url_encode", 1, 1, "https://example.com/?email={{url_encode contact.email}}")?;
        let text = match present(h, 0) {
            None => return Ok(ScopedJson::Derived(Value::Null)),
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            Some(other) => {
                return Err(fail(format!("url_encode needs text or a number; it got {}", shown(other))));
            }
        };
        Ok(ScopedJson::Derived(Value::String(percent_encode(&text))))
    }
}

/// Every byte but the unreserved characters of RFC 3986 as `%XX`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::{Body, Template as Lib};
    use serde_json::json;

    fn lib(entries: &[(&str, Body)]) -> Library {
        let mut l = Library::new();
        for (id, body) in entries {
            l.insert(Lib {
                id: id.to_string(),
                name: id.to_string(),
                description: String::new(),
                version: Some(1),
                body: body.clone(),
            });
        }
        l
    }

    /// Render `source` once against `data` as text.
    fn render(source: &str, data: Value) -> Result<String, String> {
        let mut t = Templates::new(Library::new(), "Europe/Berlin".parse().unwrap());
        t.text.register_template_string("t", source).map_err(|e| e.to_string())?;
        t.render("t", &data, Escape::None)
    }

    #[test]
    fn rendered_output_is_limited() {
        let items: Vec<String> = (0..600).map(|i| format!("{i:0>1000}")).collect();
        let err = render("{{#each contact.items}}{{this}}{{/each}}", json!({"contact": {"items": items}})).unwrap_err();
        assert!(err.contains("at most 512 KiB"), "{err}");
        let fine: Vec<String> = items.into_iter().take(100).collect();
        assert_eq!(
            render("{{#each contact.items}}{{this}}{{/each}}", json!({"contact": {"items": fine}})).unwrap().len(),
            100_000
        );
    }

    /// Found while fuzzing templates (the fuzz target's binary run on nested inputs): a
    /// template nested thousands of blocks deep
    /// overflowed the stack while handlebars parsed or rendered it, which aborts the whole
    /// server, not just the request that published it.
    #[test]
    fn templates_nested_too_deep_are_refused_before_parsing() {
        let deep = |n: usize, open: &str, close: &str| format!("{}x{}", open.repeat(n), close.repeat(n));
        let mut t = Templates::default();
        for source in [
            deep(5000, "{{#if true}}", "{{/if}}"),
            format!("{{{{default {} }}}}", deep(5000, "(default ", " 1)")),
            format!("{{{{lookup {} 0}}}}", deep(5000, "[", "]")),
        ] {
            let err = t.add("n/body", &source, Escape::Html).unwrap_err();
            assert_eq!(err.kind, Kind::InvalidTemplate);
            assert!(err.message.contains("5000 levels deep; at most 48"), "{err}");
        }
        // Comments, quoted text and escaped braces do not count.
        let quiet =
            format!("{{{{!-- {} --}}}}{{{{default x \"{}\"}}}}\\{{{{#if", "{{#if}}".repeat(100), "(".repeat(100));
        assert_eq!(nesting(&quiet), 0);
        assert_eq!(nesting("{{#if a}}{{lookup (x [1]) 0}}{{/if}}{{#each b}}{{/each}}"), 3);
    }

    /// The deepest template allowed, with a chain of partials as deep as allowed, renders on
    /// a thread with the 2 MiB stack the server's threads have.
    #[test]
    fn the_deepest_template_allowed_renders_on_a_small_stack() {
        let nested = |n: usize, inner: &str| format!("{}{inner}{}", "{{#if true}}".repeat(n), "{{/if}}".repeat(n));
        let library = lib(&[
            ("p1", Body::Partial(nested(10, "{{> p2}}"))),
            ("p2", Body::Partial(nested(10, "{{> p3}}"))),
            ("p3", Body::Partial(nested(10, "ok"))),
        ]);
        let source = nested(MAX_NESTING - 33, "{{> p1}}");
        let rendered = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                let mut t = Templates::new(library, Tz::UTC);
                t.add("n/body", &source, Escape::Html).unwrap();
                let deeper = nested(MAX_NESTING - 32, "{{> p1}}");
                let err = t.add("n/other", &deeper, Escape::Html).unwrap_err();
                assert!(err.message.contains(&format!("nests {} levels deep", MAX_NESTING + 1)), "{err}");
                t.render("n/body", &json!({}), Escape::Html)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(rendered.unwrap(), "ok");
    }

    /// Found while fuzzing templates (as above): an inline partial that includes itself rendered
    /// until the stack overflowed (the whole process died).
    #[test]
    fn an_inline_partial_that_includes_itself_is_refused() {
        let library = lib(&[("footer", Body::Partial("{{> card}}".into())), ("card", Body::Partial("c".into()))]);
        let mut t = Templates::new(library, Tz::UTC);
        for source in [
            r#"{{#*inline "p"}}{{> p}}{{/inline}}{{> p}}"#,
            r#"{{#*inline "p"}}{{#if x}}{{> q}}{{/if}}{{/inline}}{{#*inline "q"}}{{> p}}{{/inline}}{{> p}}"#,
            // Through a library partial whose `card` the inline partial `card` shadows.
            r#"{{#*inline "card"}}{{> footer}}{{/inline}}{{> card}}"#,
        ] {
            let err = t.add("n/body", source, Escape::Html).unwrap_err();
            assert!(err.message.contains("includes itself"), "{source}: {err}");
        }
        t.add("n/body", r#"{{#*inline "p"}}<b>{{> footer}}</b>{{/inline}}{{> p}}{{> p}}"#, Escape::Html).unwrap();
        assert_eq!(t.render("n/body", &json!({}), Escape::Html).unwrap(), "<b>c</b><b>c</b>");
    }

    /// Loops inside loops over the sample contact's fields: the render stops at the limit
    /// (it used to build the whole text, gigabytes, before measuring it).
    #[test]
    fn loops_inside_loops_stop_at_the_output_limit() {
        let source = format!("{}{}{}", "{{#each @root.contact}}".repeat(8), "x".repeat(200), "{{/each}}".repeat(8));
        let started = std::time::Instant::now();
        let err = Templates::default().add("n/body", &source, Escape::Html).unwrap_err();
        assert!(err.message.contains("over 512 KiB; a message field may be at most 512 KiB"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    }

    /// Loops inside loops whose bodies write nothing: the output limit never comes, so the
    /// passes are counted (three levels over 100 items were a million passes).
    #[test]
    fn loops_that_write_nothing_stop_at_the_iteration_limit() {
        let source = "{{#each @root.items}}{{#each @root.items}}{{#each @root.items}}{{/each}}{{/each}}{{/each}}";
        let items = |n: usize| json!({ "items": (0..n).collect::<Vec<_>>() });
        let err = render(source, items(100)).unwrap_err();
        assert!(err.contains(&format!("loops ran over {MAX_ITERATIONS} times")), "{err}");
        // 40 + 40² + 40³ = 65,640 passes: allowed, and the count starts again each render.
        assert_eq!(render(source, items(40)).unwrap(), "");
        let mut t = Templates::new(Library::new(), Tz::UTC);
        t.text.register_template_string("t", source).unwrap();
        for _ in 0..3 {
            assert_eq!(t.render("t", &items(40), Escape::None).unwrap(), "");
        }
    }

    /// The counting `each` renders what handlebars' own does.
    #[test]
    fn the_counted_each_renders_as_handlebars_own() {
        let data = json!({
            "items": [{"name": "a", "tags": ["x", "y"]}, {"name": "b", "tags": []}],
            "map": {"one": 1, "two": {"deep": true}},
            "empty": [],
            "scalar": 7,
            "title": "T",
        });
        let own = Handlebars::new();
        for source in [
            "{{#each items}}{{@index}}:{{name}}{{#if @first}}F{{/if}}{{#if @last}}L{{/if}};{{/each}}",
            "{{#each map}}{{@key}}={{this}},{{@index}}|{{/each}}",
            "{{#each items as |item i|}}{{i}}-{{item.name}}-{{../title}} {{/each}}",
            "{{#each map as |value key|}}{{key}}:{{value}} {{/each}}",
            "{{#each items}}{{#each tags}}{{@../index}}.{{@index}}={{this}}/{{../name}} {{/each}}{{/each}}",
            "{{#each empty}}x{{else}}none{{/each}}|{{#each empty}}x{{/each}}|{{#each scalar}}x{{else}}no{{/each}}",
            "{{#each missing}}x{{else}}gone{{/each}}{{#each items}}{{#each tags}}{{else}}-{{/each}}{{/each}}",
            "{{#each (lookup items 0)}}{{@key}} {{/each}}{{#each items.0.tags}}{{this}}{{/each}}",
            "{{#each items}}{{#with this}}{{name}}{{/with}}{{lookup ../items @index}}{{/each}}",
        ] {
            let want = own.render_template(source, &data).unwrap();
            assert_eq!(render(source, data.clone()).unwrap(), want, "{source}");
        }
    }

    #[test]
    fn html_escapes_and_text_does_not() {
        let mut t = Templates::default();
        t.add("a/body", "Hi {{contact.first_name}}", Escape::Html).unwrap();
        t.add("a/subject", "Hi {{contact.first_name}}", Escape::None).unwrap();
        let data = json!({ "contact": { "first_name": "Ann & <Bob>" } });
        assert_eq!(t.render("a/body", &data, Escape::Html).unwrap(), "Hi Ann &amp; &lt;Bob&gt;");
        assert_eq!(t.render("a/subject", &data, Escape::None).unwrap(), "Hi Ann & <Bob>");
    }

    #[test]
    fn slack_text_escapes_only_its_control_characters() {
        let mut t = Templates::default();
        t.add(
            "a/text",
            "<https://crm.example.com|Lead> {{contact.name}} \"{{contact.note}}\" {{{contact.raw}}}",
            Escape::Slack,
        )
        .unwrap();
        let data = json!({ "contact": { "name": "<!channel> & co", "note": "it's", "raw": "<@U1>" } });
        assert_eq!(
            t.render("a/text", &data, Escape::Slack).unwrap(),
            "<https://crm.example.com|Lead> &lt;!channel&gt; &amp; co \"it's\" <@U1>"
        );
    }

    #[test]
    fn broken_templates_are_refused_at_compile_time() {
        let mut t = Templates::default();
        let err = t.add("x", "Hello {{#if contact.vip}}VIP", Escape::None).unwrap_err();
        assert!(err.message.contains("does not compile"), "{err}");
        let err = t.add("y", "{{shout contact.name}}", Escape::None).unwrap_err();
        assert!(err.message.contains("cannot be rendered") && err.message.contains("no helper `shout`"), "{err}");
        let err = t.add("z", "{{> footer}}", Escape::None).unwrap_err();
        assert_eq!(err.kind, Kind::MissingTemplate);
        assert!(err.message.contains("`footer`, which is not in the template library"), "{err}");
    }

    #[test]
    fn partials_and_layouts_come_from_the_library() {
        let library = lib(&[
            ("footer", Body::Partial("<small>Bye {{contact.first_name}}</small>".into())),
            ("brand", Body::Layout("<main>{{> @partial-block}}</main>{{> footer}}".into())),
            ("welcome", Body::Message(crate::library::MessageContent::Sms { body: "x".into() })),
        ]);
        let mut t = Templates::new(library, Tz::UTC);
        t.add("n/message/body", "{{#> brand}}<p>Hi {{contact.first_name}}</p>{{/brand}}", Escape::Html).unwrap();
        t.add("n/message/text", "Hi{{> footer}}", Escape::None).unwrap();
        let data = json!({ "contact": { "first_name": "A&B" } });
        assert_eq!(
            t.render("n/message/body", &data, Escape::Html).unwrap(),
            "<main><p>Hi A&amp;B</p></main><small>Bye A&amp;B</small>"
        );
        assert_eq!(t.render("n/message/text", &data, Escape::None).unwrap(), "Hi<small>Bye A&B</small>");
        let used: Vec<_> = t.used().collect();
        assert_eq!(used, [("brand", Some(1)), ("footer", Some(1))]);
        // Each kind in its place.
        for (source, words) in [
            ("{{> brand}}", "`brand` is a layout"),
            ("{{#> footer}}x{{/footer}}", "`footer` is a partial"),
            ("{{> welcome}}", "`welcome` is a message template"),
            ("{{> (lookup contact \"p\")}}", "must be written out"),
        ] {
            let err = t.add("n/x", source, Escape::None).unwrap_err();
            assert_eq!(err.kind, Kind::InvalidTemplate, "{source}");
            assert!(err.message.contains(words), "{source}: {err}");
        }
        // Inline partials are not looked up in the library.
        t.add("n/y", "{{#*inline \"p\"}}in{{/inline}}{{> p}}", Escape::None).unwrap();
    }

    #[test]
    fn a_broken_or_looping_partial_is_named() {
        let library = lib(&[
            ("bad", Body::Partial("{{#if x}}".into())),
            ("uses", Body::Partial("a {{> gone}}".into())),
            ("a", Body::Partial("{{> b}}".into())),
            ("b", Body::Partial("{{> a}}".into())),
            ("misuse", Body::Partial("{{format_number contact.first_name}}".into())),
        ]);
        let mut t = Templates::new(library, Tz::UTC);
        let err = t.add("n/m", "{{> bad}}", Escape::None).unwrap_err();
        assert!(err.message.starts_with("the partial `bad` does not compile at line 1"), "{err}");
        let err = t.add("n/m", "{{> uses}}", Escape::None).unwrap_err();
        assert_eq!(err.kind, Kind::MissingTemplate);
        assert!(err.message.starts_with("the partial `uses`: `{{> gone}}` uses the partial `gone`"), "{err}");
        let err = t.add("n/m", "{{> a}}", Escape::None).unwrap_err();
        assert!(err.message.contains("`a` → `b` → `a` include each other"), "{err}");
        // Found by the render against the sample contact.
        let err = t.add("n/m", "{{> misuse}}", Escape::None).unwrap_err();
        assert!(err.message.contains("in `misuse` at line 1, column 1: format_number needs a number"), "{err}");
    }

    #[test]
    fn format_date_formats_in_the_zone_given_else_the_contacts_else_the_journeys() {
        let at = "2026-03-01T23:30:00Z";
        let data =
            |tz: Value| json!({ "contact": { "at": at, "timezone": tz, "day": "2026-03-01", "unix": 1772407800 } });
        assert_eq!(render("{{format_date contact.at}}", data(json!(null))).unwrap(), "2026-03-02"); // Berlin
        assert_eq!(
            render("{{format_date contact.at \"%H:%M %Z\"}}", data(json!("America/New_York"))).unwrap(),
            "18:30 EST"
        );
        assert_eq!(render("{{format_date contact.at \"%H:%M\" \"UTC\"}}", data(json!("Asia/Tokyo"))).unwrap(), "23:30");
        assert_eq!(render("{{format_date contact.at \"%H:%M\"}}", data(json!("Not/AZone"))).unwrap(), "00:30");
        // A date stays that day in any zone; a number is Unix seconds.
        assert_eq!(
            render("{{format_date contact.day \"%B %-d, %Y\"}}", data(json!("Pacific/Honolulu"))).unwrap(),
            "March 1, 2026"
        );
        assert_eq!(
            render("{{format_date contact.unix \"%d.%m. %H:%M\" \"UTC\"}}", data(json!(null))).unwrap(),
            "01.03. 23:30"
        );
        // Missing renders nothing.
        assert_eq!(render("[{{format_date contact.nope}}]", data(json!(null))).unwrap(), "[]");
        // Bad input is a clear error, never a panic.
        for (source, words) in [
            ("{{format_date contact.tz}}", "format_date needs a date"),
            ("{{format_date contact.at \"%Q\"}}", "\"%Q\" is not a date format"),
            ("{{format_date contact.at \"%Y\" \"Mars/Base\"}}", "`Mars/Base` is not a time zone"),
            ("{{format_date contact.at 5}}", "the format must be text, not the number 5"),
            ("{{format_date}}", "format_date was given nothing"),
            ("{{format_date contact.obj}}", "it got an object"),
        ] {
            let data = json!({ "contact": { "at": at, "tz": "soon", "obj": {} } });
            let err = render(source, data).unwrap_err();
            assert!(err.contains(words), "{source}: {err}");
        }
    }

    #[test]
    fn format_number_groups_thousands_and_rounds_half_away_from_zero() {
        let cases = [
            ("{{format_number 1234567}}", "1,234,567"),
            ("{{format_number 1234.5}}", "1,234.5"),
            ("{{format_number 1234.5 2}}", "1,234.50"),
            ("{{format_number 2.5 0}}", "3"),
            ("{{format_number 0.125 2}}", "0.13"),
            ("{{format_number 1.005 2}}", "1.01"),
            ("{{format_number 999.995 2}}", "1,000.00"),
            ("{{format_number -1234.567 1}}", "-1,234.6"),
            ("{{format_number -0.001 2}}", "0.00"),
            ("{{format_number \"12345.678\" 2}}", "12,345.68"),
            ("{{format_number \"9007199254740993\"}}", "9,007,199,254,740,993"),
            ("{{format_number 1234567.891 2 thousands=\".\" decimal=\",\"}}", "1.234.567,89"),
            ("{{format_number contact.big}}", "1,000,000,000,000,000,000,000"),
            ("{{format_number contact.tiny 8}}", "0.00000010"),
            ("[{{format_number contact.nope 2}}]", "[]"),
        ];
        for (source, want) in cases {
            assert_eq!(render(source, json!({ "contact": { "big": 1e21, "tiny": 1e-7 } })).unwrap(), want, "{source}");
        }
        for (source, words) in [
            ("{{format_number \"12abc\"}}", "needs a number; it got the text \"12abc\""),
            ("{{format_number contact.list}}", "needs a number; it got a list"),
            ("{{format_number 5 -1}}", "decimals must be a whole number from 0 to 12"),
            ("{{format_number 5 \"2\"}}", "decimals must be a whole number"),
            ("{{format_number 5 2 3}}", "format_number was given 3 values"),
            ("{{format_number 5 thousands=1}}", "`thousands` must be a short text"),
        ] {
            let err = render(source, json!({ "contact": { "list": [1] } })).unwrap_err();
            assert!(err.contains(words), "{source}: {err}");
        }
    }

    #[test]
    fn default_fills_in_missing_null_and_empty_values() {
        let data = json!({ "contact": { "name": "Ann", "empty": "", "null": null, "zero": 0, "no": false } });
        for (source, want) in [
            ("{{default contact.name \"there\"}}", "Ann"),
            ("{{default contact.missing \"there\"}}", "there"),
            ("{{default contact.empty \"there\"}}", "there"),
            ("{{default contact.null \"there\"}}", "there"),
            ("{{default contact.zero 5}}", "0"),
            ("{{default contact.no true}}", "false"),
            ("{{format_number (default contact.missing 1234) 1}}", "1,234.0"),
        ] {
            assert_eq!(render(source, data.clone()).unwrap(), want, "{source}");
        }
        let err = render("{{default contact.name}}", data).unwrap_err();
        assert!(err.contains("default was given 1 value; use it as {{default contact.first_name \"there\"}}"), "{err}");
    }

    #[test]
    fn url_encode_percent_encodes_query_values() {
        let data = json!({ "contact": { "email": "a+b@x.com", "q": "a b&c=d/é", "n": 42, "o": { "a": 1 } } });
        assert_eq!(render("{{url_encode contact.email}}", data.clone()).unwrap(), "a%2Bb%40x.com");
        assert_eq!(render("{{url_encode contact.q}}", data.clone()).unwrap(), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(render("{{url_encode contact.n}}", data.clone()).unwrap(), "42");
        assert_eq!(render("[{{url_encode contact.none}}]", data.clone()).unwrap(), "[]");
        let err = render("{{url_encode contact.o}}", data.clone()).unwrap_err();
        assert!(err.contains("url_encode needs text or a number; it got an object"), "{err}");
        let err = render("{{url_encode}}", data).unwrap_err();
        assert!(err.contains("url_encode was given nothing"), "{err}");
        // In an HTML body the encoded value is safe as it is.
        let mut t = Templates::default();
        t.add("b", "<a href=\"https://x.com/?e={{url_encode contact.email}}\">", Escape::Html).unwrap();
        assert_eq!(
            t.render("b", &json!({ "contact": { "email": "a&b@x.com" } }), Escape::Html).unwrap(),
            "<a href=\"https://x.com/?e=a%26b%40x.com\">"
        );
    }

    #[test]
    fn helper_misuse_is_caught_when_compiling() {
        let mut t = Templates::default();
        let err = t.add("a", "{{format_date contact.signed_up_at \"%Q\"}}", Escape::None).unwrap_err();
        assert!(err.message.contains("is not a date format"), "{err}");
        // Only the sample contact shows this one: a name is not a number.
        let err = t.add("b", "Hi {{format_number contact.first_name}}", Escape::None).unwrap_err();
        assert!(
            err.message.contains("at line 1, column 4: format_number needs a number; it got the text \"Sam\""),
            "{err}"
        );
        t.add("c", "{{format_date contact.renewal_at \"%B %-d\"}}", Escape::None).unwrap();
        // A version published before is built again without the sample render…
        let journey = r#"{ "id": "j", "name": "J", "trigger": { "type": "api", "next": "s" }, "nodes": [
            { "id": "s", "type": "send", "message": { "channel": "sms", "body": "{{format_number contact.first_name}}" }, "next": "e" },
            { "id": "e", "type": "exit" } ] }"#;
        let problems = crate::validate::validate_in(journey, &Library::new()).unwrap_err();
        assert_eq!(problems[0].pointer, "/nodes/0/message/body");
        let built = crate::validate::validate_published(journey, &Library::new()).unwrap();
        // …and a real contact whose value does not fit is a skip with the field, at send time.
        let crate::nodes::Node::Send(send) = built.node("s").unwrap().0 else { panic!() };
        let skip =
            send.render(built.templates(), &json!({ "contact": { "phone": "+1", "first_name": "Ann" } })).unwrap_err();
        assert!(
            skip.to_string().starts_with(
                "the message could not be rendered (message/body): at line 1, column 1: format_number needs a number"
            ),
            "{skip}"
        );
    }
}
