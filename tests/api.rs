//! HTTP integration tests: the real app on port 0, a fresh SQLite database, a manual clock.

#[path = "api/helpers.rs"]
mod helpers;

#[path = "api/audience.rs"]
mod audience;
#[path = "api/consent.rs"]
mod consent;
#[path = "api/contacts.rs"]
mod contacts;
#[path = "api/delivery.rs"]
mod delivery;
#[path = "api/editor.rs"]
mod editor;
#[path = "api/goals.rs"]
mod goals;
#[path = "api/health.rs"]
mod health;
#[path = "api/ingest.rs"]
mod ingest;
#[path = "api/journeys.rs"]
mod journeys;
#[path = "api/pressure.rs"]
mod pressure;
#[path = "api/providers.rs"]
mod providers;
#[path = "api/retention.rs"]
mod retention;
#[path = "api/roles.rs"]
mod roles;
#[path = "api/runs.rs"]
mod runs;
#[path = "api/session.rs"]
mod session;
#[path = "api/templates.rs"]
mod templates;
#[path = "api/workflows.rs"]
mod workflows;
