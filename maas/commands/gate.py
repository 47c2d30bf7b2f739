"""`maas gate ...`: a gate that works with the network down (docs/GATES.md).

    maas gate sync   --url URL --gate GATE --key KEY [--state DIR] [--date YYYY-MM-DD]
    maas gate check  [--state DIR] (--qr PAYLOAD | --id-type T --id-number N | --face FILE | -)
                     [--online --key KEY]
    maas gate upload [--state DIR] --key KEY
    maas gate alerts [--limit N]          (operator: gate keys slowed for unknown ID cards)

`sync` uploads any queued taps, then downloads and checks the gate's manifest (kept encrypted in
the state folder, with the AES key derived from the gate key so `check` needs no key). `check`
decides offline from the manifest (QR payloads and ID cards; `-` reads one request per line from
stdin: a QR payload, or JSON {"qr": ...} | {"id_card": {"id_type", "number"}} | {"face": [...]}),
prints one JSON decision per line and queues each accept in taps.jsonl; exit 0 if every one was
accepted, 1 otherwise. Face templates are matched online only (`--online`): manifests carry no
face templates. `upload` sends the queue to POST /v1/gates/{gate}/taps. `--key` may be given as
$MAAS_GATE_KEY instead (keeps it out of the shell history); it is never written to disk.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = ["register"]


def register(subparsers: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    gate = subparsers.add_parser("gate", help="an offline gate: manifest, checks, tap upload").add_subparsers(
        dest="gate_command", required=True)

    def state(p: argparse.ArgumentParser) -> None:
        p.add_argument("--state", type=Path, default=Path(os.environ.get("MAAS_GATE_STATE", "maas-gate")),
                       help="folder of the manifest and the tap queue (default ./maas-gate, $MAAS_GATE_STATE)")

    def key(p: argparse.ArgumentParser, required: bool) -> None:
        p.add_argument("--key", default=os.environ.get("MAAS_GATE_KEY"),
                       required=required and not os.environ.get("MAAS_GATE_KEY"),
                       help="the gate's API key (default $MAAS_GATE_KEY)")

    p = gate.add_parser("sync", help="upload queued taps, then download and decrypt the manifest")
    state(p)
    key(p, True)
    p.add_argument("--url", required=True, help="maas base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--gate", required=True, help="this gate's id (as its key was created with)")
    p.add_argument("--date", help="the manifest's day (default: today, UTC)")
    p.set_defaults(func=cmd_sync)

    p = gate.add_parser("check", help="validate a QR payload, an ID card or a face template")
    state(p)
    key(p, False)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--qr", help="the scanned QR payload")
    what.add_argument("--id-type", choices=("prc_id", "passport", "hk_macao_permit", "taiwan_permit"))
    what.add_argument("--face", type=Path, help="file with a face template (JSON list of floats)")
    what.add_argument("stdin", nargs="?", choices=("-",), help="read one request per line from stdin")
    p.add_argument("--id-number", help="the ID card's number (with --id-type)")
    p.add_argument("--online", action="store_true", help="ask the server instead of the manifest")
    p.add_argument("--now", type=datetime.fromisoformat,
                   help="decide as at this time (ISO 8601 with offset; tests, replays); default: the clock")
    p.set_defaults(func=cmd_check)

    p = gate.add_parser("upload", help="send the queued taps (POST /v1/gates/{gate}/taps)")
    state(p)
    key(p, True)
    p.set_defaults(func=cmd_upload)

    p = gate.add_parser("alerts", help="gate keys slowed down for trying many unknown ID cards")
    add_common(p)
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=cmd_alerts)


# --- the state folder ----------------------------------------------------------------------


def _fail(message: str) -> int:
    print(f"maas gate: {message}", file=sys.stderr)
    return 2


def _config(state: Path) -> dict[str, Any]:
    path = state / "gate.json"
    if not path.exists():
        raise SystemExit(_fail(f"no manifest in {state}: run `maas gate sync` first"))
    return json.loads(path.read_text())


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _append(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append JSON lines to a queue file readable by this user only (until uploaded, an ID-card
    tap holds the number it read: its proof)."""
    if not rows:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def _taps(state: Path, name: str) -> list[dict[str, Any]]:
    path = state / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _http(method: str, url: str, key: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"null")
        except ValueError:
            return err.code, None


# --- commands ------------------------------------------------------------------------------


