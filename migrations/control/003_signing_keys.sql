-- Token signing keys (ARCHITECTURE §7). Access and id tokens of every tenant are signed by the newest active key;
-- retired keys are still published at the JWKS endpoints until every token they signed has expired.
CREATE TABLE signing_key (
  kid         text PRIMARY KEY,
  alg         text NOT NULL CHECK (alg IN ('RS256')),
  public_jwk  jsonb NOT NULL,
  -- PKCS#8 PEM, or 'aes-256-gcm:<iv>:<tag>:<ciphertext>' (base64url) when HEARTH_KEY_SECRET is set
  private_key text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  retired_at  timestamptz
);
