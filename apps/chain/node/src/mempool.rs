//! Transactions waiting for a block.

use std::collections::BTreeMap;

use crate::ledger::{Ledger, TxError};
use crate::tx::{Transaction, TxId};

/// Pending transactions, by id.
#[derive(Default)]
pub struct Mempool {
    pending: BTreeMap<TxId, Transaction>,
    limit: usize,
}

impl Mempool {
    /// A pool of at most `limit` transactions.
    pub fn new(limit: usize) -> Self {
        Mempool {
            pending: BTreeMap::new(),
            limit,
        }
    }

    /// Accepts `tx` if it is valid on `tip` (the followed branch's ledger);
    /// a known transaction is accepted again without change.
    pub fn submit(&mut self, tx: Transaction, tip: &Ledger) -> Result<TxId, SubmitError> {
        let id = tx.id();
        if self.pending.contains_key(&id) {
            return Ok(id);
        }
        tip.validate(&tx).map_err(SubmitError::Invalid)?;
        if self.pending.len() >= self.limit {
            return Err(SubmitError::Full(self.limit));
        }
        self.pending.insert(id, tx);
        Ok(id)
    }

    /// Transactions that are valid together on `tip`, in id order, at most
    /// `max`; those no longer valid there (included, or spent on this
    /// branch) are dropped.
    pub fn select(&mut self, tip: &Ledger, max: usize) -> Vec<Transaction> {
        let mut scratch = tip.clone();
        let mut chosen = Vec::new();
        let mut stale = Vec::new();
        for (id, tx) in &self.pending {
            if chosen.len() == max {
                break;
            }
            match scratch.apply(tx) {
                Ok(()) => chosen.push(tx.clone()),
                Err(_) => stale.push(*id),
            }
        }
        for id in stale {
            self.pending.remove(&id);
        }
        chosen
    }

    /// Keeps only what is still valid on `tip` after the tip moved: what the
    /// followed branch included goes, and what a reorg took out of it (a
    /// transaction on an abandoned fork) stays, to be included again.
    pub fn prune(&mut self, tip: &Ledger) {
        self.pending.retain(|_, tx| tip.validate(tx).is_ok());
    }

    /// How many are pending.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether none is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Why a transaction was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// Invalid on the followed branch.
    #[error("rejected: {0}")]
    Invalid(TxError),
    /// No room.
    #[error("the mempool is full ({0} transactions); try again later")]
    Full(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use crate::tx::Output;

    #[test]
    fn conflicting_transactions_are_refused_or_dropped_and_valid_ones_selected() {
        let (alice, bob) = (Keypair::named("alice"), Keypair::named("bob"));
        let ledger = Ledger::genesis(&[(alice.address(), 10), (bob.address(), 10)]);
        let (a, _) = ledger.utxos_of(&alice.address())[0];
        let (b, _) = ledger.utxos_of(&bob.address())[0];
        let pay = |point, key: &Keypair, to: &Keypair| {
            Transaction::signed(
                vec![point],
                vec![Output {
                    owner: to.address(),
                    amount: 10,
                }],
                &[key],
            )
        };
        let mut pool = Mempool::new(10);
        let first = pool.submit(pay(a, &alice, &bob), &ledger).unwrap();
        assert_eq!(
            pool.submit(pay(a, &alice, &bob), &ledger),
            Ok(first),
            "resubmitting is harmless"
        );
        // A second spend of the same coin is valid on the ledger alone, so it
        // is pending too; selection keeps only one of the two.
        pool.submit(pay(a, &alice, &alice), &ledger).unwrap();
        pool.submit(pay(b, &bob, &alice), &ledger).unwrap();
        let chosen = pool.select(&ledger, 10);
        assert_eq!(chosen.len(), 2);
        let mut applied = ledger.clone();
        for tx in &chosen {
            applied.apply(tx).unwrap();
        }
        assert_eq!(pool.len(), 2, "the conflicting spend was dropped");
        pool.prune(&ledger);
        assert_eq!(pool.len(), 2, "not included on the tip yet: kept");
        pool.prune(&applied);
        assert!(pool.is_empty(), "included on the tip: gone");
        let bad = Transaction::signed(
            vec![a],
            vec![Output {
                owner: bob.address(),
                amount: 10,
            }],
            &[&bob],
        );
        assert!(matches!(
            pool.submit(bad, &ledger),
            Err(SubmitError::Invalid(TxError::BadSignature(0)))
        ));
    }
}
