//! The settings a running process cannot change: worker threads, the admin
//! listener, the replay store and the connection cap per listener. They are
//! kept apart from the reloadable [`Config`](super::Config), so a reloaded
//! generation never describes a store or a thread pool that is not running.

use std::fmt;
use std::net::SocketAddr;

use super::Config;
use super::redis_settings::RedisSettings;

/// A config file as loaded: what takes effect at start-up only, and what a
/// reload replaces.
#[derive(Debug)]
pub struct Loaded {
    /// Read at start-up only.
    pub startup: Startup,
    /// Replaced on every reload.
    pub config: Config,
}

/// Read once at start-up; a reload that changes them is told they take
/// effect on restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Startup {
    /// Worker threads, each running its own event loop and upstream pools.
    pub workers: usize,
    /// Where `/healthz`, `/readyz` and `/metrics` are served, if anywhere.
    pub admin: Option<SocketAddr>,
    /// The replay store.
    pub replay: ReplaySettings,
    /// Open client connections per listener; further ones wait in the backlog.
    pub max_connections: usize,
}

impl Startup {
    /// The settings that differ between `self` (running) and `next`, by
    /// their config names.
    pub fn changed(&self, next: &Startup) -> Vec<&'static str> {
        let changed = [
            ("workers", self.workers != next.workers),
            ("admin", self.admin != next.admin),
            ("replay", self.replay != next.replay),
            ("limits.max_connections", self.max_connections != next.max_connections),
        ];
        changed.iter().filter(|(_, differs)| *differs).map(|(name, _)| *name).collect()
    }
}

/// What to do when Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Refuse the request (503): the default, since accepting it would let a
    /// replay through.
    Reject,
    /// Accept it and log: availability over replay protection, by choice.
    Allow,
}

/// Where replay claims are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayStoreKind {
    /// In this process: lost on restart, not shared between instances.
    Memory,
    /// Redis (one server or a cluster), shared by every instance that uses it.
    Redis(Box<RedisSettings>),
}

/// A string that may hold a credential (a Redis URL with a password):
/// `Debug` shows only whether it is set.
#[derive(Clone, PartialEq, Eq)]
pub struct RedactedString(String);

impl RedactedString {
    /// Wraps `value`.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value itself: for the code that connects with it, never for logs.
    pub fn expose_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RedactedString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The replay store and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySettings {
    /// Memory (default) or Redis.
    pub store: ReplayStoreKind,
    /// Live entries the memory store holds (default 1 000 000).
    pub capacity: usize,
}
