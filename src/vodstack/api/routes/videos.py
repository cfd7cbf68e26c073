"""Video routes of the play API."""

from __future__ import annotations

from fastapi import APIRouter, Query

from vodstack import errors
from vodstack.api.deps import Jobs, SignalDep, Videos
from vodstack.api.schemas import EventList, EventPublic, VideoAccepted, VideoList, VideoPublic
from vodstack.domain.videos import Video

router = APIRouter(prefix="/v1/videos", tags=["videos"])


@router.get("")
async def list_videos(videos: Videos, limit: int = Query(default=100, ge=1, le=1000)) -> VideoList:
    return VideoList(videos=[_public(v) for v in await videos.list(limit=limit)])


@router.get("/{video_id}")
async def get_video(video_id: str, videos: Videos) -> VideoPublic:
    return _public(await _video(videos, video_id))


@router.get("/{video_id}/events")
async def video_events(video_id: str, videos: Videos, jobs: Jobs) -> EventList:
    """The job timeline: every state change, and each attempt's exact ffmpeg command."""
    await _video(videos, video_id)
    return EventList(
        events=[
            EventPublic(
                at=e.at,
                kind=e.kind,
                status=e.status,
                epoch=e.epoch,
                worker=e.worker,
                reason=e.reason,
                detail=e.detail,
            )
            for e in await jobs.events(video_id)
        ]
    )


@router.post("/{video_id}/retry", status_code=202)
async def retry_video(
    video_id: str, videos: Videos, jobs: Jobs, signal: SignalDep
) -> VideoAccepted:
    video = await _video(videos, video_id)
    if not await jobs.requeue(video_id):
        raise errors.Conflict(f"only a failed video can be retried; this one is {video.status}")
    await signal.send(video_id)
    return VideoAccepted(video_id=video_id, status="queued")


async def _video(videos: Videos, video_id: str) -> Video:
    video = await videos.get(video_id)
    if video is None:
        raise errors.VideoNotFound(f"no video with id {video_id!r}")
    return video


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
