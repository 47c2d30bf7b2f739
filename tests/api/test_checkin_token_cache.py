"""The worker keeps each booking's signed static part between token fetches; what the token is
made of is read on every fetch, so a change to the booking is never served stale."""

from __future__ import annotations

from datetime import timedelta

import pytest

from maas.clock import FrozenClock
from ticketing.keyring_store import rotate_signing_key
from ticketing.tokens import parse_qr
from tests.api.checkin_fixtures import T0, cancel_booking, cancel_leg, insert_booking
from tests.conftest import bearer

NOW = T0 + timedelta(hours=1, minutes=35)


@pytest.fixture
def clock():
    return FrozenClock(NOW)


async def _token(client, bid, tok):
    return await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))


async def test_a_cached_ticket_follows_leg_cancels_and_restores(client, db, make_account, clock):
    acc, tok = await make_account()
    bid = await insert_booking(db, acc)
    first = parse_qr((await (await _token(client, bid, tok)).json())["qr"])
    assert [leg.index for leg in first.token.legs] == [0, 1, 2]
    await cancel_leg(db, bid, 1)
    after = parse_qr((await (await _token(client, bid, tok)).json())["qr"])
    assert [leg.index for leg in after.token.legs] == [0, 2]
    await db.execute("UPDATE booking_legs SET status = 'confirmed' WHERE booking_id = $1", bid)
    again = parse_qr((await (await _token(client, bid, tok)).json())["qr"])
    assert again.static == first.static and again.signature == first.signature


async def test_a_cached_ticket_is_not_served_after_a_cancel(client, db, make_account):
    acc, tok = await make_account()
    bid = await insert_booking(db, acc)
    assert (await _token(client, bid, tok)).status == 200
    await cancel_booking(db, bid)
    r = await _token(client, bid, tok)
    assert r.status == 409 and (await r.json())["code"] == "booking_not_confirmed"


async def test_a_cached_ticket_follows_a_rescheduled_leg(client, db, make_account):
    acc, tok = await make_account()
    bid = await insert_booking(db, acc)
    before = parse_qr((await (await _token(client, bid, tok)).json())["qr"]).token.legs[1]
    await db.execute("UPDATE booking_legs SET departure = departure + interval '10 minutes'"
                     " WHERE booking_id = $1 AND leg_no = 1", bid)
    after = parse_qr((await (await _token(client, bid, tok)).json())["qr"]).token.legs[1]
    assert after.valid_from - before.valid_from == timedelta(minutes=10)


async def test_a_new_signing_key_signs_the_next_token(client, app, db, make_account, settings):
    from maas.api.checkin import checkin_state

    acc, tok = await make_account()
    bid = await insert_booking(db, acc)
    first = parse_qr((await (await _token(client, bid, tok)).json())["qr"])
    async with db.acquire() as conn:
        kid = await rotate_signing_key(conn, settings)
    checkin_state(app).keys.forget()      # as after key_cache_s
    after = parse_qr((await (await _token(client, bid, tok)).json())["qr"])
    assert (first.token.key_id, after.token.key_id) != (kid, kid) and after.token.key_id == kid


async def test_racing_first_tokens_carry_one_secret(client, db, make_account):
    import asyncio

    acc, tok = await make_account()
    bid = await insert_booking(db, acc)
    got = await asyncio.gather(*(_token(client, bid, tok) for _ in range(6)))
    qrs = {(await r.json())["qr"] for r in got}
    assert len(qrs) == 1
    assert await db.fetchval("SELECT count(*) FROM booking_secrets WHERE booking_id = $1", bid) == 1


async def test_a_refused_token_stores_no_secret(client, db, make_account):
    """The first token's read also stores the booking's secret, but only for its owner and a
    confirmed booking with a confirmed leg (what the token is then made of)."""
    acc, tok = await make_account()
    _, other = await make_account()
    mine = await insert_booking(db, acc)
    held = await insert_booking(db, acc, status="held")
    no_legs = await insert_booking(db, acc)
    await db.execute("UPDATE booking_legs SET status = 'cancelled' WHERE booking_id = $1", no_legs)
    assert (await _token(client, mine, other)).status == 404
    assert (await _token(client, held, tok)).status == 409
    assert (await _token(client, no_legs, tok)).status == 409
    assert await db.fetchval("SELECT count(*) FROM booking_secrets") == 0
    assert (await _token(client, mine, tok)).status == 200
    assert await db.fetch("SELECT booking_id, issued_at FROM booking_secrets") == [(mine, NOW)]


async def test_another_worker_serves_the_first_tokens_secret(client, app, db, make_account, settings,
                                                             clock):
    """A worker that did not make the secret (its cache is empty) reads it: the same codes and
    issue time, and no second secret."""
    from maas.services import checkin_of

    acc, tok = await make_account()
    bid = await insert_booking(db, acc)
    first = parse_qr((await (await _token(client, bid, tok)).json())["qr"])
    other = checkin_of(db, settings, clock.now)
    again = parse_qr((await other.current_qr(acc, bid)).qr)
    assert (again.static, again.codes) == (first.static, first.codes)
    assert await db.fetchval("SELECT count(*) FROM booking_secrets WHERE booking_id = $1", bid) == 1
