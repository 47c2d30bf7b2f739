"""The protection loop lives through a backend outage that surfaces as something other than
an OSError or a PostgresError (a connection cut while the pool set it up: asyncpg's
InternalClientError, maas/outages.py), and still raises what is no outage."""

from __future__ import annotations

import asyncpg
import pytest

from maas.appkeys import SETTINGS
from maas.protection import Protector
from maas.settings import Settings


async def test_the_loop_outlives_a_connection_cut_while_the_pool_set_it_up():
    app = {SETTINGS: Settings(protection={"poll_s": 0.01})}
    protector = Protector(app)   # type: ignore[arg-type]
    raised = []

    async def run_one() -> bool:
        if not raised:
            raised.append(asyncpg.InternalClientError(
                "cannot switch to state 11; another operation (2) is in progress"))
            raise raised[0]
        raised.append(ValueError("no outage"))
        raise raised[-1]

    protector.run_one = run_one   # type: ignore[method-assign]
    with pytest.raises(ValueError, match="no outage"):
        await protector.run()
    assert len(raised) == 2      # the outage was logged and the loop ran again


@pytest.mark.parametrize("exc, goes_on", [
    (asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in "
                                 "progress"), True),
    (asyncpg.InterfaceError("connection is closed"), True),
    (asyncpg.CannotConnectNowError("the database system is starting up"), True),
    (ConnectionRefusedError(111, "refused"), True),
    (ValueError("no outage"), False),
    (KeyError("bug"), False),
])
def test_every_background_loop_shares_one_judgement_of_an_outage(exc, goes_on):
    # protection, LISTEN's reconnect, the realtime puller and the event wake-ups all ask it
    from maas import event_wakeups, live, realtime
    from maas.outages import loop_outage
    assert loop_outage(exc) is goes_on
    for module in (event_wakeups, live, realtime):
        assert module.loop_outage is loop_outage
