"""`maas keys ...`: API keys, the ticket-signing key and the data-at-rest keys.

    maas keys create --role R [--operator ID] [--gate ID --station FEED:STOP_ID] [--name N]
    maas keys list | revoke KEY_ID
    maas keys rotate-signing         new ticket-signing key; earlier keys keep verifying
    maas keys rotate-data            re-encrypt personal data under the active data key
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from maas import auth
from maas.commands.common import backends, run, settings_from_args

__all__ = ["register"]


def register(subparsers: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    keys = subparsers.add_parser("keys", help="API keys").add_subparsers(
        dest="keys_command", required=True)
    p = keys.add_parser("create", help="create a key; prints it alone on the last line")
    add_common(p)
    p.add_argument("--role", required=True, choices=auth.ROLES)
    p.add_argument("--operator", help="operator id (operator keys)")
    p.add_argument("--gate", help="gate id (gate keys)")
    p.add_argument("--station", help="FEED:STOP_ID of the gate's station (gate keys)")
    p.add_argument("--name", help="a label")
    p.add_argument("--new-operator", action="store_true",
                   help="allow an --operator that has published no feed yet (its first publish claims its feeds)")
    p.set_defaults(func=cmd_create)
    p = keys.add_parser("list", help="list keys (never their secrets)")
    add_common(p)
    p.set_defaults(func=cmd_list)
    p = keys.add_parser("revoke", help="revoke a key by id")
    add_common(p)
    p.add_argument("key_id")
    p.set_defaults(func=cmd_revoke)
    p = keys.add_parser("rotate-signing", help="new ticket signing key; old ones keep verifying")
    add_common(p)
    p.set_defaults(func=cmd_rotate_signing)
    p = keys.add_parser(
        "rotate-data",
        help="re-encrypt personal data under the active data key (after MAAS_SECRET_KEYS gets a new first key)",
    )
    add_common(p)
    p.set_defaults(func=cmd_rotate_data)


def cmd_create(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with backends(settings_from_args(args)) as (pool, _):
            if args.role == "operator" and args.operator and not args.new_operator:
                await _check_operator(pool, args.operator)
            if args.role == "gate" and args.station and ":" in args.station:
                await _check_station(pool, args.station)
            key_id, secret = await auth.create_key(
                pool, args.role, operator=args.operator, gate=args.gate, station=args.station, name=args.name
            )
        print(f"created {args.role} key {key_id}", file=sys.stderr)
        print(secret)
        return 0

    return run(main)


class UnknownName(Exception):
    code, status = "unknown_operator", 400

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


async def _check_operator(pool: Any, operator: str) -> None:
    from feeds.store import feed_operators

    known = await feed_operators(pool)
    if operator not in known:
        listed = "; ".join(f"{op} (feeds {', '.join(feeds)})" for op, feeds in known.items()) or "none yet"
        raise UnknownName("unknown_operator",
                          f"no operator {operator!r} has published a feed; operators: {listed}. "
                          f"Pass --new-operator for an operator that will publish its first feed")


async def _check_station(pool: Any, station: str) -> None:
    from feeds.store import load_active
    from routing.network import from_bytes

    feed, _, _ = station.partition(":")
    active = {name: compiled for name, _, compiled in await load_active(pool)}
    if feed not in active:
        raise UnknownName("unknown_station",
                          f"no active feed {feed!r} for station {station!r}; active feeds: "
                          f"{', '.join(sorted(active)) or 'none (import and activate one first)'}")
    net = from_bytes(active[feed])
    ids = list(net.stop_id)
    if station not in ids:
        stations = [f"{sid} ({net.stop_name[i]})" for i, sid in enumerate(ids)
                    if net.stop_location_type[i] == 1] or [f"{sid} ({net.stop_name[i]})" for i, sid in enumerate(ids)]
        more = f" and {len(stations) - 20} more" if len(stations) > 20 else ""
        raise UnknownName("unknown_station",
                          f"feed {feed!r} has no stop {station!r}; its stations: {', '.join(stations[:20])}{more}")


def cmd_list(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with backends(settings_from_args(args)) as (pool, _):
            for row in await auth.list_keys(pool):
                row = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
                print(json.dumps(row))
        return 0

    return run(main)


def cmd_revoke(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with backends(settings_from_args(args), need_redis=True) as (pool, redis):
            await auth.revoke_key(pool, args.key_id, redis)
        print(f"revoked {args.key_id}")
        return 0

    return run(main)


def cmd_rotate_signing(args: argparse.Namespace) -> int:
    async def main() -> int:
        from ticketing.keyring_store import rotate_signing_key

        settings = settings_from_args(args)
        async with backends(settings) as (pool, _):
            async with pool.acquire() as conn:
                kid = await rotate_signing_key(conn, settings)
        print(f"new ticket signing key {kid}; earlier keys still verify tickets already issued")
        return 0

    return run(main)


def cmd_rotate_data(args: argparse.Namespace) -> int:
    async def main() -> int:
        from maas.services import rotate_checkin_data, rotate_personal_data
        from ticketing.idcard_store import index_passengers

        settings = settings_from_args(args)
        async with backends(settings) as (pool, _):
            n = await rotate_personal_data(pool, settings)
            m = await rotate_checkin_data(pool, settings)
            ids = await index_passengers(pool, settings.data_keys())
        print(f"re-encrypted {n} passenger record(s) and {m} check-in secret(s) (TOTP secrets, "
              f"face templates, signing keys) under data key {settings.data_keys().active}; "
              f"{ids} ID index(es) (re)computed")
        return 0

    return run(main)
