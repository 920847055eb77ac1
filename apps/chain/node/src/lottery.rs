//! The slot leader lottery: in every slot each node draws locally; several
//! winners in one slot make forks, no winner makes an empty slot.

use crate::crypto::sha256;

/// The chance to win a slot with `stake` (a share of all stake, 0..=1) when
/// the active slot coefficient is `coefficient` (the chance that *some*
/// node wins a slot, when one node holds all stake): `1 - (1 - f)^stake`.
/// Splitting stake among nodes does not change the chance that a slot has
/// a winner.
pub fn win_probability(coefficient: f64, stake: f64) -> f64 {
    let (f, stake) = (coefficient.clamp(0.0, 1.0), stake.clamp(0.0, 1.0));
    1.0 - (1.0 - f).powf(stake)
}

/// Whether the node with `key` wins `slot`: a hash of the seed, the slot and
/// the key, read as a fraction, below the win probability. Every node can
/// check every other node's claim.
pub fn wins(seed: &[u8], slot: u64, key: &[u8], coefficient: f64, stake: f64) -> bool {
    let mut input = Vec::with_capacity(seed.len() + 8 + key.len());
    input.extend_from_slice(seed);
    input.extend_from_slice(&slot.to_be_bytes());
    input.extend_from_slice(key);
    let draw = u64::from_be_bytes(sha256(&input)[..8].try_into().expect("8 bytes"));
    (draw as f64 / u64::MAX as f64) < win_probability(coefficient, stake)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chance_grows_with_stake_and_coefficient() {
        assert_eq!(win_probability(0.5, 0.0), 0.0);
        assert!((win_probability(0.5, 1.0) - 0.5).abs() < 1e-12);
        assert!(win_probability(0.5, 0.2) < win_probability(0.5, 0.4));
        assert!(win_probability(0.2, 0.5) < win_probability(0.8, 0.5));
        assert_eq!(win_probability(1.0, 0.3), 1.0);
    }

    #[test]
    fn draws_are_deterministic_and_win_at_the_expected_rate() {
        assert_eq!(
            wins(b"seed", 7, b"node-1", 0.3, 0.5),
            wins(b"seed", 7, b"node-1", 0.3, 0.5)
        );
        let p = win_probability(0.3, 0.5);
        let won = (0..20_000)
            .filter(|slot| wins(b"seed", *slot, b"node-1", 0.3, 0.5))
            .count();
        let rate = won as f64 / 20_000.0;
        assert!((rate - p).abs() < 0.01, "rate {rate} vs {p}");
    }

    #[test]
    fn several_nodes_sometimes_win_the_same_slot_which_is_how_forks_arise() {
        let nodes: Vec<String> = (0..4).map(|i| format!("node-{i}")).collect();
        let winners = |slot: u64| {
            nodes
                .iter()
                .filter(|n| wins(b"seed", slot, n.as_bytes(), 0.8, 0.25))
                .count()
        };
        let slots: Vec<usize> = (0..2_000).map(winners).collect();
        assert!(slots.iter().any(|w| *w >= 2), "no slot had two winners");
        assert!(slots.contains(&0), "no slot was empty");
    }
}
