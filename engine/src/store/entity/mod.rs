//! sea-orm entities: storage rows only. They never leave the `store` module; the API
//! speaks in domain types and its own DTOs.

pub mod api_key;
pub mod archived_run;
pub mod archived_run_history;
pub mod audience_queue;
pub mod audience_settings;
pub mod contact;
pub mod contact_consent;
pub mod delivery_settings;
pub mod event;
pub mod frequency_log;
pub mod message;
pub mod node_count;
pub mod outbox;
pub mod provider;
pub mod run;
pub mod run_history;
pub mod run_variant;
pub mod schedule_tick;
pub mod segment;
pub mod segment_change;
pub mod segment_member;
pub mod session;
pub mod stage_change;
pub mod subscription;
pub mod suppression;
pub mod template;
pub mod template_version;
pub mod topic;
pub mod user;
pub mod workflow;
pub mod workflow_test;
pub mod workflow_version;
pub mod workflow_version_template;
