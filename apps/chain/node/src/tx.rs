//! UTXO transactions signed with ed25519.

use serde::{Deserialize, Serialize};

use crate::crypto::{Address, Hash32, Keypair, Signature};

/// A transaction's id: the hash of its inputs and outputs (not of its
/// signatures, so it cannot be changed by re-signing).
pub type TxId = Hash32;

/// An output of an earlier transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OutPoint {
    /// The transaction.
    pub tx: TxId,
    /// Which of its outputs.
    pub index: u32,
}

/// Value paid to an owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// Who may spend it.
    pub owner: Address,
    /// How much.
    pub amount: u64,
}

/// Spends outputs and creates new ones; each input is signed by its owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// What it spends.
    pub inputs: Vec<OutPoint>,
    /// What it creates.
    pub outputs: Vec<Output>,
    /// One signature per input, in order, over [`Transaction::signing_bytes`].
    pub signatures: Vec<Signature>,
}

impl Transaction {
    /// A transaction with every input signed by the key at the same position.
    pub fn signed(inputs: Vec<OutPoint>, outputs: Vec<Output>, keys: &[&Keypair]) -> Self {
        let mut tx = Transaction {
            inputs,
            outputs,
            signatures: Vec::new(),
        };
        let message = tx.signing_bytes();
        tx.signatures = keys.iter().map(|key| key.sign(&message)).collect();
        tx
    }

    /// What is signed: the inputs and outputs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&(&self.inputs, &self.outputs)).expect("plain data serializes")
    }

    /// Its id.
    pub fn id(&self) -> TxId {
        Hash32::of(&self.signing_bytes())
    }

    /// Total value created.
    pub fn output_total(&self) -> Option<u64> {
        self.outputs
            .iter()
            .try_fold(0u64, |sum, o| sum.checked_add(o.amount))
    }
}
