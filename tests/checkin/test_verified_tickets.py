"""Signed parts already verified skip the curve arithmetic, and nothing else changes: every
refusal of `verify` still comes out for anything not byte-identical under the same key."""

from __future__ import annotations

import uuid

import pytest

from ticketing.base45 import b45decode, b45encode
from ticketing.checkin_errors import BadSignature, UnknownKey
from ticketing.tokens import VerifiedTickets, parse_qr, sign_static, verify
from ticketing.totp import new_secret
from tests.api.checkin_fixtures import T0, journey, qr_for, signer


def _scan(key, booking=None):
    return parse_qr(qr_for(journey(booking or str(uuid.uuid4()), key_id=key.key_id), key, new_secret(), T0))


def test_same_answers_as_verify_for_genuine_altered_and_unknown():
    key = signer()
    keys = {key.key_id: key.private.public_key()}
    cache = VerifiedTickets()
    good = _scan(key)
    assert cache.verify(good, keys) == verify(good, keys)
    assert cache.verify(good, keys) == good.token and len(cache) == 1      # now from the cache
    raw = bytearray(b45decode(qr_for(journey(good.token.booking, key_id=key.key_id), key, new_secret(), T0)))
    for pos in (5, len(good.static) - 1, len(good.static) + 3):            # static, its end, signature
        bad = bytearray(raw)
        bad[pos] ^= 1
        with pytest.raises((BadSignature, UnknownKey)):
            cache.verify(parse_qr(b45encode(bytes(bad))), keys)
    with pytest.raises(UnknownKey):                                       # key retired: not in the map
        cache.verify(good, {})


def test_an_entry_counts_only_under_the_key_object_it_was_stored_with():
    key, stranger = signer(), signer()
    good = _scan(key)
    cache = VerifiedTickets()
    cache.verify(good, {key.key_id: key.private.public_key()})
    # another key under the same id (what a forger would need): verified, and refused
    with pytest.raises(BadSignature):
        cache.verify(good, {key.key_id: stranger.private.public_key()})
    # a reloaded map (new objects for the same key) verifies again, and passes
    assert cache.verify(good, {key.key_id: key.private.public_key()}) == good.token


def test_signed_here_is_known_good_and_the_cache_is_bounded():
    key = signer()
    public = key.private.public_key()
    cache = VerifiedTickets(size=3)
    tokens = [journey(str(uuid.uuid4()), key_id=key.key_id) for _ in range(5)]
    for t in tokens:
        cache.add(sign_static(t, key.private), public)
    assert len(cache) == 3
    forged = bytearray(sign_static(tokens[-1], key.private))
    forged[-1] ^= 1
    cache.add(bytes(forged), signer().private.public_key())   # stored under another object
    scanned = parse_qr(qr_for(tokens[-1], key, new_secret(), T0))
    scanned = type(scanned)(scanned.token, scanned.static, bytes(forged[len(scanned.static):]), scanned.codes)
    with pytest.raises(BadSignature):
        cache.verify(scanned, {key.key_id: public})


async def test_key_objects_outlive_reloads_until_the_key_changes(db, settings):
    """What VerifiedTickets remembers is tied to key objects: a reload of unchanged keys keeps
    them (so the memory is not lost every key_cache_s), a new key id brings its own."""
    from ticketing.keyring_store import KeyCache, rotate_signing_key

    t = [0.0]
    cache = KeyCache(settings.data_keys(), ttl_s=30, monotonic=lambda: t[0])
    async with db.acquire() as conn:
        first = await cache.signer(conn)
        held = (await cache.verification_keys(conn))[first.key_id]
        t[0] += 31
        await cache.signer(conn)
        assert (await cache.verification_keys(conn))[first.key_id] is held
        assert cache.cached_key(first.key_id) is held
        new_kid = await rotate_signing_key(conn, settings)
        t[0] += 31
        assert (await cache.signer(conn)).key_id == new_kid
        keys = await cache.verification_keys(conn)
    assert keys[first.key_id] is held and new_kid in keys
    good = _scan(first)
    tickets = VerifiedTickets()
    tickets.verify(good, keys)
    with pytest.raises(BadSignature):     # the new key under the old id would not pass
        tickets.verify(good, {first.key_id: keys[new_kid]})


