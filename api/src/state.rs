//! What handlers share.

use crate::auth::KeyCache;
use kairos_engine::delivery::Registry;
use kairos_engine::scheduler::Scheduler;
use kairos_engine::secrets::Key;
use std::sync::Arc;

pub struct AppState {
    pub scheduler: Arc<Scheduler>,
    pub keys: KeyCache,
    /// The live delivery routes; reloaded when providers change.
    pub registry: Arc<Registry>,
    /// The workspace key: seals provider secrets, signs links.
    pub secret_key: Key,
}

impl AppState {
    pub fn store(&self) -> &kairos_engine::store::Store {
        self.scheduler.store()
    }
}
