-- Turns of each booked target (issue #18 §3, src/workflows/scheduling.ts): every write that takes a Slot or a
-- person's or place's time inserts (target, the greatest turn it read + 1). Two writers that read the same state
-- insert the same key, so the second to commit fails and runs again from a fresh read: bookings read before their
-- transaction, take no lock, and are group-committed like plain creates. Older turns of a target are pruned.
CREATE TABLE booking_turn (
  target text   NOT NULL,
  turn   bigint NOT NULL,
  PRIMARY KEY (target, turn)
);
