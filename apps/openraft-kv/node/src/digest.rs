//! Stable digest of a key-value map, to compare nodes without shipping maps.
//!
//! FNV-1a 64 is written out here rather than taken from `std`'s hasher
//! because the value must be identical across processes, builds and
//! versions: observers compare digests from different node processes.

use std::collections::BTreeMap;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `bytes`, continuing from `hash`.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// Hex FNV-1a 64 of the map's `key=value\n` lines in key order.
///
/// Equal maps give equal digests; the empty map gives the FNV offset basis.
pub fn kv_digest(map: &BTreeMap<String, String>) -> String {
    let hash = map.iter().fold(FNV_OFFSET, |hash, (key, value)| {
        let hash = fnv1a(hash, key.as_bytes());
        let hash = fnv1a(hash, b"=");
        let hash = fnv1a(hash, value.as_bytes());
        fnv1a(hash, b"\n")
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_fnv1a_vectors() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn equal_maps_equal_digests_and_order_of_insertion_is_irrelevant() {
        let mut a = BTreeMap::new();
        a.insert("x".to_string(), "1".to_string());
        a.insert("y".to_string(), "2".to_string());
        let mut b = BTreeMap::new();
        b.insert("y".to_string(), "2".to_string());
        b.insert("x".to_string(), "1".to_string());
        assert_eq!(kv_digest(&a), kv_digest(&b));
        b.insert("x".to_string(), "3".to_string());
        assert_ne!(kv_digest(&a), kv_digest(&b));
        assert_eq!(kv_digest(&BTreeMap::new()), "cbf29ce484222325");
    }
}
