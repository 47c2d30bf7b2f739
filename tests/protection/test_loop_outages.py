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
