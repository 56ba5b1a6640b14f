//! What the integration tests, benches and fuzz targets need from inside
//! the gateway, and nothing more: the rest of the internals stay private.
//! Not a stable API.

pub use crate::proxy::path::check_strict;
pub use crate::proxy::{fresh_nonce, unix_now};
