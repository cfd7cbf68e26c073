"""Video routes of the play API: thin; the VideoService checks who may do what."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response, status

from vodstack.api.deps import OPTIONAL_KEY, Caller, Captions, CurrentUser, Videos
from vodstack.api.routes.captions import caption_public
from vodstack.api.schemas import (
    EncodingPublic,
    EventList,
    EventPublic,
    JobPublic,
    ReceiptPublic,
    VideoAccepted,
    VideoList,
    VideoPublic,
    VideoUpdate,
    error_responses,
)
from vodstack.domain.jobs import JobView
from vodstack.domain.videos import Encoding, Video, VideoChanges, public_fields

router = APIRouter(prefix="/v1/videos", tags=["videos"], responses=error_responses(401, 422, 503))


@router.get("", openapi_extra=OPTIONAL_KEY)
async def list_videos(
    videos: Videos, caller: Caller, limit: int = Query(default=100, ge=1, le=1000)
) -> VideoList:
    """With a key: your videos (an admin's: all). Without: the public videos that are ready."""
    return VideoList(videos=[_public(v) for v in await videos.list_videos(caller, limit)])


@router.get("/{video_id}", responses=error_responses(404), openapi_extra=OPTIONAL_KEY)
async def get_video(
    video_id: str, videos: Videos, captions: Captions, caller: Caller
) -> VideoPublic:
    video = await videos.visible(video_id, caller)
    public = _public(video, await videos.encoding(video))
    public.captions = [caption_public(c) for c in await captions.list(video_id, caller)]
    if video.receipt is not None:
        public.receipt = ReceiptPublic.model_validate(video.receipt)
    return public


@router.patch("/{video_id}", responses=error_responses(400, 403, 404))
async def update_video(
    video_id: str, body: VideoUpdate, videos: Videos, user: CurrentUser
) -> VideoPublic:
    changes = VideoChanges(
        title=body.title,
        description=body.description,
        visibility=body.visibility,
        poster_time=body.poster_time,
    )
    return _public(await videos.update(video_id, user, changes))


@router.delete(
    "/{video_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
)
async def delete_video(video_id: str, videos: Videos, user: CurrentUser) -> Response:
    await videos.delete(video_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{video_id}/events", responses=error_responses(403, 404))
async def video_events(video_id: str, videos: Videos, user: CurrentUser) -> EventList:
    """The job timeline (every state change, and each attempt's exact ffmpeg command) and
    where the job stands now."""
    events, job = await videos.timeline(video_id, user)
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
            for e in events
        ],
        job=None if job is None else _job_public(*job),
    )


def _job_public(view: JobView, explanation: str) -> JobPublic:
    state = view.state
    return JobPublic(
        status=state.status,
        explanation=explanation,
        attempts=state.attempts,
        max_attempts=state.max_attempts,
        epoch=state.epoch,
        progress=view.progress,
        worker=view.worker,
        lease_expires_at=state.lease_expires_at,
        available_at=state.available_at,
        updated_at=view.updated_at,
        last_error=view.last_error,
    )


@router.post(
    "/{video_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(403, 404, 409),
)
async def retry_video(video_id: str, videos: Videos, user: CurrentUser) -> VideoAccepted:
    video = await videos.retry(video_id, user)
    return VideoAccepted(video_id=video.id, status=video.status)


def _public(video: Video, encoding: Encoding | None = None) -> VideoPublic:
    return VideoPublic(
        **public_fields(video),
        thumbnail_url=f"/v1/videos/{video.id}/thumbnail.jpg",
        encoding=None
        if encoding is None
        else EncodingPublic(
            pending_renditions=list(encoding.pending),
            ready_in_seconds=None
            if encoding.ready_in_seconds is None
            else round(encoding.ready_in_seconds),
        ),
    )
