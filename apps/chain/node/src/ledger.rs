//! The unspent outputs at one block, and the rules a transaction must
//! follow to change them.

use std::collections::{BTreeMap, BTreeSet};

use crate::crypto::{Address, Hash32, Keypair, verify};
use crate::tx::{OutPoint, Output, Transaction};

/// Why a transaction is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Nothing spent.
    #[error("the transaction spends nothing")]
    NoInputs,
    /// Nothing created.
    #[error("the transaction creates no output")]
    NoOutputs,
    /// An output of zero.
    #[error("output {0} has amount 0")]
    ZeroOutput(usize),
    /// One output spent twice by the same transaction.
    #[error("input {0:?} appears twice")]
    DuplicateInput(OutPoint),
    /// Spent already, or never existed, on this branch.
    #[error("input {}:{} is unknown or already spent (double spend)", .0.tx.short(), .0.index)]
    UnknownOrSpent(OutPoint),
    /// Fewer signatures than inputs.
    #[error("input {0} is not signed")]
    MissingSignature(usize),
    /// A signature that is not the owner's.
    #[error("input {0} has a bad signature (not signed by the owner of the output it spends)")]
    BadSignature(usize),
    /// Value created from nothing, or destroyed.
    #[error("inputs total {inputs} but outputs total {outputs}; they must be equal")]
    ValueMismatch {
        /// Value spent.
        inputs: u64,
        /// Value created.
        outputs: u64,
    },
}

/// Genesis wallets when nothing else is said.
pub const DEFAULT_WALLETS: usize = 8;

/// What every genesis wallet starts with.
pub const GENESIS_AMOUNT: u64 = 1_000;

/// The key of genesis wallet `i` (`wallet-i`): nodes, workloads and tests
/// all derive the same one.
pub fn genesis_wallet(i: usize) -> Keypair {
    Keypair::named(&format!("wallet-{i}"))
}

/// Unspent outputs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    utxos: BTreeMap<OutPoint, Output>,
}

impl Ledger {
    /// The genesis ledger: one output per allocation.
    pub fn genesis(allocations: &[(Address, u64)]) -> Self {
        let tx = Hash32::of(b"genesis");
        let utxos = allocations
            .iter()
            .enumerate()
            .map(|(index, (owner, amount))| {
                (
                    OutPoint {
                        tx,
                        index: index as u32,
                    },
                    Output {
                        owner: *owner,
                        amount: *amount,
                    },
                )
            })
            .collect();
        Ledger { utxos }
    }

    /// The genesis of `wallets` genesis wallets ([`genesis_wallet`]), with
    /// [`GENESIS_AMOUNT`] each.
    pub fn genesis_wallets(wallets: usize) -> Self {
        let allocations: Vec<_> = (0..wallets)
            .map(|i| (genesis_wallet(i).address(), GENESIS_AMOUNT))
            .collect();
        Self::genesis(&allocations)
    }

    /// Every unspent output.
    pub fn utxos(&self) -> impl Iterator<Item = (&OutPoint, &Output)> {
        self.utxos.iter()
    }

    /// Checks `tx` against these outputs.
    pub fn validate(&self, tx: &Transaction) -> Result<(), TxError> {
        if tx.inputs.is_empty() {
            return Err(TxError::NoInputs);
        }
        if tx.outputs.is_empty() {
            return Err(TxError::NoOutputs);
        }
        if let Some(i) = tx.outputs.iter().position(|o| o.amount == 0) {
            return Err(TxError::ZeroOutput(i));
        }
        let mut seen = BTreeSet::new();
        let message = tx.signing_bytes();
        let mut inputs = 0u64;
        for (i, input) in tx.inputs.iter().enumerate() {
            if !seen.insert(*input) {
                return Err(TxError::DuplicateInput(*input));
            }
            let spent = self
                .utxos
                .get(input)
                .ok_or(TxError::UnknownOrSpent(*input))?;
            let signature = tx.signatures.get(i).ok_or(TxError::MissingSignature(i))?;
            if !verify(&spent.owner, &message, signature) {
                return Err(TxError::BadSignature(i));
            }
            inputs = inputs.saturating_add(spent.amount);
        }
        let outputs = tx.output_total().unwrap_or(u64::MAX);
        if inputs != outputs {
            return Err(TxError::ValueMismatch { inputs, outputs });
        }
        Ok(())
    }

