//! JSON Schemas generated from the Rust types, committed as `workflows/schema.json`,
//! `workflows/test.schema.json` and `workflows/template.schema.json` (checked to be
//! current in CI by `kairos schema --check`).

use crate::journey_test::TestFile;
use crate::library::TemplateFile;
use crate::workflow::Workflow;

fn pretty(schema: schemars::Schema) -> String {
    let mut out = serde_json::to_string_pretty(&schema).expect("schemas serialize");
    out.push('\n');
    out
}

/// The schema of a journey file.
pub fn workflow() -> String {
    pretty(schemars::schema_for!(Workflow))
}

/// The schema of a journey test file.
pub fn test_file() -> String {
    pretty(schemars::schema_for!(TestFile))
}

/// The schema of a template file (`templates/<id>.json`).
pub fn template_file() -> String {
    pretty(schemars::schema_for!(TemplateFile))
}
