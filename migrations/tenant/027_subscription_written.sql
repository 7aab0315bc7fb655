-- Each client write of a Subscription bumps `written` (src/subscriptions/outbox.ts) and leaves a worker's lease in
-- place: an attempt that began before the write (its claim returned the older value) then writes back only the
-- release of its lease, never a status, so the client's change stands — a new endpoint gets its handshake, `off` stays off.
ALTER TABLE subscription_state ADD COLUMN written integer NOT NULL DEFAULT 0;
