//! The live [`Router`]: the routes set up in code (flags, tests) plus the providers
//! configured in the store, rebuilt when the configuration changes — at once on this
//! worker (the API calls [`Registry::reload`]), within seconds on the others (each
//! checks [`crate::store::providers_stamp`]).

use super::provider::Config;
use super::{Misconfigured, Options, Router};
use crate::secrets::Key;
use crate::store::{self, Store};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;

/// The routes in force, and how to rebuild them.
pub struct Registry {
    base: Router,
    key: Option<Key>,
    options: Options,
    current: RwLock<Arc<Router>>,
    stamp: Mutex<Option<(i64, i64)>>,
    changed: watch::Sender<u64>,
}

impl Registry {
    /// Routes set up in code only (no configured providers are loaded until
    /// [`Registry::reload`]); `key` opens the stored providers' secrets.
    pub fn new(base: Router, key: Option<Key>, options: Options) -> Registry {
        let (changed, _) = watch::channel(0);
        Registry { current: RwLock::new(Arc::new(base.clone())), base, key, options, stamp: Mutex::new(None), changed }
    }

    /// The routes in force now.
    pub fn current(&self) -> Arc<Router> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The workspace key (to seal secrets of new providers).
    pub fn key(&self) -> Option<&Key> {
        self.key.as_ref()
    }

    /// The options every deliverer is built with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// A receiver told each time the routes change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Build the routes from the code's and the store's providers, now.
    pub async fn reload(&self, store: &Store) -> Result<(), store::Error> {
        let stamp = store::providers_stamp(store.reader()).await?;
        let configs = store::load_provider_configs(store.reader(), self.key.as_ref()).await?;
        let mut router = self.base.clone();
        for c in configs {
            router = match c {
                Ok(config) => match config.check(&self.options) {
                    Ok(deliverer) => router.provider(&config, deliverer),
                    Err(e) => {
                        tracing::error!(provider = %config.id, error = %e, "Provider is misconfigured; its messages wait");
                        broken(router, &config, e.to_string())
                    }
                },
                Err(u) => {
                    tracing::error!(provider = %u.id, error = %u.error, "Provider cannot be loaded; its messages wait");
                    router.misconfigured(&u)
                }
            };
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(router);
        *self.stamp.lock().unwrap_or_else(|p| p.into_inner()) = Some(stamp);
        self.changed.send_modify(|v| *v += 1);
        Ok(())
    }

    /// Reload when the stored providers changed since the last load; true if it did.
    pub async fn refresh(&self, store: &Store) -> Result<bool, store::Error> {
        let stamp = store::providers_stamp(store.reader()).await?;
        if *self.stamp.lock().unwrap_or_else(|p| p.into_inner()) == Some(stamp) {
            return Ok(false);
        }
        self.reload(store).await?;
        Ok(true)
    }
}

fn broken(router: Router, config: &Config, error: String) -> Router {
    router.provider(config, Arc::new(Misconfigured { provider: config.id.clone(), error }))
}
