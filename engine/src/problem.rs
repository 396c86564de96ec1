//! Validation problems: what is wrong, where (JSON pointer and node id), in words a marketer can act on.

use serde::{Deserialize, Serialize};

/// The kind of a validation problem. The snake_case name is a stable code that
/// machines (the API, the editor, `kairos validate --format json`) can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The file is not JSON at all.
    MalformedJson,
    /// A field that the format does not know.
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A field holds the wrong type or an unaccepted value.
    InvalidValue,
    /// A node `type` that does not exist.
    UnknownNodeType,
    /// A trigger or option that is planned but not built yet.
    NotSupported,
    /// Two nodes share one id, or an id is not a valid slug.
    InvalidId,
    /// A port points at a node id that does not exist.
    MissingNode,
    /// A required port is not connected.
    MissingPort,
    /// A node cannot be reached from the trigger.
    Unreachable,
    /// A cycle without a wait: the journey would loop forever in an instant.
    InstantLoop,
    /// Split weights do not add up to 100.
    SplitWeights,
    /// A duration that cannot be read.
    InvalidDuration,
    /// A time zone name that does not exist.
    InvalidTimezone,
    /// A handlebars template that does not compile, or a library template used wrongly.
    InvalidTemplate,
    /// A template, partial, layout or version that is not in the template library.
    MissingTemplate,
    /// A condition compares values of types that can never match.
    IncompatibleTypes,
}

impl Kind {
    /// Every kind.
    pub const ALL: &[Kind] = &[
        Kind::MalformedJson,
        Kind::UnknownField,
        Kind::MissingField,
        Kind::InvalidValue,
        Kind::UnknownNodeType,
        Kind::NotSupported,
        Kind::InvalidId,
        Kind::MissingNode,
        Kind::MissingPort,
        Kind::Unreachable,
        Kind::InstantLoop,
        Kind::SplitWeights,
        Kind::InvalidDuration,
        Kind::InvalidTimezone,
        Kind::InvalidTemplate,
        Kind::MissingTemplate,
        Kind::IncompatibleTypes,
    ];

    /// The stable code, e.g. `unknown_field`.
    pub fn code(self) -> &'static str {
        match self {
            Kind::MalformedJson => "malformed_json",
            Kind::UnknownField => "unknown_field",
            Kind::MissingField => "missing_field",
            Kind::InvalidValue => "invalid_value",
            Kind::UnknownNodeType => "unknown_node_type",
            Kind::NotSupported => "not_supported",
            Kind::InvalidId => "invalid_id",
            Kind::MissingNode => "missing_node",
            Kind::MissingPort => "missing_port",
            Kind::Unreachable => "unreachable",
            Kind::InstantLoop => "instant_loop",
            Kind::SplitWeights => "split_weights",
            Kind::InvalidDuration => "invalid_duration",
            Kind::InvalidTimezone => "invalid_timezone",
            Kind::InvalidTemplate => "invalid_template",
            Kind::MissingTemplate => "missing_template",
            Kind::IncompatibleTypes => "incompatible_types",
        }
    }
}

/// One problem found in a workflow definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Stable machine-readable kind.
    pub code: Kind,
    /// RFC 6901 JSON pointer to the offending value, e.g. `/nodes/3/duration` (`""` is the whole document).
    pub pointer: String,
    /// The id of the node the problem belongs to, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Plain-language explanation with what was expected.
    pub message: String,
    /// For malformed JSON: 1-based line and column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Problem {
    pub fn new(code: Kind, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Problem { code, pointer: pointer.into(), node: None, message: message.into(), line: None, column: None }
    }

    /// Attach the node id this problem belongs to.
    pub fn at_node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pointer = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, "{pointer}")?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, " (line {l}, column {c})")?;
        }
        if let Some(node) = &self.node {
            write!(f, " [node `{node}`]")?;
        }
        write!(f, ": {} ({})", self.message, self.code.code())
    }
}

/// Append a JSON-pointer segment, escaping `~` and `/` as RFC 6901 requires.
pub fn join_pointer(base: &str, segment: impl std::fmt::Display) -> String {
    let seg = segment.to_string().replace('~', "~0").replace('/', "~1");
    format!("{base}/{seg}")
}

/// The JSON pointer of a serde path below `base`.
pub fn path_pointer(base: &str, path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = base.to_string();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => pointer = join_pointer(&pointer, index),
            Segment::Map { key } => pointer = join_pointer(&pointer, key),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    pointer
}
