//! JSON Schemas generated from the Rust types, committed as `workflows/schema.json`
//! and `workflows/test.schema.json` (checked to be current in CI by `kairos schema --check`).

use crate::journey_test::TestFile;
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
