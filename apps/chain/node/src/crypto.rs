//! Hashes, ids, keys and signatures.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// 32 bytes shown and serialized as hex: block ids, transaction ids,
/// addresses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Hash32(sha256(bytes))
    }

    /// The first 8 hex digits, for people.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", self.short())
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = hex::decode(&text).map_err(serde::de::Error::custom)?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| {
            serde::de::Error::custom(format!("expected 32 bytes of hex, got `{text}`"))
        })?;
        Ok(Hash32(array))
    }
}

/// A wallet's address: its ed25519 public key.
pub type Address = Hash32;

/// A signature, serialized as hex.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sig:{}…", hex::encode(&self.0[..4]))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = hex::decode(&text).map_err(serde::de::Error::custom)?;
        let array: [u8; 64] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("expected 64 bytes of hex"))?;
        Ok(Signature(array))
    }
}

/// A wallet's signing key.
#[derive(Clone)]
pub struct Keypair(SigningKey);

impl Keypair {
    /// The key for a 32-byte seed (deterministic: tests and genesis wallets
    /// are reproducible).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Keypair(SigningKey::from_bytes(&seed))
    }

    /// A key derived from a name, for tests and scenarios (`wallet-3`).
    pub fn named(name: &str) -> Self {
        Self::from_seed(sha256(name.as_bytes()))
    }

    /// Its address.
    pub fn address(&self) -> Address {
        Hash32(self.0.verifying_key().to_bytes())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

/// Whether `signature` is `address`'s signature of `message`.
pub fn verify(address: &Address, message: &[u8], signature: &Signature) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(&address.0) else {
        return false;
    };
    key.verify(message, &ed25519_dalek::Signature::from_bytes(&signature.0))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_key_and_message() {
        let (alice, bob) = (Keypair::named("alice"), Keypair::named("bob"));
        let signature = alice.sign(b"pay bob 5");
        assert!(verify(&alice.address(), b"pay bob 5", &signature));
        assert!(!verify(&alice.address(), b"pay bob 50", &signature));
        assert!(!verify(&bob.address(), b"pay bob 5", &signature));
    }

    #[test]
    fn ids_round_trip_through_json_as_hex() {
        let id = Hash32::of(b"block");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json.len(), 66);
        assert_eq!(serde_json::from_str::<Hash32>(&json).unwrap(), id);
        assert!(
            serde_json::from_str::<Hash32>("\"abcd\"")
                .unwrap_err()
                .to_string()
                .contains("32 bytes")
        );
    }
}
