-- Check-in (issue 6): signing keys of journey tokens, per-booking TOTP secrets, gate taps
-- (online and uploaded offline), offline conflicts, face templates.
--
-- Conventions: bookings and legs come from 0200_bookings.sql ("bk_..." ids, leg_no 0-based);
-- times are timestamptz (UTC); every secret at rest is sealed with AES-256-GCM under a
-- data-at-rest key from settings (data_key_id stored beside it for rotation); blobs are
-- nonce(12) || ciphertext+tag.

-- Ed25519 keys that sign journey tokens and gate manifests. One is active (signs); every
-- key not retired verifies, so rotating never invalidates a ticket already issued.
CREATE TABLE signing_keys (
    key_id          text PRIMARY KEY,                -- short id carried inside every token
    public_key      bytea NOT NULL,                  -- raw 32-byte Ed25519 public key
    sealed_private  bytea NOT NULL,                  -- raw private key, sealed (AAD "maas.signing-key:<key_id>")
    data_key_id     text NOT NULL,                   -- data-at-rest key that sealed it
    active          boolean NOT NULL DEFAULT false,  -- the one key that signs new tokens
    created_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz                      -- set: no longer verifies (not used by rotation)
);
COMMENT ON TABLE signing_keys IS 'Ed25519 signing keys of tokens and manifests (maas keys rotate-signing)';
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (active) WHERE active;

-- The per-booking secret of the rotating code, created when the token is first asked for.
CREATE TABLE booking_secrets (
    booking_id     text PRIMARY KEY REFERENCES bookings(id) ON DELETE CASCADE,
    data_key_id    text NOT NULL,                    -- data-at-rest key that sealed it
    sealed_secret  bytea NOT NULL,                   -- 20-byte TOTP secret, sealed (AAD "maas.totp:<booking>")
    issued_at      timestamptz NOT NULL              -- the token's issue time (in the signed payload)
);
COMMENT ON TABLE booking_secrets IS 'TOTP secret per booking (sealed); only ever leaves inside an encrypted gate manifest';

-- Entry taps: at most ONE per booking leg (the unique key is what makes two racing gates
-- give exactly one accept). Online accepts insert here directly; offline taps are uploaded
-- and inserted here when they win (first tap wins; see tap_conflicts).
CREATE TABLE gate_taps (
    tap_id       text PRIMARY KEY,                   -- uuid; offline taps keep the gate's id
    booking_id   text NOT NULL,                      -- the booking
    leg_no       integer NOT NULL,                   -- the leg entered
    gate_id      text NOT NULL,                      -- gate that admitted
    station      text NOT NULL,                      -- the leg's boarding stop "feed:stop_id" (gate's station or a platform of it)
    method       text NOT NULL CHECK (method IN ('qr', 'face')),
    online       boolean NOT NULL,                   -- false: uploaded from an offline gate
    totp_step    bigint,                             -- the accepted code's step (qr)
    tapped_at    timestamptz NOT NULL,               -- when the gate admitted
    recorded_at  timestamptz NOT NULL,               -- when we stored it
    UNIQUE (booking_id, leg_no),
    FOREIGN KEY (booking_id, leg_no) REFERENCES booking_legs (booking_id, leg_no) ON DELETE CASCADE
);
COMMENT ON TABLE gate_taps IS 'The one admitting tap per booking leg (online or uploaded offline)';
CREATE INDEX gate_taps_gate ON gate_taps (gate_id, tapped_at);

-- Steps of rotating codes already accepted: an accepted code never admits again, at any gate.
CREATE TABLE used_steps (
    booking_id  text NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
    step        bigint NOT NULL,                     -- floor(unix / totp_step_s) of the accepted code
    gate_id     text NOT NULL,                       -- gate that accepted it
    used_at     timestamptz NOT NULL,
    PRIMARY KEY (booking_id, step)
);
COMMENT ON TABLE used_steps IS 'Accepted TOTP steps per booking: a replayed code is refused (code_expired)';

-- Every tap uploaded by an offline gate, once (idempotent by tap id), with what became of it.
CREATE TABLE offline_taps (
    tap_id       text PRIMARY KEY,                   -- the gate's uuid for the tap
    gate_id      text NOT NULL,                      -- uploading gate
    station      text NOT NULL,                      -- its station
    booking_id   text NOT NULL,
    leg_no       integer NOT NULL,
    totp_step    bigint,
    tapped_at    timestamptz NOT NULL,
    uploaded_at  timestamptz NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('recorded', 'conflict', 'unknown_leg'))
);
COMMENT ON TABLE offline_taps IS 'Taps uploaded by offline gates (POST /v1/gates/{gate}/taps), idempotent by tap id';

-- One ticket admitted twice (at two gates, at least one offline): the earlier tap wins.
CREATE TABLE tap_conflicts (
    id             bigserial PRIMARY KEY,
    booking_id     text NOT NULL,
    leg_no         integer NOT NULL,
    agency_id      text NOT NULL,                    -- operator of the leg "feed:agency_id"
    feed           text NOT NULL,                    -- its feed
    winner_tap_id  text NOT NULL,
    winner_gate    text NOT NULL,
    winner_at      timestamptz NOT NULL,
    loser_tap_id   text NOT NULL UNIQUE,             -- a tap loses at most once
    loser_gate     text NOT NULL,
    loser_at       timestamptz NOT NULL,
    detected_at    timestamptz NOT NULL
);
COMMENT ON TABLE tap_conflicts IS 'Double use detected from offline taps; GET /v1/operators/{id}/conflicts';
CREATE INDEX tap_conflicts_agency ON tap_conflicts (agency_id, detected_at DESC);
CREATE INDEX tap_conflicts_feed ON tap_conflicts (feed, detected_at DESC);

-- Enrolled face templates: a float vector from the app's face model (never an image),
-- sealed; erased at once on withdrawal and automatically after the retention window.
CREATE TABLE face_templates (
    account_id         text PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    dimension          integer NOT NULL,             -- vector length at enrolment
    data_key_id        text NOT NULL,                -- data-at-rest key that sealed it
    sealed_template    bytea NOT NULL,               -- float32 unit vector, sealed (AAD "maas.face:<account>")
    consent_operators  text[],                       -- NULL: consent for every operator; else "feed:agency_id" or feed ids
    consented_at       timestamptz NOT NULL,
    enrolled_at        timestamptz NOT NULL
);
COMMENT ON TABLE face_templates IS 'Face templates (sealed, consented), gallery of 1:N matching at gates';
