//! The Kairos server: REST API (actix-web, documented with utoipa) around the engine's
//! durable scheduler.

pub mod auth;
pub mod email_events;
pub mod load;
pub mod problem;
pub mod routes;
pub mod startup;
pub mod state;
pub mod users;

pub use startup::{Application, Settings};
