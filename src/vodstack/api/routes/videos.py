"""Video routes of the play API."""

from __future__ import annotations

from fastapi import APIRouter, Query

from vodstack import errors
from vodstack.api.deps import Videos
from vodstack.api.schemas import VideoList, VideoPublic
from vodstack.domain.videos import Video

router = APIRouter(prefix="/v1/videos", tags=["videos"])


@router.get("")
async def list_videos(videos: Videos, limit: int = Query(default=100, ge=1, le=1000)) -> VideoList:
    return VideoList(videos=[_public(v) for v in await videos.list(limit=limit)])


@router.get("/{video_id}")
async def get_video(video_id: str, videos: Videos) -> VideoPublic:
    video = await videos.get(video_id)
    if video is None:
        raise errors.VideoNotFound(f"no video with id {video_id!r}")
    return _public(video)


def _public(video: Video) -> VideoPublic:
    return VideoPublic(
        id=video.id,
        title=video.title,
        description=video.description,
        filename=video.filename,
        size=video.size,
        status=video.status,
        progress=video.progress,
        error=video.error,
        duration=video.duration,
        renditions=video.renditions,
        created_at=video.created_at,
        updated_at=video.updated_at,
    )
