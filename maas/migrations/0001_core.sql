-- Core tables of the service: API keys and passenger accounts.

-- API keys: operators, gates, admins. Only the SHA-256 of the secret is stored.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,                 -- "key_..." shown in listings
    secret_hash  bytea NOT NULL UNIQUE,            -- sha256(secret)
    role         text NOT NULL CHECK (role IN ('admin', 'operator', 'gate')),
    operator_id  text,                              -- operator keys: the operator they act for
    gate_id      text,                              -- gate keys: the gate
    station      text,                              -- gate keys: "FEED:STOP_ID" of the gate's station
    name         text,                              -- free label
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,                       -- set: the key no longer authenticates
    CHECK (role <> 'operator' OR operator_id IS NOT NULL),
    CHECK (role <> 'gate' OR (gate_id IS NOT NULL AND station IS NOT NULL))
);

-- Passenger accounts (apps). The token is shown once at creation.
CREATE TABLE accounts (
    id          text PRIMARY KEY,                  -- "acc_..."
    token_hash  bytea NOT NULL UNIQUE,             -- sha256(token)
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
