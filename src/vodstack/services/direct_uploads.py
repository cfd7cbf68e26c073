"""Direct uploads: a user's key makes a token, and a browser holding only that token
uploads one video for the user through the ordinary multipart protocol."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from vodstack import errors
from vodstack.clock import Clock, utc_now
from vodstack.domain.accounts import Actor, Scope, User, Visibility, require_scope
from vodstack.domain.direct_uploads import (
    DirectGrant,
    DirectUpload,
    DirectUploader,
    check_direct_size,
    direct_expiry,
    direct_max_size,
    direct_token,
    verify_direct_token,
)
from vodstack.domain.uploads import PartETag, Upload
from vodstack.domain.videos import Video
from vodstack.ports import DirectUploadStore
from vodstack.services.uploads import NewUpload, UploadService
from vodstack.settings import Settings

# Whoever sends an upload request: a user's key, or a direct-upload token.
Uploader = User | DirectUploader


def owner_of(uploader: Uploader) -> User:
    """Whose upload it is: the key's user, or the token's owner."""
    return uploader if isinstance(uploader, User) else uploader.owner


@dataclass(frozen=True, slots=True)
class NewDirectUpload:
    title: str | None = None
    description: str = ""
    visibility: Visibility = Visibility.PUBLIC
    max_size: int | None = None
    expires_in: int | None = None


@dataclass(frozen=True, slots=True)
class IssuedDirectUpload:
    direct: DirectUpload
    token: str
    upload_url: str


class DirectUploadService:
    def __init__(
        self,
        store: DirectUploadStore,
        uploads: UploadService,
        settings: Settings,
        signing_key: bytes,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._uploads = uploads
        self._settings = settings
        self._key = signing_key
        self._clock = clock

    async def create(self, request: NewDirectUpload, actor: Actor) -> IssuedDirectUpload:
        require_scope(actor, Scope.UPLOAD)
        if not isinstance(actor, User):
            raise errors.Unauthorized()
        now = self._clock()
        direct = DirectUpload(
            id=uuid.uuid4().hex,
            owner_id=actor.id,
            owner_name=actor.name,
            title=(request.title or "").strip() or None,
            description=request.description,
            visibility=request.visibility,
            max_size=direct_max_size(request.max_size, self._settings.max_upload_bytes),
            created_at=now,
            expires_at=direct_expiry(now, request.expires_in),
        )
        await self._store.create(direct)
        token = direct_token(DirectGrant(direct.id, int(direct.expires_at.timestamp())), self._key)
        upload_url = f"{self._settings.public_url}/upload#direct={quote(token)}"
        return IssuedDirectUpload(direct, token, upload_url)

    async def resolve(self, token: str) -> DirectUploader:
        """The holder of ``token``, if it is genuine, unexpired and not used up."""
        grant = verify_direct_token(token, self._key, self._clock().timestamp())
        direct = await self._store.get(grant.id)
        if direct is None:
            raise errors.Unauthorized("this direct upload no longer exists")
        direct.check_usable(self._clock())
        return DirectUploader(direct)

    def describe(self, uploader: Uploader) -> DirectUpload:
        """What the token holder may upload, so that its page can say so."""
        if isinstance(uploader, User):
            raise errors.Forbidden("only a direct-upload token has a direct upload to describe")
        return uploader.direct

    async def create_upload(self, request: NewUpload, uploader: Uploader) -> Upload:
        if isinstance(uploader, User):
            return await self._uploads.create(request, owner=uploader)
        direct = uploader.direct
        if direct.upload_id is not None:
            raise errors.DirectUploadTaken()
        check_direct_size(request.size, direct.max_size)
        # What the video is called and who may see it are the token maker's to say.
        request = dataclasses.replace(
            request,
            title=direct.title or request.title,
            description=direct.description or request.description,
            visibility=direct.visibility,
        )
        upload = await self._uploads.create(request, owner=uploader.owner)
        assert upload.video_id is not None
        if not await self._store.claim(direct.id, upload.id, upload.video_id):
            await self._uploads.abort(upload.id, uploader.owner)
            raise errors.DirectUploadTaken()
        return upload

    def acting(self, upload_id: str, uploader: Uploader) -> User:
        """Who the upload service should see acting on ``upload_id``: a token acts as its
        owner, on its own upload only."""
        if isinstance(uploader, User):
            return uploader
        uploader.check_own(upload_id)
        return uploader.owner

    async def complete(
        self, upload_id: str, parts: Sequence[PartETag], uploader: Uploader
    ) -> Video:
        video = await self._uploads.complete(upload_id, parts, self.acting(upload_id, uploader))
        if isinstance(uploader, DirectUploader):
            await self._store.finish(uploader.direct.id, self._clock())
        return video
