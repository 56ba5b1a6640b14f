//! The one-screen summary `hmac-gateway check` prints.

use std::fmt::Write as _;
use std::path::Path;

use super::{action_label, upstream_label};
use crate::config::{Loaded, ReplayStoreKind};

pub fn render(path: &Path, loaded: &Loaded) -> String {
    let (startup, config) = (&loaded.startup, &loaded.config);
    let mut out = String::new();
    let _ = writeln!(out, "{}: OK", path.display());
    // A Redis URL may carry a password and the nodes may come from a
    // secret: only the kind, TLS and node count are shown.
    let store = match &startup.replay.store {
        ReplayStoreKind::Memory => "memory".to_owned(),
        ReplayStoreKind::Redis(redis) => redis.describe(),
    };
    let admin = startup.admin.map_or_else(|| "off".to_owned(), |a| a.to_string());
    let _ = writeln!(
        out,
        "start-up (a reload does not change these): workers {}, replay store {store} (capacity {}), admin {admin}, \
         max_connections {} per listener",
        startup.workers, startup.replay.capacity, startup.max_connections
    );
    let _ = writeln!(out, "listeners:");
    for l in &config.listeners {
        let routes: Vec<&str> = l.routes.iter().map(|r| &*r.name).collect();
        let _ = writeln!(out, "  {:<12} {:<22} routes: {}", l.name, l.bind, routes.join(", "));
    }
    let _ = writeln!(out, "routes (first match wins):");
    for l in &config.listeners {
        for r in &l.routes {
            let host = r.host.as_deref().map(|h| format!("host {h} ")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<12} {:<10} {host}prefix {}  {}  -> {}",
                r.name,
                l.name,
                r.path_prefix,
                action_label(&r.action, config),
                upstream_label(&r.upstream)
            );
        }
    }
    let _ = writeln!(out, "secrets:");
    for s in &config.secrets {
        let _ = writeln!(out, "  {:<32} {:<28} resolves ({} bytes)", s.name, s.source.to_string(), s.len);
    }
    let _ = writeln!(out, "consumers:");
    for c in &config.consumers {
        let _ = writeln!(out, "  {:<20} keyids: {}", c.id, c.keyids.join(", "));
    }
    for w in &config.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}
