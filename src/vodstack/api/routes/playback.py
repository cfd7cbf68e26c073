"""Playback routes: the master playlist URL, playback tokens for private videos, and the
ladder's files."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import Response

from vodstack import errors
from vodstack.api.deps import (
    OPTIONAL_KEY,
    Caller,
    CurrentUser,
    PlaybackDep,
    ServicesDep,
    Thumbnails,
    Videos,
    client_ip,
)
from vodstack.api.responses import file_response
from vodstack.api.schemas import (
    PlaybackPublic,
    PlaybackTokenCreate,
    PlaybackTokenPublic,
    error_responses,
)
from vodstack.domain.signing import TOKEN_CHARS
from vodstack.domain.videos import HLS_CONTENT_TYPES
from vodstack.services.playback import HlsFile

router = APIRouter(
    prefix="/v1/videos", tags=["playback"], responses=error_responses(404, 409, 422, 503)
)
access_router = APIRouter(tags=["playback"], responses=error_responses(422, 503))

Token = Annotated[
    str | None, Query(max_length=TOKEN_CHARS, description="a playback token (private videos)")
]

# A ladder file: its bytes (a playlist, or a segment from local storage, which also answers
# Range requests), or a redirect to where storage serves it.
_HLS_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file",
        "content": {media_type: {} for media_type in dict.fromkeys(HLS_CONTENT_TYPES.values())},
    },
    206: {"description": "The requested byte range of a segment"},
    302: {"description": "The segment, where storage or the CDN serves it"},
    **error_responses(403),
}


_DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {"description": "The MP4 file, as an attachment", "content": {"video/mp4": {}}},
    206: {"description": "The requested byte range of it"},
    307: {"description": "The file, where storage serves it"},
    **error_responses(401, 403),
}


@router.get("/{video_id}/playback", responses=error_responses(401, 403), openapi_extra=OPTIONAL_KEY)
async def playback(
    video_id: str, request: Request, service: PlaybackDep, caller: Caller, token: Token = None
) -> PlaybackPublic:
    found = await service.playback(video_id, caller, token, client_ip(request))
    return PlaybackPublic(
        master_url=found.master_url,
        expires_at=found.expires_at,
        status=found.status.value,
        renditions=list(found.renditions),
    )


@router.post(
    "/{video_id}/playback-tokens",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 429),
)
async def create_playback_token(
    video_id: str,
    body: PlaybackTokenCreate,
    request: Request,
    user: CurrentUser,
    videos: Videos,
    service: PlaybackDep,
    services: ServicesDep,
) -> PlaybackTokenPublic:
    """A token that lets a viewer play a private video until it expires, optionally bound
    to the viewer's name and to the address this request comes from."""
    await services.token_limit.take(user.id)
    video = await videos.managed(video_id, user)
    ip = client_ip(request) if body.bind_ip else None
    issued = await service.issue_token(video, body.expires_in, body.viewer, ip)
    assert issued.token is not None
    assert issued.expires_at is not None
    return PlaybackTokenPublic(
        token=issued.token, expires_at=issued.expires_at, master_url=issued.master_url
    )


@router.get(
    "/{video_id}/hls/e{epoch}/{path:path}",
    response_model=None,
    response_class=Response,
    responses=_HLS_FILE,
)
async def hls_file(
    video_id: str,
    epoch: int,
    path: str,
    request: Request,
    service: PlaybackDep,
    token: Token = None,
) -> Response:
    """Answered by ``api.hot_path`` before routing; this route is its OpenAPI entry, and
    serves apps built without it."""
    found = await service.hls_file(video_id, epoch, path, token, client_ip(request))
    return file_response(found, request.headers)


@access_router.get(
    "/v1/playback-access",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={403: {"description": "The file may not be fetched"}},
)
async def playback_access(
    request: Request,
    service: PlaybackDep,
    original_uri: Annotated[str, Header(alias="X-Original-URI", max_length=4096)],
) -> Response:
    """For a front proxy that sends ladder files itself (nginx's ``auth_request``): whether
    the request for ``X-Original-URI`` may have its file, by the very checks of
    ``GET .../hls/e{epoch}/{path}``; nginx caches the answer per video, epoch and token.
    Any refusal is a 403, the one denial nginx passes on as it is."""
    try:
        cache = await service.access(original_uri, client_ip(request))
    except errors.VodstackError as exc:
        return Response(status_code=403, headers={"X-Refused": exc.code})
    return Response(status_code=204, headers={"Cache-Control": cache})


@router.get(
    "/{video_id}/thumbnail.jpg",
    response_model=None,
    response_class=Response,
    openapi_extra=OPTIONAL_KEY,
    responses={
        200: {"description": "The picture", "content": {"image/jpeg": {}}},
        302: {"description": "The picture, where storage serves it"},
        **error_responses(400, 403),
    },
)
async def thumbnail(
    video_id: str,
    request: Request,
    thumbnails: Thumbnails,
    caller: Caller,
    width: Annotated[
        int | None, Query(description="160, 320, 640 (the default) or 1280 pixels")
    ] = None,
    time: Annotated[
        float | None, Query(description="seconds into the video; without it, the poster")
    ] = None,
    token: Token = None,
) -> Response:
    """A frame of the video as a JPEG, for whoever may play it: a private video's
    pictures need its playback token (in a page) or its owner's key."""
    found = await thumbnails.thumbnail(video_id, caller, width, time, token, client_ip(request))
    return file_response(found)


@router.get(
    "/{video_id}/download.mp4",
    response_model=None,
    response_class=Response,
    responses=_DOWNLOAD,
    openapi_extra=OPTIONAL_KEY,
)
async def download_mp4(
    video_id: str, request: Request, service: PlaybackDep, caller: Caller, token: Token = None
) -> Response:
    """The video as one MP4 (its top rung, with sound), where the server publishes one
    (``VODSTACK_MP4_RENDITION``): for whoever may play it."""
    return file_response(await service.download(video_id, caller, token, client_ip(request)))


@router.get(
    "/{video_id}/source",
    response_model=None,
    response_class=Response,
    responses={
        200: {"description": "The original file, as uploaded"},
        302: {"description": "The original, where storage serves it (a URL that expires)"},
        **error_responses(401, 403),
    },
)
async def source(video_id: str, videos: Videos, user: CurrentUser) -> Response:
    """The original upload, for its owner or an admin."""
    video, located = await videos.source(video_id, user)
    content_type = video.content_type or "application/octet-stream"
    return file_response(HlsFile(located, content_type, "private, no-store", video.filename))
