-- Subscriptions (issue #20, README "Subscriptions"): durable, at-least-once delivery through an outbox.
--
-- subscription_state: one row per Subscription resource, the server's side of it: who created it (the token's
-- principal, kept so that deliveries never carry more than it may read), its kind, delivery status, the retry clock
-- and a worker's lease (claimed with FOR UPDATE SKIP LOCKED, so workers on every node share the work).
CREATE TABLE subscription_state (
  id            text PRIMARY KEY,
  owner         jsonb,
  status        text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'active', 'error', 'off')),
  failures      integer NOT NULL DEFAULT 0,
  next_at       timestamptz NOT NULL DEFAULT now(),
  lease_until   timestamptz,
  last_error    text,
  last_sent_at  timestamptz,
  heartbeat_s   integer,
  delivered_at  timestamptz
);

-- The event counter of each subscription, taken by the write that enqueues (its row lock orders events of one
-- subscription by commit; a separate table, so that a worker's lease never waits for a writer and the reverse).
CREATE TABLE subscription_counter (
  id    text PRIMARY KEY,
  last  bigint NOT NULL
);

-- The outbox: one row per (subscription, event), written in the transaction of the change that caused it. Delivered
-- rows stay for $events (replay) until the retention below removes them.
CREATE TABLE subscription_event (
  sub_id        text NOT NULL,
  number        bigint NOT NULL,
  at            timestamptz NOT NULL,
  topic         text,
  res_type      text NOT NULL,
  res_id        text NOT NULL,
  version       integer NOT NULL,
  action        text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
  delivered_at  timestamptz,
  withheld      text,
  PRIMARY KEY (sub_id, number)
);
CREATE INDEX subscription_event_pending ON subscription_event (sub_id, number) WHERE delivered_at IS NULL;

-- Workers on every node wake at commit (src/subscriptions/worker.ts LISTENs on hearth_subscriptions).
CREATE FUNCTION subscription_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('hearth_subscriptions', TG_TABLE_SCHEMA);
  RETURN NULL;
END
$$;
CREATE TRIGGER subscription_event_notify AFTER INSERT ON subscription_event
  FOR EACH STATEMENT EXECUTE FUNCTION subscription_event_notify();
CREATE TRIGGER subscription_state_notify AFTER INSERT OR UPDATE OF status ON subscription_state
  FOR EACH STATEMENT EXECUTE FUNCTION subscription_event_notify();
