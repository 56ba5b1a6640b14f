//! The one loading step: every file and environment variable a config names
//! outside itself (secret files and variables, listener certificates and
//! keys, CA bundles) is read here, before validation. Validation then reads
//! only the YAML and these bytes, so it is pure and reports every problem.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::raw::RawConfig;

/// What the config's files and variables held when it was loaded. Bytes
/// are wiped when dropped: secret files are among them.
#[derive(Default)]
pub struct Inputs {
    base_dir: PathBuf,
    files: HashMap<PathBuf, Result<Zeroizing<Vec<u8>>, String>>,
    env: HashMap<String, Option<Zeroizing<String>>>,
}

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: the values are secrets and keys.
        f.debug_struct("Inputs").field("files", &self.files.keys()).field("env", &self.env.keys()).finish()
    }
}

impl Inputs {
    /// Reads everything `raw` names; relative paths resolve against `base_dir`.
    pub fn read(raw: &RawConfig, base_dir: &Path) -> Self {
        let mut inputs = Self { base_dir: base_dir.to_owned(), ..Self::default() };
        for (_, secret) in &raw.secrets.0 {
            if let Some(file) = &secret.file {
                inputs.read_file(&file.value);
            }
            if let Some(var) = &secret.env {
                let value = std::env::var(&var.value).ok().map(Zeroizing::new);
                inputs.env.insert(var.value.clone(), value);
            }
        }
        for tls in raw.listeners.iter().filter_map(|l| l.tls.as_ref()) {
            for path in [Some(&tls.cert), Some(&tls.key), tls.client_ca.as_ref()].into_iter().flatten() {
                inputs.read_file(&path.value);
            }
        }
        for ca in raw.upstreams.0.iter().filter_map(|(_, u)| u.ca.as_ref()) {
            inputs.read_file(&ca.value);
        }
        if let Some(replay) = &raw.replay {
            for path in [&replay.ca, &replay.client_cert, &replay.client_key].into_iter().flatten() {
                inputs.read_file(&path.value);
            }
        }
        inputs
    }

    fn read_file(&mut self, relative: &str) {
        let full = self.base_dir.join(relative);
        let bytes = std::fs::read(&full).map(Zeroizing::new).map_err(|e| e.to_string());
        self.files.insert(full, bytes);
    }

    /// The full path of `relative`.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.base_dir.join(relative)
    }

    /// A file's bytes as loaded, or why it could not be read.
    pub fn file(&self, relative: &str) -> Result<&[u8], String> {
        match self.files.get(&self.path(relative)) {
            Some(Ok(bytes)) => Ok(bytes),
            Some(Err(why)) => Err(why.clone()),
            None => Err("not read when the config was loaded".into()),
        }
    }

    /// An environment variable's value (`None` when unset or not UTF-8).
    pub fn env(&self, var: &str) -> Option<&str> {
        self.env.get(var).and_then(Option::as_deref).map(String::as_str)
    }
}
