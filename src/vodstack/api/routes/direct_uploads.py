"""Direct-upload routes: a key makes a token that uploads one video, for the key's user."""

from __future__ import annotations

from fastapi import APIRouter, status

from vodstack.api.deps import CurrentUser, DirectUploads
from vodstack.api.schemas import DirectUploadCreate, DirectUploadCreated, error_responses
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
