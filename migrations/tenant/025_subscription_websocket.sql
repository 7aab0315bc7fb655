-- Websocket binding tokens of the Subscriptions R5 Backport IG (issue #20 §1–§2): Subscription/$get-ws-binding-token
-- hands one out, a websocket client binds with it (`bind-with-token <token>`) on any node within its lifetime. Only the
-- SHA-256 of a token is kept.
CREATE TABLE subscription_ws_token (
  hash        bytea PRIMARY KEY,
  sub_ids     text[] NOT NULL,
  expires_at  timestamptz NOT NULL
);
