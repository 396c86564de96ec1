//! `exit`: the run ends here. A journey may have several.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// End the run. Use several exits to tell outcomes apart in stats (`exit_ordered`, `exit_no_order`).
///
/// ```json
/// { "id": "exit_ordered", "type": "exit" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exit {
    /// Stable, human-readable node id.
    pub id: String,
}
