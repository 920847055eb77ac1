Feature: Link and clock faults
  Faults that real networks and clocks cause, step by step: a leader that
  cannot hear, slow and lossy links, a clock that runs ahead.

  @compose
  Scenario: A leader that cannot hear is replaced and follows once it hears again
    Given a Raft cluster of 3 nodes
    And within 30 seconds a leader is elected
    When the leader cannot hear the others
    Then within 15 seconds another node is elected leader
    When 5 keys are written
    And the links are restored
    Then within 20 seconds the old leader follows the new leader
    And within 20 seconds every node has applied the same log
    And no acknowledged write is lost
    And at most one leader was seen per term

  @compose
  Scenario: Writes commit through a lossy link and a slow one
    Given a Raft cluster of 3 nodes
    And within 30 seconds a leader is elected
    When the link from node-0 to node-1 drops 10% of packets
    And the link from node-1 to node-2 is delayed by 30 ms +/- 5 ms
    And 5 keys are written
    And the links are restored
    Then within 20 seconds every node has applied the same log
    And no acknowledged write is lost

  @clocks
  Scenario: A chain node whose clock runs ahead, then behind, breaks no final block
    Given a chain network of 3 nodes
    And within 60 seconds every node reaches height 3
    When node-2's clock runs 0.3 seconds ahead
    Then within 30 seconds every node reaches height 30
    When node-2's clock runs 0.3 seconds behind
    Then within 30 seconds every node reaches height 60
    When node-2's clock is set right
    Then no final block was reverted or contradicted
