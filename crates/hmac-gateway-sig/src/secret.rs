//! Key material that never prints its bytes.

use std::fmt;

use zeroize::Zeroizing;

/// Key material. `Debug` shows only the length, and the bytes are wiped when
/// dropped.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Takes ownership of `bytes`; they are wiped when the `Secret` drops.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A key nobody holds: what a driver checks when a key id is unknown, so
    /// the answer costs the same work as a wrong MAC.
    pub fn unknown() -> Self {
        Self::new(vec![0; 32])
    }

    /// The key's bytes, for a MAC.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}
