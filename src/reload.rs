//! What triggers a reload: SIGHUP, or a change to the config file or to any
//! file it references (secrets, certificates, CA bundles).
//!
//! Directories are watched rather than files: editors replace files by
//! renaming, and Kubernetes ConfigMap/Secret volumes swap a `..data` symlink
//! in the mount directory, so a watch on the file itself would go stale.
//! Events are debounced, and a reload only happens when a watched file's
//! identity or timestamps actually changed, so unrelated churn in the same
//! directory (or the gateway reading its own files) does not reload.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;

/// Quiet time after the last file event before the files are compared:
/// writers often touch a file several times in a row.
const DEBOUNCE: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Signal,
    FileChange,
}

/// Yields a [`Trigger`] whenever the running config should be reloaded.
pub struct Triggers {
    config: PathBuf,
    hangup: Signal,
    watcher: notify::RecommendedWatcher,
    events: mpsc::UnboundedReceiver<()>,
    dirs: BTreeSet<PathBuf>,
    files: Vec<PathBuf>,
    stamps: Vec<Option<Stamp>>,
}

impl std::fmt::Debug for Triggers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Triggers").field("config", &self.config).field("dirs", &self.dirs).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("cannot listen for SIGHUP: {0}")]
    Signal(std::io::Error),
    #[error("cannot watch for file changes: {0}")]
    Watch(#[from] notify::Error),
}

impl Triggers {
    /// Watches `config` and `referenced` (the files the loaded config read).
    pub fn new(config: &Path, referenced: &[PathBuf]) -> Result<Self, TriggerError> {
        let hangup = signal(SignalKind::hangup()).map_err(TriggerError::Signal)?;
        let (tx, events) = mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Reads (ours included) are not changes.
            if event.is_ok_and(|e| !matches!(e.kind, EventKind::Access(_))) {
                let _ = tx.send(());
            }
        })?;
        let mut triggers = Self {
            config: config.to_owned(),
            hangup,
            watcher,
            events,
            dirs: BTreeSet::new(),
            files: Vec::new(),
            stamps: Vec::new(),
        };
        triggers.track(referenced);
        Ok(triggers)
    }

    /// Waits for the next reason to reload.
    pub async fn next(&mut self) -> Trigger {
        loop {
            tokio::select! {
                _ = self.hangup.recv() => {
                    // Stamped before the reload reads the files, so a change
                    // made while it runs still differs afterwards.
                    self.stamps = stamp_all(&self.files);
                    return Trigger::Signal;
                }
                Some(()) = self.events.recv() => {
                    self.settle().await;
                    let stamps = stamp_all(&self.files);
                    if stamps != self.stamps {
                        self.stamps = stamps;
                        return Trigger::FileChange;
                    }
                }
            }
        }
    }

    /// Follows the files of the config now running (after a successful
    /// reload they may differ); a file new to the list is stamped now.
    pub fn track(&mut self, referenced: &[PathBuf]) {
        let files: Vec<PathBuf> = std::iter::once(self.config.clone()).chain(referenced.iter().cloned()).collect();
        // Files already tracked keep the stamp taken before the reload read
        // them: re-stamping now would swallow an edit made during the reload.
        self.stamps = files
            .iter()
            .map(|f| match self.files.iter().position(|g| g == f) {
                Some(i) => self.stamps.get(i).copied().flatten(),
                None => stamp(f),
            })
            .collect();
        self.files = files;
        let wanted: BTreeSet<PathBuf> = self.files.iter().flat_map(|f| watch_dirs(f)).collect();
        for gone in self.dirs.difference(&wanted) {
            let _ = self.watcher.unwatch(gone);
        }
        for dir in wanted.difference(&self.dirs) {
            if let Err(e) = self.watcher.watch(dir, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory; SIGHUP still reloads");
            }
        }
        self.dirs = wanted;
    }

    /// Waits until no event arrived for [`DEBOUNCE`].
    async fn settle(&mut self) {
        while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, self.events.recv()).await {}
    }
}

/// The directory holding `file`, and the one holding what it links to.
fn watch_dirs(file: &Path) -> Vec<PathBuf> {
    let parent = |p: &Path| match p.parent() {
        Some(d) if d.as_os_str().is_empty() => PathBuf::from("."),
        Some(d) => d.to_owned(),
        None => PathBuf::from("/"),
    };
    let mut dirs = vec![parent(file)];
    if let Ok(real) = std::fs::canonicalize(file) {
        dirs.push(parent(&real));
    }
    dirs
}

/// What tells one version of a file from the next without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp_all(files: &[PathBuf]) -> Vec<Option<Stamp>> {
    files.iter().map(|f| stamp(f)).collect()
}

/// Follows symlinks, so a swapped `..data` link changes the stamp.
fn stamp(file: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(file).ok()?;
    Some(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}
