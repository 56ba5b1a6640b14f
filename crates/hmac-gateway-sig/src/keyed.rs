//! Building an HMAC from a key: one place, no panic path.
//!
//! HMAC takes keys of any length (RFC 2104 section 2): a key longer than
//! the hash's block is hashed first, a shorter one is padded with zeros.
//! `KeyInit::new_from_slice` still returns a `Result` because the trait
//! serves fixed-key MACs too, which left every caller with an impossible
//! error arm. Doing the RFC 2104 step here gives the block-sized key that
//! the infallible `KeyInit::new` takes, so there is no arm at all.

use hmac::digest::block_api::EagerHash;
use hmac::digest::{Digest, Key};
use hmac::{Hmac, KeyInit as _};
use zeroize::Zeroize as _;

/// An HMAC keyed with `key`, of any length.
pub fn hmac<D: EagerHash + Digest>(key: &[u8]) -> Hmac<D> {
    let mut block = Key::<Hmac<D>>::default();
    if let Some(head) = block.get_mut(..key.len()) {
        head.copy_from_slice(key);
    } else {
        let hash = D::digest(key);
        let n = hash.len().min(block.len());
        block[..n].copy_from_slice(&hash[..n]);
    }
    let mac = Hmac::<D>::new(&block);
    block.as_mut_slice().zeroize();
    mac
}

#[cfg(test)]
mod tests {
    use ::hmac::{Hmac, KeyInit as _, Mac};
    use sha2::{Sha256, Sha512};

    fn both<D: super::EagerHash + super::Digest>(key: &[u8]) -> (Vec<u8>, Vec<u8>)
    where
        Hmac<D>: Mac,
    {
        let mut ours = super::hmac::<D>(key);
        ours.update(b"data");
        let mut reference = Hmac::<D>::new_from_slice(key).expect("HMAC takes any key length");
        reference.update(b"data");
        (ours.finalize().into_bytes().to_vec(), reference.finalize().into_bytes().to_vec())
    }

    #[test]
    fn matches_new_from_slice_for_every_key_length() {
        for len in [0, 1, 20, 32, 63, 64, 65, 127, 128, 129, 300] {
            let key: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).expect("small")).collect();
            let (ours, reference) = both::<Sha256>(&key);
            assert_eq!(ours, reference, "sha256, {len}-byte key");
            let (ours, reference) = both::<Sha512>(&key);
            assert_eq!(ours, reference, "sha512, {len}-byte key");
        }
    }
}
