"""Dependency aliases, so routes read like prose."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vodstack import errors
from vodstack.domain.accounts import Anonymous, User
from vodstack.domain.direct_uploads import is_direct_token
from vodstack.ports import Storage
from vodstack.services.accounts import AccountService
from vodstack.services.captions import CaptionService
from vodstack.services.direct_uploads import DirectUploadService, Uploader
from vodstack.services.playback import PlaybackService
from vodstack.services.ratelimit import RateLimiter
from vodstack.services.thumbnails import ThumbnailService
from vodstack.services.uploads import UploadService
from vodstack.services.videos import VideoService
from vodstack.settings import Settings


@dataclass
class Services:
    """Everything the routes need, built once in the app's lifespan."""

    settings: Settings
    storage: Storage
    accounts: AccountService
    uploads: UploadService
    direct_uploads: DirectUploadService
    videos: VideoService
    playback: PlaybackService
    captions: CaptionService
    thumbnails: ThumbnailService
    upload_limit: RateLimiter
    token_limit: RateLimiter


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


# auto_error=False: a missing key is not an error everywhere (public videos play without),
# and a malformed header gets vodstack's own error shape.
_bearer = HTTPBearer(
    auto_error=False,
    description="an API key (vsk_...), or on the upload routes a direct-upload token (vsd_...)",
)


async def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User | Anonymous:
    return await _services(request).accounts.caller(request.headers.get("authorization"))


async def _user(caller: Annotated[User | Anonymous, Depends(_caller)]) -> User:
    if not isinstance(caller, User):
        raise errors.Unauthorized()
    return caller


async def _uploader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Uploader:
    """A user's key, or a direct-upload token: the upload routes take either."""
    if credentials is not None and is_direct_token(credentials.credentials):
        return await _services(request).direct_uploads.resolve(credentials.credentials)
    return await _user(await _caller(request, credentials))


def _accounts(request: Request) -> AccountService:
    return _services(request).accounts


def _uploads(request: Request) -> UploadService:
    return _services(request).uploads


def _direct_uploads(request: Request) -> DirectUploadService:
    return _services(request).direct_uploads


def _videos(request: Request) -> VideoService:
    return _services(request).videos


def _thumbnails(request: Request) -> ThumbnailService:
    return _services(request).thumbnails


def _playback(request: Request) -> PlaybackService:
    return _services(request).playback


def _captions(request: Request) -> CaptionService:
    return _services(request).captions


def _storage(request: Request) -> Storage:
    return _services(request).storage


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# For the routes that take a Caller: the key is optional there, which OpenAPI says with an
# empty security requirement beside the bearer one (FastAPI appends this list to its own).
OPTIONAL_KEY: dict[str, Any] = {"security": [{}]}

Caller = Annotated[User | Anonymous, Depends(_caller)]
CurrentUser = Annotated[User, Depends(_user)]
CurrentUploader = Annotated[Uploader, Depends(_uploader)]
DirectUploads = Annotated[DirectUploadService, Depends(_direct_uploads)]
Accounts = Annotated[AccountService, Depends(_accounts)]
Uploads = Annotated[UploadService, Depends(_uploads)]
Videos = Annotated[VideoService, Depends(_videos)]
StorageDep = Annotated[Storage, Depends(_storage)]
PlaybackDep = Annotated[PlaybackService, Depends(_playback)]
Captions = Annotated[CaptionService, Depends(_captions)]
Thumbnails = Annotated[ThumbnailService, Depends(_thumbnails)]
ServicesDep = Annotated[Services, Depends(_services)]
