//! Kairos engine: the journey format, its validation, the pure step function that
//! moves one contact through a journey, and the simulator that runs journeys on a
//! virtual clock. The durable store (`store`), the scheduler and real delivery
//! (`delivery`, webhooks over HTTP) are the server's side.

pub mod audience;
#[cfg(feature = "runtime")]
pub mod clock;
pub mod condition;
pub mod consent;
pub mod contact;
#[cfg(feature = "runtime")]
pub mod delivery;
pub mod history;
pub mod journey;
pub mod journey_test;
pub mod library;
pub mod nodes;
pub mod pressure;
pub mod problem;
pub mod report;
pub mod run;
#[cfg(feature = "runtime")]
pub mod scheduler;
pub mod schema;
pub mod secrets;
pub mod simulate;
pub mod step;
#[cfg(feature = "runtime")]
pub mod store;
pub mod template;
pub mod time;
pub mod validate;
pub mod workflow;

pub use contact::{Contact, Event};
pub use journey::Journey;
pub use problem::Problem;
pub use validate::{validate, validate_value};
pub use workflow::Workflow;
