@chain @sync
Feature: Sync to a public network
  A network the test does not control runs as the reference; its nodes are
  attached only as sources. A local node joins it, and a sync observer over
  the local node and the public peers derives the block most public peers
  agree on. One lying or silent peer must not move that target.

  Scenario: A local node joins and reaches the majority target
    Given a public chain network of 3 nodes
    And within 60 seconds the public network reaches final height 30
    When a local node joins the public network
    Then within 60 seconds the local node reaches the majority public target

  Scenario: A lying public peer does not move the majority target
    Given a public chain network of 3 nodes
    And a lying public peer on its own branch
    And within 60 seconds the public network reaches final height 20
    When a local node joins the public network
    Then within 60 seconds the local node reaches the majority public target
    And the majority target is not on public-liar's branch

  Scenario: A public peer that goes down does not hold the target back
    Given a public chain network of 3 nodes
    When a local node joins the public network
    Then within 60 seconds the local node reaches the majority public target
    When public node-2 is stopped
    Then within 30 seconds the majority target moves past public node-2's last final block
    And within 60 seconds the local node reaches the majority public target

  Scenario: A local node restarted behind the network catches up
    Given a public chain network of 3 nodes
    When a local node joins the public network
    Then within 60 seconds the local node reaches the majority public target
    When node-0 is stopped
    Then within 10 seconds node-0 is down
    When node-0 is started
    Then within 60 seconds the local node reaches the majority public target
