"""checkin endpoints."""

from __future__ import annotations

from maas.http import Router

router = Router(tag="checkin")
