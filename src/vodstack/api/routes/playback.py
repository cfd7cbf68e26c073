"""Playback routes: the master playlist URL for a ready video, and the ladder's files."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from vodstack.api.deps import PlaybackDep
from vodstack.api.schemas import PlaybackPublic

router = APIRouter(prefix="/v1/videos", tags=["playback"])


@router.get("/{video_id}/playback")
async def playback(video_id: str, service: PlaybackDep) -> PlaybackPublic:
    found = await service.playback(video_id)
    return PlaybackPublic(master_url=found.master_url, expires_at=found.expires_at)


@router.get("/{video_id}/hls/e{epoch}/{path:path}", response_model=None)
async def hls_file(
    video_id: str, epoch: int, path: str, request: Request, service: PlaybackDep
) -> Response:
    found = await service.hls_file(video_id, epoch, path)
    headers = {"Cache-Control": found.cache_control}
    if isinstance(found.source, Path):
        # FileResponse answers Range requests and sends the file with sendfile.
        return FileResponse(found.source, media_type=found.content_type, headers=headers)
    if isinstance(found.source, str):
        return RedirectResponse(found.source, status_code=302, headers=headers)
    return Response(found.source, media_type=found.content_type, headers=headers)
