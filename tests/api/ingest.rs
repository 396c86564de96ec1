//! Tests: ingest.
