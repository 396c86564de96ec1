//! Tests: runs.
