"""Upload routes: thin; the UploadService does the work. A direct-upload token may stand
in for a key on every route here but the abort."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from vodstack.api.deps import CurrentUploader, CurrentUser, DirectUploads, ServicesDep, Uploads
from vodstack.api.schemas import (
    PartsPublic,
    PartsRequest,
    PresignedPartPublic,
    StoredPartPublic,
    UploadComplete,
    UploadCreate,
    UploadCreated,
    UploadStatePublic,
    VideoAccepted,
    error_responses,
)
from vodstack.domain.uploads import PartETag
from vodstack.services.direct_uploads import owner_of
from vodstack.services.uploads import NewUpload

router = APIRouter(prefix="/v1/uploads", tags=["uploads"], responses=error_responses(401, 422, 503))


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(400, 429))
async def create_upload(
    body: UploadCreate, direct: DirectUploads, uploader: CurrentUploader, services: ServicesDep
) -> UploadCreated:
    await services.upload_limit.take(owner_of(uploader).id)
    upload = await direct.create_upload(NewUpload(**body.model_dump()), uploader)
    assert upload.video_id is not None
    return UploadCreated(
        video_id=upload.video_id,
        upload_id=upload.id,
        part_size=upload.part_size,
        part_count=upload.plan.part_count,
    )


@router.post("/{upload_id}/parts", responses=error_responses(400, 404, 409))
async def presign_parts(
    upload_id: str,
    body: PartsRequest,
    uploads: Uploads,
    direct: DirectUploads,
    uploader: CurrentUploader,
) -> PartsPublic:
    actor = direct.acting(upload_id, uploader)
    presigned = await uploads.presign(upload_id, body.part_numbers, actor)
    return PartsPublic(
        parts=[
            PresignedPartPublic(part_number=n, url=r.url, method=r.method, headers=r.headers)
            for n, r in presigned
        ]
    )


@router.get("/{upload_id}", responses=error_responses(404))
async def get_upload(
    upload_id: str, uploads: Uploads, direct: DirectUploads, uploader: CurrentUploader
) -> UploadStatePublic:
    state = await uploads.state(upload_id, direct.acting(upload_id, uploader))
    upload = state.upload
    return UploadStatePublic(
        upload_id=upload.id,
        video_id=upload.video_id,
        status=upload.status,
        size=upload.size,
        part_size=upload.part_size,
        part_count=upload.plan.part_count,
        parts=[
            StoredPartPublic(part_number=p.part_number, etag=p.etag, size=p.size)
            for p in state.parts
        ],
    )


@router.post(
    "/{upload_id}/complete",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(400, 404, 409),
)
async def complete_upload(
    upload_id: str, body: UploadComplete, direct: DirectUploads, uploader: CurrentUploader
) -> VideoAccepted:
    parts = [PartETag(p.part_number, p.etag) for p in body.parts]
    video = await direct.complete(upload_id, parts, uploader)
    return VideoAccepted(video_id=video.id, status=video.status)


@router.delete(
    "/{upload_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404, 409),
)
async def abort_upload(upload_id: str, uploads: Uploads, user: CurrentUser) -> Response:
    await uploads.abort(upload_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
