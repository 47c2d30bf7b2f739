"""Feeds: operators publish GTFS zips, read the validation report, activate a version.

The upload is streamed to a temporary file with a byte limit (Content-Length is checked
first), never read whole into memory; then feeds.ingest does the rest.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import datetime
from typing import Any, AsyncIterator

from aiohttp import web
from pydantic import BaseModel, Field

from feeds import store
from feeds.errors import (
    EmptyArchive,
    FeedHasErrors,
    FeedOwnedByOtherOperator,
    FeedVersionNotFound,
    UploadTooLarge,
)
from feeds.ingest import activate, check_feed_name, import_feed, parse_board_times
from maas.appkeys import CLOCK, DB, LIVE, SETTINGS
from maas.domain_metrics import DOMAIN_METRICS
from maas.errors import InvalidParameter
from maas.auth import Principal
from maas.http import Router, json_response, principal_of
from maas.settings import FeedSettings

router = Router(tag="feeds")

# Uploads validated/compiled at once in this process (FeedSettings.max_concurrent_imports).
IMPORT_SLOTS = web.AppKey("feeds_import_slots", asyncio.Semaphore)

_CHUNK = 1 << 16


async def cleanup_ctx(app: web.Application) -> AsyncIterator[None]:
    app[IMPORT_SLOTS] = asyncio.Semaphore(app[SETTINGS].feeds.max_concurrent_imports)
    yield


# --- models ----------------------------------------------------------------------------------


class PublishQuery(BaseModel):
    feed: str = Field(description="feed name: 1-48 of a-z 0-9 - _; prefixes every id ('feed:stop')")
    operator: str | None = Field(
        None, description="admin keys only: the operator publishing (needed for a new feed)"
    )
    board_times: str | None = Field(
        None, max_length=400,
        description="Board times of this feed's routes, 'ROUTE_TYPE:SECONDS[,...]' (e.g. '2:120' "
        "for a commuter railway boarding at the platform 2 min before): be at the stop this long "
        "before a departure, by GTFS route_type (exact, else an extended type's family "
        "t//100*100), instead of the defaults by extended route type (routing.board_route_type_s); "
        "0-14400 s. Kept with the version (stats.board_times): the same zip with other board "
        "times is another version",
    )


class Notice(BaseModel):
    code: str = Field(description="MobilityData gtfs-validator notice code (or one of ours)")
    severity: str = Field(description="error | warning | info; any error rejects the version")
    file: str | None = Field(None, description="file of the feed, e.g. stop_times.txt")
    row: int | None = Field(None, description="CSV row number (header = 1)")
    field: str | None = Field(None, description="column name")
    message: str


class Stats(BaseModel):
    agencies: int
    stops: int
    routes: int
    trips: int
    stop_times: int
    start_date: str | None = Field(None, description="first service date (ISO)")
    end_date: str | None = Field(None, description="last service date (ISO)")
    modes: dict[str, int] = Field(default_factory=dict, description="mode -> number of routes")
    agency_names: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    bytes: int = Field(0, description="total size of the files, unzipped")
    board_times: dict[str, int] = Field(default_factory=dict, description="the operator's board times by route_type (POST /v1/feeds board_times), seconds")


class Published(BaseModel):
    version: str = Field(description="version id: '{feed}-' + first 16 hex of the zip's sha256 (with board_times: of the sha256 of the zip's sha256 and them)")
    feed: str
    status: str = Field(description="accepted | active | superseded (rejected ones answer 422)")
    created: bool = Field(description="false: these exact bytes were already this version")
    stats: Stats
    report: list[Notice]


class VersionSummary(BaseModel):
    version: str
    status: str = Field(description="rejected | accepted | active | superseded")
    sha256: str
    size_bytes: int
    created_at: datetime
    activated_at: datetime | None
    stats: Stats
    errors: int = Field(description="error notices in its report")
    warnings: int = Field(description="warning notices in its report")


class FeedSummary(BaseModel):
    name: str
    operator_id: str
    active_version: str | None
    versions: list[VersionSummary] = Field(description="newest first")


class FeedList(BaseModel):
    feeds: list[FeedSummary]


class VersionDetail(BaseModel):
    version: str
    feed: str
    operator_id: str
    status: str
    sha256: str
    size_bytes: int
    created_at: datetime
    activated_at: datetime | None
    stats: Stats
    report: list[Notice]


class Activated(BaseModel):
    version: str
    feed: str
    status: str
    previous: str | None = Field(description="the version that was active before (for rollback)")
    served_by_all_workers: bool = Field(
        description="every live worker of this instance serves it (200); false: the wait "
        "(feeds.activation_wait_s) ran out, poll status_url (202)")
    status_url: str = Field(description="GET it to see which workers serve the version")


class ActivationStatus(BaseModel):
    version: str
    feed: str
    served_by_all_workers: bool = Field(description="every live worker of this instance serves it")
    workers: dict[str, str | None] = Field(
        description="live worker of this instance -> the version of this feed it serves")


# --- endpoints -------------------------------------------------------------------------------


@router.post(
    "/v1/feeds",
    summary="Publish a GTFS zip as a new version of a feed",
    description="The body is the zip itself. 201 with the report when accepted (warnings are "
    "fine); 200 when these bytes already were a version; 422 `feed_has_errors` with the same "
    "report when it has errors (kept as rejected, nothing live changes). Not a zip / empty: 400; "
    "unsafe or oversized archive: 413/422 with its own code.",
    auth=("operator",),
    query=PublishQuery,
    response=Published,
    status=201,
    request_content="application/zip",
    errors={400: "not_a_zip, empty_upload, invalid_feed_name, invalid_parameter (board_times)", 403: "feed_owned_by_other_operator",
            413: "upload_too_large, uncompressed_too_large",
            422: "feed_has_errors (report included), compression_ratio_too_high, unsafe_member_name, "
                 "invalid_input_files_in_subfolder, too_many_members"},
)
async def publish(request: web.Request, query: PublishQuery) -> web.Response:
    principal = principal_of(request)
    settings: FeedSettings = request.app[SETTINGS].feeds
    feed = check_feed_name(query.feed)
    operator = _operator(principal, query.operator)
    try:
        board_times = parse_board_times(query.board_times) if query.board_times else None
    except ValueError as exc:
        raise InvalidParameter(f"board_times: {exc}", parameter="board_times") from None
    declared = request.content_length
    if declared is not None and declared > settings.max_upload_bytes:
        raise UploadTooLarge(_too_large(settings), max_bytes=settings.max_upload_bytes)
    async with request.app[DB].acquire() as conn:  # refuse early, before a long upload
        owner = await store.feed_owner(conn, feed)
    if owner is not None and operator is not None and owner != operator:
        raise FeedOwnedByOtherOperator(f"feed {feed!r} belongs to another operator", feed=feed)
    path = await _receive(request, settings)
    try:
        async with request.app[IMPORT_SLOTS]:
            result = await import_feed(
                request.app[DB], path, feed=feed, operator_id=operator, settings=settings,
                today=request.app[CLOCK].now().date(), board_times=board_times,
            )
    finally:
        os.unlink(path)
    if result.created:
        request.app[DOMAIN_METRICS].feed_versions.labels(result.status).inc()
    if result.rejected:
        errors = sum(n["severity"] == "error" for n in result.report)
        raise FeedHasErrors(
            f"the feed has {errors} error(s); version {result.version} is kept as rejected "
            "and nothing live changed",
            version=result.version, feed=feed, stats=result.stats, report=result.report,
        )
    body = Published(version=result.version, feed=feed, status=result.status,
                     created=result.created, stats=Stats(**result.stats),
                     report=[Notice(**n) for n in result.report])
    return json_response(body, status=201 if result.created else 200)


@router.get("/v1/feeds", summary="Feeds and their versions (an operator sees its own)",
            auth=("operator",), response=FeedList)
async def list_feeds(request: web.Request) -> FeedList:
    principal = principal_of(request)
    owner = principal.operator_id if principal.role == "operator" else None
    async with request.app[DB].acquire() as conn:
        feeds = await store.list_feeds(conn, owner)
    return FeedList(feeds=[
        FeedSummary(
            name=f["name"], operator_id=f["operator_id"], active_version=f["active_version"],
            versions=[VersionSummary(version=v["id"], **_fields(v, VersionSummary)) for v in f["versions"]],
        )
        for f in feeds
    ])


@router.get("/v1/feeds/{version}", summary="One version with its validation report",
            auth=("operator",), response=VersionDetail,
            errors={403: "feed_owned_by_other_operator", 404: "feed_version_not_found"})
async def get_version(request: web.Request) -> VersionDetail:
    row = await _own_version(request)
    return VersionDetail(version=row["id"], **_fields(row, VersionDetail))


@router.post("/v1/feeds/{version}/activate",
             summary="Make a version live (also: roll back to an earlier one)",
             description="The network is rebuilt aside and swapped in every worker; requests in "
             "flight finish on the old one. Answers 200 (served_by_all_workers true) once every live "
             "worker of this instance serves the version, so activate-then-plan sees it on any worker; "
             "if that takes longer than feeds.activation_wait_s, 202 (served_by_all_workers false) "
             "with status_url to poll. Activating the active version changes nothing.",
             auth=("operator",), response=Activated,
             also={202: "active, but not every worker serves it yet: poll status_url"},
             errors={403: "feed_owned_by_other_operator", 404: "feed_version_not_found",
                     409: "feed_version_rejected"})
async def activate_version(request: web.Request) -> web.Response:
    principal = principal_of(request)
    operator = principal.operator_id if principal.role == "operator" else None
    out = await activate(request.app[DB], request.match_info["version"], operator)
    live = request.app[LIVE]
    await live.reload()       # this worker at once; the others swap on the NOTIFY
    done = live.registry is None or await live.registry.wait_all_serve(
        out["feed"], out["version"], request.app[SETTINGS].feeds.activation_wait_s)
    if out["previous"] != out["version"]:     # activating the active version changes nothing
        request.app[DOMAIN_METRICS].feed_activations.labels(out["feed"]).inc()
    body = Activated(**out, served_by_all_workers=done,
                     status_url=f"/v1/feeds/{out['version']}/activation")
    return json_response(body, status=200 if done else 202,
                         headers=None if done else {"Location": body.status_url})


@router.get("/v1/feeds/{version}/activation",
            summary="Which workers of this instance serve a version (poll after a 202 activate)",
            auth=("operator",), response=ActivationStatus,
            errors={403: "feed_owned_by_other_operator", 404: "feed_version_not_found"})
async def activation_status(request: web.Request) -> ActivationStatus:
    row = await _own_version(request)
    version = row["id"]
    registry = request.app[LIVE].registry
    workers = await registry.workers() if registry is not None else {}
    serving = {w: v.get(row["feed"]) for w, v in sorted(workers.items())}
    return ActivationStatus(version=version, feed=row["feed"],
                            served_by_all_workers=bool(serving) and all(v == version for v in serving.values()),
                            workers=serving)


# --- helpers ---------------------------------------------------------------------------------

async def _own_version(request: web.Request) -> Any:
    """The version named in the path, if the caller may see it (404 / 403 otherwise)."""
    version = request.match_info["version"]
    async with request.app[DB].acquire() as conn:
        row = await store.get_version(conn, version)
    if row is None:
        raise FeedVersionNotFound(f"no feed version {version!r}", version=version)
    principal = principal_of(request)
    if principal.role == "operator" and row["operator_id"] != principal.operator_id:
        raise FeedOwnedByOtherOperator(f"feed {row['feed']!r} belongs to another operator", feed=row["feed"])
    return row


def _operator(principal: Principal, requested: str | None) -> str | None:
    """The operator acting: an operator key's own; an admin's `?operator=` (or None)."""
    if principal.role == "operator":
        return principal.operator_id
    return requested


def _too_large(settings: FeedSettings) -> str:
    return f"the upload is larger than {settings.max_upload_bytes} bytes (FeedSettings.max_upload_bytes)"


async def _receive(request: web.Request, settings: FeedSettings) -> str:
    """Stream the body into a temp file, stopping at the limit; returns its path."""
    fd, path = tempfile.mkstemp(prefix="maas-feed-", suffix=".zip", dir=settings.temp_dir)
    size = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in request.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > settings.max_upload_bytes:
                    raise UploadTooLarge(_too_large(settings), max_bytes=settings.max_upload_bytes)
                fh.write(chunk)
        if size == 0:
            raise EmptyArchive("the request body is empty; send the GTFS zip as the body")
    except BaseException:
        os.unlink(path)
        raise
    return path


def _fields(row: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    out = {k: row[k] for k in model.model_fields if k in row and k != "version"}
    if "stats" in out:
        out["stats"] = Stats(**out["stats"])
    if "report" in out:
        out["report"] = [Notice(**n) for n in out["report"]]
    return out