class _Signer:
    """A private key's stand-in that counts signatures and may sign something else."""

    def __init__(self, key, wrong=False):
        self.key, self.wrong, self.calls = key, wrong, 0

    def sign(self, data):
        self.calls += 1
        return bytes(64) if self.wrong else self.key.sign(data)


def test_own_key_checks_by_signing_again_with_the_same_answers(monkeypatch):
    """Under our own key a signed part is checked by signing it again (deterministic Ed25519):
    genuine ones pass without a verification, anything else is verified as before."""
    import ticketing.tokens as tokens

    key = signer()
    public = key.private.public_key()
    keys = {key.key_id: public}
    verified = []
    real = tokens.verify
    monkeypatch.setattr(tokens, "verify", lambda s, k: verified.append(s) or real(s, k))
    own = _Signer(key.private)
    good = _scan(key)
    assert VerifiedTickets().verify(good, keys, (own, public)) == good.token
    assert own.calls == 1 and verified == []
    raw = bytearray(b45decode(qr_for(good.token, key, new_secret(), T0)))
    for pos in (len(good.static) - 1, len(good.static) + 3):                # static, signature
        bad = bytearray(raw)
        bad[pos] ^= 1
        with pytest.raises(BadSignature):
            VerifiedTickets().verify(parse_qr(b45encode(bytes(bad))), keys, (own, public))
    assert len(verified) == 2
    # a signature our signer would not make is verified (and a genuine one still passes)
    assert VerifiedTickets().verify(good, keys, (_Signer(key.private, wrong=True), public)) == good.token
    # own key given for another key object: not used
    other = _Signer(key.private)
    assert VerifiedTickets().verify(good, keys, (other, key.private.public_key())) == good.token
    assert other.calls == 0 and len(verified) == 4


async def test_own_key_is_the_loaded_signer_with_its_held_key_object(db, settings):
    from ticketing.keyring_store import KeyCache

    cache = KeyCache(settings.data_keys(), ttl_s=30)
    assert cache.own_key() is None                       # nothing loaded: no database here
    async with db.acquire() as conn:
        s = await cache.signer(conn)
        own = cache.own_key()
        assert own is not None and own[0] is s.private and own[1] is cache.cached_key(s.key_id)
        assert cache.own_key() is own


class _Counting:
    """A real connection that counts the statements sent through it."""

    def __init__(self, conn):
        self.conn, self.statements = conn, 0

    def __getattr__(self, name):
        attr = getattr(self.conn, name)
        if name in ("fetch", "fetchrow", "fetchval", "execute"):
            async def counted(*args, **kwargs):
                self.statements += 1
                return await attr(*args, **kwargs)
            return counted
        return attr


async def test_a_cold_key_cache_is_read_once_by_requests_arriving_together(db, settings):
    """A worker's first tokens and scans come together: one of them reads the keys, the others
    wait for it instead of each reading the same rows; a stale signer keeps signing while it
    is re-read."""
    import asyncio

    from ticketing.keyring_store import KeyCache

    t = [0.0]
    cache = KeyCache(settings.data_keys(), ttl_s=30, monotonic=lambda: t[0])
    async with db.acquire() as c1, db.acquire() as c2, db.acquire() as c3, db.acquire() as c4:
        await KeyCache(settings.data_keys(), ttl_s=30).signer(c1)   # the database's first key
        conns = [_Counting(c) for c in (c1, c2, c3, c4)]
        signers = await asyncio.gather(*(cache.signer(c) for c in conns))
        assert len({s.key_id for s in signers}) == 1
        assert sum(c.statements for c in conns) == 1
        t[0] += 31
        keysets = await asyncio.gather(*(cache.verification_keys(c) for c in conns))
        assert all(k is keysets[0] for k in keysets) and signers[0].key_id in keysets[0]
        assert sum(c.statements for c in conns) == 2
        again = await asyncio.gather(*(cache.signer(c) for c in conns))   # stale: one re-reads
        assert all(s.key_id == signers[0].key_id for s in again)
        assert sum(c.statements for c in conns) == 3
