"""Caption routes of the play API: thin; the CaptionService checks who may do what."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile, status

from vodstack.api.deps import OPTIONAL_KEY, Caller, Captions, CurrentUser
from vodstack.api.schemas import CaptionList, CaptionPublic, error_responses
from vodstack.domain.captions import MAX_CAPTION_BYTES, Caption

router = APIRouter(prefix="/v1/videos", tags=["captions"], responses=error_responses(401, 422, 503))


@router.post(
    "/{video_id}/captions",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 403, 404, 413),
)
async def add_caption(
    video_id: str,
    captions: Captions,
    user: CurrentUser,
    language: Annotated[
        str, Form(min_length=1, max_length=35, description="a BCP 47 tag: en, pt-BR, und")
    ],
    name: Annotated[str, Form(min_length=1, max_length=64, description="what players list it as")],
    file: Annotated[UploadFile, File(description="an SRT or WebVTT file, at most 2 MiB")],
) -> CaptionPublic:
    """A text track from an SRT or WebVTT file; players list it from the next playlist on."""
    data = await file.read(MAX_CAPTION_BYTES + 1)  # one byte more tells a file too large
    return caption_public(await captions.add(video_id, user, language, name, data))


@router.get("/{video_id}/captions", responses=error_responses(404), openapi_extra=OPTIONAL_KEY)
async def list_captions(video_id: str, captions: Captions, caller: Caller) -> CaptionList:
    return CaptionList(captions=[caption_public(c) for c in await captions.list(video_id, caller)])


@router.delete(
    "/{video_id}/captions/{caption_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
)
async def delete_caption(
    video_id: str, caption_id: str, captions: Captions, user: CurrentUser
) -> Response:
    await captions.delete(video_id, caption_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def caption_public(caption: Caption) -> CaptionPublic:
    return CaptionPublic(
        id=caption.id, language=caption.language, name=caption.name, origin=caption.origin
    )