    /// Validates and applies `tx`.
    pub fn apply(&mut self, tx: &Transaction) -> Result<(), TxError> {
        self.validate(tx)?;
        for input in &tx.inputs {
            self.utxos.remove(input);
        }
        let id = tx.id();
        for (index, output) in tx.outputs.iter().enumerate() {
            self.utxos.insert(
                OutPoint {
                    tx: id,
                    index: index as u32,
                },
                *output,
            );
        }
        Ok(())
    }

    /// What `owner` can spend.
    pub fn utxos_of(&self, owner: &Address) -> Vec<(OutPoint, Output)> {
        self.utxos
            .iter()
            .filter(|(_, o)| o.owner == *owner)
            .map(|(p, o)| (*p, *o))
            .collect()
    }

    /// `owner`'s balance.
    pub fn balance(&self, owner: &Address) -> u64 {
        self.utxos
            .values()
            .filter(|o| o.owner == *owner)
            .map(|o| o.amount)
            .sum()
    }

    /// All value in existence.
    pub fn total(&self) -> u64 {
        self.utxos.values().map(|o| o.amount).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Keypair, Keypair, Ledger) {
        let (alice, bob) = (Keypair::named("alice"), Keypair::named("bob"));
        let ledger = Ledger::genesis(&[(alice.address(), 100), (bob.address(), 50)]);
        (alice, bob, ledger)
    }

    fn pay(from: &Keypair, ledger: &Ledger, to: &Keypair, amount: u64) -> Transaction {
        let (point, output) = ledger.utxos_of(&from.address())[0];
        let mut outputs = vec![Output {
            owner: to.address(),
            amount,
        }];
        if output.amount > amount {
            outputs.push(Output {
                owner: from.address(),
                amount: output.amount - amount,
            });
        }
        Transaction::signed(vec![point], outputs, &[from])
    }

    #[test]
    fn a_signed_transfer_moves_value_and_conserves_the_total() {
        let (alice, bob, mut ledger) = setup();
        let tx = pay(&alice, &ledger, &bob, 30);
        ledger.apply(&tx).unwrap();
        assert_eq!(
            (
                ledger.balance(&alice.address()),
                ledger.balance(&bob.address())
            ),
            (70, 80)
        );
        assert_eq!(ledger.total(), 150);
    }

    #[test]
    fn spending_the_same_output_twice_is_a_double_spend() {
        let (alice, bob, mut ledger) = setup();
        let first = pay(&alice, &ledger, &bob, 30);
        let second = pay(&alice, &ledger, &bob, 40);
        ledger.apply(&first).unwrap();
        let err = ledger.apply(&second).unwrap_err();
        assert!(matches!(err, TxError::UnknownOrSpent(_)));
        assert!(err.to_string().contains("double spend"), "{err}");
        assert_eq!(ledger.total(), 150, "a refused transaction changes nothing");
    }

    #[test]
    fn a_signature_by_anyone_but_the_owner_is_refused() {
        let (alice, bob, ledger) = setup();
        let (point, _) = ledger.utxos_of(&alice.address())[0];
        let theft = Transaction::signed(
            vec![point],
            vec![Output {
                owner: bob.address(),
                amount: 100,
            }],
            &[&bob],
        );
        assert_eq!(ledger.validate(&theft), Err(TxError::BadSignature(0)));
        let mut unsigned = theft.clone();
        unsigned.signatures.clear();
        assert_eq!(
            ledger.validate(&unsigned),
            Err(TxError::MissingSignature(0))
        );
    }

    #[test]
    fn value_cannot_be_created_or_destroyed() {
        let (alice, bob, ledger) = setup();
        let (point, _) = ledger.utxos_of(&alice.address())[0];
        let mint = Transaction::signed(
            vec![point],
            vec![Output {
                owner: bob.address(),
                amount: 101,
            }],
            &[&alice],
        );
        assert_eq!(
            ledger.validate(&mint),
            Err(TxError::ValueMismatch {
                inputs: 100,
                outputs: 101
            })
        );
        let burn = Transaction::signed(
            vec![point],
            vec![Output {
                owner: bob.address(),
                amount: 99,
            }],
            &[&alice],
        );
        assert_eq!(
            ledger.validate(&burn),
            Err(TxError::ValueMismatch {
                inputs: 100,
                outputs: 99
            })
        );
        let twice = Transaction::signed(
            vec![point, point],
            vec![Output {
                owner: bob.address(),
                amount: 200,
            }],
            &[&alice, &alice],
        );
        assert_eq!(ledger.validate(&twice), Err(TxError::DuplicateInput(point)));
    }
}
