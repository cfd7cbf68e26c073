"""API key routes: thin; the AccountService checks who may do what."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from vodstack.api.deps import Accounts, CurrentUser
from vodstack.api.schemas import KeyCreate, KeyCreated, KeyList, KeyPublic, error_responses
from vodstack.domain.accounts import ApiKey

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=error_responses(401, 403, 422, 503))


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(400))
async def create_key(body: KeyCreate, accounts: Accounts, user: CurrentUser) -> KeyCreated:
    """A new key of the caller's, with at most the caller's rights (all of them unless
    ``scopes`` asks for less). The key itself is shown only in this answer."""
    key, secret = await accounts.create_key(user, body.name, body.scopes, body.expires_in)
    return KeyCreated(**_public(key).model_dump(), key=secret)


@router.get("")
async def list_keys(accounts: Accounts, user: CurrentUser) -> KeyList:
    """The caller's keys that are not revoked; never their secrets."""
    return KeyList(keys=[_public(k) for k in await accounts.keys(user)])


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
async def revoke_key(key_id: str, accounts: Accounts, user: CurrentUser) -> Response:
    """Revoke one of the caller's keys (an admin's: anyone's). Every process refuses it
    within a second."""
    await accounts.revoke_key(key_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _public(key: ApiKey) -> KeyPublic:
    return KeyPublic(
        id=key.id,
        name=key.name,
        scopes=sorted(key.scopes),
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        expires_at=key.expires_at,
    )
