@raft
Feature: Raft key-value cluster
  A QA engineer drives a Raft cluster step by step: start it, break it,
  and check that it elects, fails over and catches up without losing
  acknowledged writes.

  Scenario: A leader is elected on start
    Given a Raft cluster of 3 nodes
    Then within 20 seconds every node is ready
    And within 20 seconds a leader is elected
    And the cluster has 3 nodes

  Scenario: Leader failover under writes loses no acknowledged write
    Given a Raft cluster of 3 nodes
    And within 20 seconds a leader is elected
    When writes run for 10 seconds while the leader is killed every 4 seconds
    Then within 15 seconds a leader is elected
    And within 15 seconds every node has applied the same log
    And no acknowledged write is lost
    And what the clients saw is linearizable
    And at most one leader was seen per term

  Scenario: A restarted follower catches up
    Given a Raft cluster of 3 nodes
    And within 20 seconds a leader is elected
    When a follower is stopped
    And 20 keys are written
    And the follower is started
    Then within 20 seconds every node is ready
    And within 15 seconds every node has applied the same log
    And no acknowledged write is lost

  Scenario: The leader is killed and another takes over
    Given a Raft cluster of 3 nodes
    And within 20 seconds a leader is elected
    When the leader is killed
    Then within 10 seconds another node is elected leader
    When 5 keys are written
    And the old leader is started
    Then within 20 seconds every node is ready
    And within 15 seconds every node has applied the same log
    And no acknowledged write is lost

  @compose
  Scenario: A partitioned leader steps down and the majority goes on
    Given a Raft cluster of 3 nodes
    And within 30 seconds a leader is elected
    When the leader is cut off from the rest
    Then within 15 seconds another node is elected leader
    When 5 keys are written
    And the partition heals
    Then within 20 seconds the old leader follows the new leader
    And within 20 seconds every node has applied the same log
    And no acknowledged write is lost
    And at most one leader was seen per term
