//! The workspace's secret key, and what it protects: provider secrets encrypted at rest
//! (XChaCha20-Poly1305) and links that must not be forged, such as unsubscribe links
//! (HMAC-SHA256 signatures).
//!
//! The key is 32 random bytes, written as 64 hex characters or unpadded/padded base64,
//! taken from `KAIROS_SECRET_KEY`. `kairos serve` without it creates one beside the
//! SQLite database on first start (and says so), so a local run needs no set-up.
//! Each use derives its own sub-key with HMAC, so a signature can never be replayed as
//! a ciphertext or for another purpose.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of a key.
pub const KEY_LEN: usize = 32;
/// Bytes of an XChaCha20 nonce.
const NONCE_LEN: usize = 24;
/// First byte of every ciphertext: the format, so it can change later.
const VERSION: u8 = 1;

/// The workspace's secret key.
#[derive(Clone)]
pub struct Key([u8; KEY_LEN]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([redacted])")
    }
}

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the secret key must be 32 bytes written as 64 hex characters or base64; this one is {0}")]
    Malformed(String),
}

/// Why a ciphertext could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the stored secret is not in a format this version of Kairos reads")]
    Format,
    #[error("the stored secret cannot be decrypted with this key (was KAIROS_SECRET_KEY changed?)")]
    WrongKey,
}

impl Key {
    /// A key from its text form: 64 hex characters, or base64 (standard or URL-safe,
    /// padded or not) of 32 bytes.
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        let t = text.trim();
        let bytes = if t.len() == 2 * KEY_LEN && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..KEY_LEN).map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).unwrap_or(0)).collect::<Vec<u8>>()
        } else {
            STANDARD
                .decode(t)
                .or_else(|_| STANDARD_NO_PAD.decode(t))
                .or_else(|_| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')))
                .map_err(|_| KeyError::Malformed("neither hex nor base64".into()))?
        };
        let array: [u8; KEY_LEN] =
            bytes.try_into().map_err(|b: Vec<u8>| KeyError::Malformed(format!("{} bytes long", b.len())))?;
        Ok(Key(array))
    }

    /// A new random key.
    pub fn generate() -> Key {
        let mut bytes = [0u8; KEY_LEN];
        let a = uuid::Uuid::new_v4();
        let b = uuid::Uuid::new_v4();
        bytes[..16].copy_from_slice(a.as_bytes());
        bytes[16..].copy_from_slice(b.as_bytes());
        // UUID v4 has 122 random bits each; hash them into a uniformly random 32 bytes.
        Key(derive_bytes(&bytes, "generate"))
    }

    /// The key's text form (64 hex characters), e.g. to store it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A sub-key for one purpose.
    fn derive(&self, purpose: &str) -> [u8; KEY_LEN] {
        derive_bytes(&self.0, purpose)
    }

    /// Encrypt `plain` for storage; `context` (e.g. the provider id) is bound to the
    /// ciphertext, so it cannot be moved to another record.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&self.derive("seal")).into());
        let nonce_bytes = {
            let mut n = [0u8; NONCE_LEN];
            n[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            n[16..].copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
            n
        };
        let nonce = XNonce::from_slice(&nonce_bytes);
        let sealed = cipher
            .encrypt(nonce, Payload { msg: plain, aad: context.as_bytes() })
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypt what [`Key::seal`] made with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(OpenError::Format);
        }
        let cipher = XChaCha20Poly1305::new((&self.derive("seal")).into());
        let nonce = XNonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        cipher
            .decrypt(nonce, Payload { msg: &sealed[1 + NONCE_LEN..], aad: context.as_bytes() })
            .map_err(|_| OpenError::WrongKey)
    }

    /// An URL-safe signature of `message` for `purpose` (e.g. `unsubscribe`).
    pub fn sign(&self, purpose: &str, message: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.derive(&format!("sign:{purpose}")))
            .expect("HMAC takes keys of any length");
        mac.update(message.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Whether `signature` is [`Key::sign`]'s for this purpose and message (in constant time).
    pub fn verify(&self, purpose: &str, message: &str, signature: &str) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(signature) else { return false };
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.derive(&format!("sign:{purpose}")))
            .expect("HMAC takes keys of any length");
        mac.update(message.as_bytes());
        mac.verify_slice(&given).is_ok()
    }
}

fn derive_bytes(key: &[u8], purpose: &str) -> [u8; KEY_LEN] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(b"kairos:");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn keys_parse_from_hex_and_base64_and_reject_other_lengths() {
        let k = Key::parse(HEX).unwrap();
        assert_eq!(k.to_hex(), HEX);
        let b64 = STANDARD.encode(k.0);
        assert_eq!(Key::parse(&b64).unwrap().0, k.0);
        assert_eq!(Key::parse(b64.trim_end_matches('=')).unwrap().0, k.0);
        assert!(matches!(Key::parse("abcd"), Err(KeyError::Malformed(m)) if m.contains("bytes")));
        assert!(Key::parse("not a key!").is_err());
        assert_eq!(format!("{k:?}"), "Key([redacted])");
        assert_ne!(Key::generate().0, Key::generate().0);
    }

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_context() {
        let k = Key::parse(HEX).unwrap();
        let sealed = k.seal("provider:p1", b"api-key-123");
        assert!(!sealed.windows(11).any(|w| w == b"api-key-123"), "the plain text is not in the ciphertext");
        assert_eq!(k.open("provider:p1", &sealed).unwrap(), b"api-key-123");
        assert_ne!(k.seal("provider:p1", b"api-key-123"), sealed, "a fresh nonce each time");
        assert_eq!(k.open("provider:p2", &sealed), Err(OpenError::WrongKey));
        assert_eq!(Key::generate().open("provider:p1", &sealed), Err(OpenError::WrongKey));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(k.open("provider:p1", &tampered), Err(OpenError::WrongKey));
        assert_eq!(k.open("provider:p1", &[9, 9]), Err(OpenError::Format));
    }

    #[test]
    fn signatures_verify_only_for_their_purpose_message_and_key() {
        let k = Key::parse(HEX).unwrap();
        let s = k.sign("unsubscribe", "c1:email");
        assert!(k.verify("unsubscribe", "c1:email", &s));
        assert!(!k.verify("unsubscribe", "c2:email", &s));
        assert!(!k.verify("other", "c1:email", &s));
        assert!(!Key::generate().verify("unsubscribe", "c1:email", &s));
        assert!(!k.verify("unsubscribe", "c1:email", "garbage!"));
    }
}
