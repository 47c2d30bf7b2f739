"""Passenger accounts."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from maas import auth
from maas.appkeys import DB
from maas.http import Router

router = Router(tag="accounts")


class AccountCreated(BaseModel):
    id: str = Field(description="account id")
    token: str = Field(description="bearer token of this account; shown once, stored hashed")


@router.post("/v1/accounts", summary="Create a passenger account", response=AccountCreated, status=201)
async def create_account(request: web.Request) -> AccountCreated:
    account_id, token = await auth.create_account(request.app[DB])
    return AccountCreated(id=account_id, token=token)
