//! What handlers share.

use crate::auth::KeyCache;
use kairos_engine::scheduler::Scheduler;
use std::sync::Arc;

pub struct AppState {
    pub scheduler: Arc<Scheduler>,
    pub keys: KeyCache,
}

impl AppState {
    pub fn store(&self) -> &kairos_engine::store::Store {
        self.scheduler.store()
    }
}
