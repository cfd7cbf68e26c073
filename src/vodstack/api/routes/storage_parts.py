"""Where presigned part URLs point when storage is a local directory: the upload service
checks the signature and streams the body into storage. (S3 takes such PUTs itself.)"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from vodstack import errors
from vodstack.adapters.part_signing import PART_ROUTE
from vodstack.api.deps import StorageDep
from vodstack.api.schemas import StoredPartPublic, error_responses
from vodstack.ports import PartReceiver

router = APIRouter(tags=["storage"])


@router.put(
    PART_ROUTE + "/{upload_id}/{part_number}",
    responses=error_responses(403, 404, 413, 422),
    openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {}}}},
)
async def put_part(
    upload_id: str,
    part_number: int,
    request: Request,
    response: Response,
    storage: StorageDep,
    max_size: int | None = None,
    expires: int | None = None,
    signature: str = "",
) -> StoredPartPublic:
    assert isinstance(storage, PartReceiver)
    if max_size is None or expires is None or not signature:
        raise errors.SignatureInvalid("the part URL is missing its signature parameters")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_size:
        raise errors.PartTooLarge(f"the part is {declared} bytes; at most {max_size} allowed")
    part = await storage.receive_part(
        upload_id, part_number, max_size, expires, signature, request.stream()
    )
    response.headers["ETag"] = f'"{part.etag}"'
    return StoredPartPublic(part_number=part.part_number, etag=part.etag, size=part.size)
