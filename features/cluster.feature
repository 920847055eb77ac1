@cluster
Feature: Growing and shrinking a cluster
  The generic steps work on any app's cluster: nodes join with chosen
  peers, leave, and are stopped and started.

  Scenario: A node joins with chosen peers and another leaves
    Given a chain network of 2 nodes
    Then within 20 seconds every node is ready
    When a new node joins with peers node-0
    Then the cluster has 3 nodes
    And within 20 seconds node-2 is ready
    And within 40 seconds every node shares one final block at height 3 or above
    When node-1 is removed
    Then the cluster has 2 nodes
    And within 40 seconds every node shares one final block at height 8 or above

  Scenario: A paused node is down until it is resumed
    Given a chain network of 2 nodes
    Then within 20 seconds every node is ready
    When node-1 is paused
    Then within 10 seconds node-1 is down
    When node-1 is resumed
    Then within 10 seconds node-1 is ready

  @compose
  Scenario: A node joins a container cluster and another leaves
    Given a chain network of 2 nodes
    Then within 30 seconds every node is ready
    When a new node joins with peers node-0
    Then within 30 seconds node-2 is ready
    And within 60 seconds every node shares one final block at height 3 or above
    When node-1 is removed
    Then the cluster has 2 nodes
    And within 60 seconds every node shares one final block at height 8 or above
