"""Direct-upload routes: a key makes a token that uploads one video, for the key's user."""

from __future__ import annotations

from fastapi import APIRouter, status

from vodstack.api.deps import CurrentUploader, CurrentUser, DirectUploads
from vodstack.api.schemas import (
    DirectUploadCreate,
    DirectUploadCreated,
    DirectUploadPublic,
    error_responses,
)
from vodstack.services.direct_uploads import NewDirectUpload

router = APIRouter(
    prefix="/v1/direct-uploads", tags=["uploads"], responses=error_responses(401, 422, 503)
)


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(400, 403))
async def create_direct_upload(
    body: DirectUploadCreate, direct: DirectUploads, user: CurrentUser
) -> DirectUploadCreated:
    issued = await direct.create(NewDirectUpload(**body.model_dump()), user)
    return DirectUploadCreated(
        id=issued.direct.id,
        upload_url=issued.upload_url,
        token=issued.token,
        expires_at=issued.direct.expires_at,
        max_size=issued.direct.max_size,
    )


@router.get("/current", responses=error_responses(403))
async def current_direct_upload(
    direct: DirectUploads, uploader: CurrentUploader
) -> DirectUploadPublic:
    """The direct upload whose token is sent: the upload page shows whose it is."""
    held = direct.describe(uploader)
    return DirectUploadPublic(
        id=held.id,
        owner=held.owner_name,
        title=held.title,
        visibility=held.visibility,
        max_size=held.max_size,
        expires_at=held.expires_at,
        upload_id=held.upload_id,
    )
