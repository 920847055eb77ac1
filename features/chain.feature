@chain
Feature: Forking chain with wallets
  Nodes produce blocks on competing branches and settle on one; wallets
  pay each other, and the wallet projection follows every reorg.

  Scenario: Nodes converge after a restart
    Given a chain network of 3 nodes
    Then within 30 seconds every node reaches height 5
    When node-1 is restarted
    Then within 20 seconds node-1 is ready
    And within 40 seconds every node shares one final block at height 10 or above
    And no final block was reverted or contradicted

  Scenario: A wallet transfer is included 3 deep on every node
    Given a chain network of 3 nodes
    And within 30 seconds every node reaches height 3
    When transfers run for 6 seconds
    Then within 40 seconds every accepted transfer is 3 deep on every node
    And every head holds the genesis supply

  # The cut side grows about 3 blocks a second; finality 100 deep keeps
  # its branch open to the reorg for the cut, its confirmation and the
  # transfers (a branch cut off longer than that can never be taken).
  @compose
  Scenario: Balances stay right across a reorg
    Given a chain network of 3 nodes with finality depth 100
    And within 60 seconds every node reaches height 3
    When node-2 is cut off from the rest
    And transfers run for 10 seconds
    And the partition heals
    Then within 60 seconds a node reorganized 2 or more blocks
    And within 60 seconds every accepted transfer is 3 deep on every node
    And every head holds the genesis supply
    And no final block was reverted or contradicted

  # Groups: validators produce; RPC nodes follow them, serve the chain and
  # relay the transfers sent to them.
  Scenario: RPC nodes follow the validators and relay transfers
    Given a network of 3 validators and 1 RPC node
    Then within 30 seconds every node reaches height 5
    When transfers run through the RPC nodes for 6 seconds
    Then within 40 seconds every accepted transfer is 3 deep on every node
    And no final block was reverted or contradicted

  @compose
  Scenario: RPC nodes cut off from the validators stall, then catch up
    Given a network of 3 validators and 2 RPC nodes
    Then within 60 seconds every node reaches height 5
    When rpc-0 and rpc-1 are cut off from the validators
    Then within 20 seconds the validators are 15 blocks ahead of the RPC nodes
    When the partition heals
    Then within 40 seconds every node shares one final block at height 30 or above
    And no final block was reverted or contradicted