def _upload(state: Path, cfg: dict[str, Any], key: str) -> int:
    queued = _taps(state, "taps.jsonl")
    if not queued:
        print(json.dumps({"uploaded": 0}))
        return 0
    status, body = _http("POST", f"{cfg['url']}/v1/gates/{cfg['gate']}/taps", key, {"taps": queued})
    if status != 200:
        return _fail(f"upload refused ({status}): {(body or {}).get('code')}; taps kept")
    # what was uploaded is kept only as "used" until the next sync, without its proof (a QR
    # payload, an ID card number): the server has those now
    _append(state / "done.jsonl", [{k: v for k, v in t.items() if k not in ("qr", "id_card")}
                                   for t in queued])
    _write(state / "taps.jsonl", "")
    print(json.dumps({"uploaded": len(queued), **{k: body[k] for k in
                                                   ("recorded", "conflicts", "duplicates", "unknown")}}))
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from ticketing.checkin_errors import ManifestInvalid
    from ticketing.manifest import gate_key, open_manifest

    state: Path = args.state
    state.mkdir(parents=True, exist_ok=True)
    cfg = {"url": args.url.rstrip("/"), "gate": args.gate}
    if (state / "gate.json").exists() and _taps(state, "taps.jsonl"):
        if _upload(state, {**_config(state)}, args.key) != 0:
            return 2
    query = f"?date={args.date}" if args.date else ""
    status, env = _http("GET", f"{cfg['url']}/v1/gates/{args.gate}/manifest{query}", args.key)
    if status != 200:
        return _fail(f"manifest refused ({status}): {(env or {}).get('code')}")
    aes = gate_key(args.key, args.gate)
    try:
        m = open_manifest(env, aes)
    except ManifestInvalid as err:
        return _fail(f"{err.code}: {err.detail}")
    cfg["manifest_key"] = base64.b64encode(aes).decode()
    _write(state / "manifest.json", json.dumps(env))
    _write(state / "gate.json", json.dumps(cfg))
    _write(state / "done.jsonl", "")      # the new manifest knows every tap uploaded so far
    print(json.dumps({"gate": m.gate, "station": m.station, "date": m.date.isoformat(), "tz": m.tz,
                      "bookings": len(m.entries), "id_cards": len(m.ids),
                      "revoked": len(m.revoked)}))
    return 0


class _Now:
    def __init__(self, fixed: datetime | None) -> None:
        if fixed is not None and fixed.tzinfo is None:
            raise SystemExit(_fail("--now needs an offset, e.g. 2026-12-01T06:20:00+08:00"))
        self.fixed = fixed

    def now(self) -> datetime:
        return self.fixed.astimezone(timezone.utc) if self.fixed else datetime.now(timezone.utc)


def _validator(state: Path, cfg: dict[str, Any], now: datetime | None) -> Any:
    from ticketing.gate import GateValidator, OfflineTap
    from ticketing.manifest import open_manifest

    env = json.loads((state / "manifest.json").read_text())
    gate = GateValidator(open_manifest(env, base64.b64decode(cfg["manifest_key"])), _Now(now))
    for t in _taps(state, "done.jsonl") + _taps(state, "taps.jsonl"):
        card = t.get("id_card")
        gate.remember(OfflineTap(t["tap_id"], cfg["gate"], t["booking"], int(t["leg"]),
                                 datetime.fromisoformat(t["at"]), t.get("step"), t.get("passenger"),
                                 t.get("qr"), (card["id_type"], card["number"]) if card else None))
    return gate


def _requests(args: argparse.Namespace) -> Iterable[dict[str, Any]]:
    if args.qr is not None:
        yield {"qr": args.qr}
    elif args.id_type is not None:
        if not args.id_number:
            raise SystemExit(_fail("--id-type needs --id-number"))
        yield {"id_card": {"id_type": args.id_type, "number": args.id_number}}
    elif args.face is not None:
        yield {"face": json.loads(args.face.read_text())}
    else:
        for line in sys.stdin:
            line = line.strip()
            if line:
                yield json.loads(line) if line.startswith("{") else {"qr": line}


def _decide_offline(gate: Any, req: dict[str, Any]) -> dict[str, Any]:
    if "qr" in req:
        d = gate.validate(str(req["qr"]))
    elif "id_card" in req:
        d = gate.validate_id(str(req["id_card"]["id_type"]), str(req["id_card"]["number"]))
    else:
        return {"result": "reject", "code": "face_online_only", "booking": None, "leg": None,
                "passengers": None, "passenger": None}
    out = {"result": d.result, "code": d.code, "booking": d.booking, "leg": d.leg,
           "passengers": d.passengers, "passenger": d.passenger}
    if d.replaced_by is not None:   # code replaced: the leg to board instead, as online
        out["replaced_by"] = d.replaced_by.as_json()
    for k in ("valid_from", "valid_until"):   # local to the station, as the server answers
        if getattr(d, k) is not None:
            out[k] = getattr(d, k).isoformat()
    return out


def cmd_check(args: argparse.Namespace) -> int:
    state: Path = args.state
    cfg = _config(state)
    all_ok = True
    gate = None if args.online else _validator(state, cfg, args.now)
    for req in _requests(args):
        if args.online:
            if not args.key:
                return _fail("--online needs --key (or $MAAS_GATE_KEY)")
            status, out = _http("POST", f"{cfg['url']}/v1/gates/{cfg['gate']}/validate", args.key, req)
            if status != 200:
                out = {"result": "reject", "code": (out or {}).get("code", f"http_{status}")}
        else:
            before = len(gate.taps)
            out = _decide_offline(gate, req)
            _append(state / "taps.jsonl", [tap.as_json() for tap in gate.taps[before:]])
        all_ok = all_ok and out["result"] == "accept"
        print(json.dumps(out), flush=True)
    return 0 if all_ok else 1


def cmd_upload(args: argparse.Namespace) -> int:
    return _upload(args.state, _config(args.state), args.key)


def cmd_alerts(args: argparse.Namespace) -> int:
    from maas.commands.common import backends, run, settings_from_args
    from ticketing.idcard_store import list_probe_alerts

    async def main() -> int:
        async with backends(settings_from_args(args)) as (pool, _):
            rows = await list_probe_alerts(pool, args.limit)
        for r in rows:
            print(json.dumps({k: (v.isoformat() if hasattr(v, "isoformat") else v)
                              for k, v in r.items()}))
        return 0

    return run(main)
