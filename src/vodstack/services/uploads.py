"""Use cases of the upload service: create, presign, inspect, complete and abort uploads.

Bytes never pass through here: clients send parts straight to storage with presigned URLs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from vodstack import errors, metrics, tracing
from vodstack.clock import Clock, utc_now
from vodstack.domain.accounts import Actor, Scope, User, Visibility, can_manage, require_scope
from vodstack.domain.uploads import (
    PartETag,
    StoredPart,
    Upload,
    UploadStatus,
    check_completion,
    check_filename,
    check_part_list,
    normalize_etag,
    plan_parts,
)
from vodstack.domain.videos import Video, VideoStatus, source_key
from vodstack.ports import JobSignal, PresignedRequest, Storage, UploadStore, VideoStore
from vodstack.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewUpload:
    filename: str
    size: int
    content_type: str | None = None
    title: str | None = None
    description: str = ""
    visibility: Visibility = Visibility.PUBLIC


@dataclass(frozen=True, slots=True)
class UploadState:
    upload: Upload
    parts: list[StoredPart]


class UploadService:
    def __init__(
        self,
        store: UploadStore,
        videos: VideoStore,
        storage: Storage,
        settings: Settings,
        signal: JobSignal | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._videos = videos
        self._storage = storage
        self._settings = settings
        self._signal = signal
        self._clock = clock

    async def create(self, request: NewUpload, owner: User) -> Upload:
        require_scope(owner, Scope.UPLOAD)
        with tracing.span("upload.create") as span:
            upload = await self._create(request, owner)
            span.set("video_id", upload.video_id or "")
            span.set("upload.size", upload.size)
        metrics.UPLOADS_CREATED.inc()
        return upload

    async def _create(self, request: NewUpload, owner: User) -> Upload:
        filename = check_filename(request.filename)
        plan = plan_parts(request.size, self._settings.part_size, self._settings.max_upload_bytes)
        video_id = uuid.uuid4().hex
        key = source_key(video_id)
        storage_upload_id = await self._storage.create_multipart(key, request.content_type)
        now = self._clock()
        video = Video(
            id=video_id,
            title=(request.title or "").strip() or filename.rsplit(".", 1)[0] or filename,
            description=request.description,
            filename=filename,
            content_type=request.content_type,
            size=plan.size,
            source_key=key,
            status=VideoStatus.UPLOADING,
            created_at=now,
            updated_at=now,
            owner_id=owner.id,
            visibility=request.visibility,
        )
        upload = Upload(
            id=uuid.uuid4().hex,
            video_id=video_id,
            storage_upload_id=storage_upload_id,
            storage_key=key,
            size=plan.size,
            part_size=plan.part_size,
            status=UploadStatus.ACTIVE,
            owner_id=owner.id,
        )
        try:
            await self._store.create(video, upload)
        except BaseException:
            await self._storage.abort_multipart(key, storage_upload_id)
            raise
        return upload

    async def presign(
        self, upload_id: str, part_numbers: Sequence[int], actor: Actor
    ) -> list[tuple[int, PresignedRequest]]:
        upload = await self._active(upload_id, actor)
        if not part_numbers:
            raise errors.InvalidPartNumber("part_numbers must list at least one part")
        if len(part_numbers) > self._settings.max_presign_batch:
            raise errors.InvalidPartNumber(
                f"at most {self._settings.max_presign_batch} parts can be presigned at once"
            )
        plan = upload.plan
        return [
            (
                n,
                await self._storage.presign_part(
                    upload.storage_key,
                    upload.storage_upload_id,
                    n,
                    plan.size_of(n),
                    self._settings.presign_seconds,
                ),
            )
            for n in sorted(set(part_numbers))
        ]

    async def state(self, upload_id: str, actor: Actor) -> UploadState:
        upload = await self._get(upload_id, actor)
        if upload.status is UploadStatus.ACTIVE:
            parts = await self._storage.list_parts(upload.storage_key, upload.storage_upload_id)
        elif upload.status is UploadStatus.COMPLETED:
            parts = await self._store.completed_parts(upload.id)
        else:
            parts = []
        return UploadState(upload, parts)

    async def complete(self, upload_id: str, parts: Sequence[PartETag], actor: Actor) -> Video:
        with tracing.span("upload.complete", upload_id=upload_id) as span:
            video = await self._complete(upload_id, parts, actor)
            span.set("video_id", video.id)
            return video

    async def _complete(self, upload_id: str, parts: Sequence[PartETag], actor: Actor) -> Video:
        upload = await self._get(upload_id, actor)
        if upload.status is UploadStatus.COMPLETED:
            # Completing twice is harmless, and tells the workers again in case the first
            # message was lost.
            video = await self._video_of(upload)
            if video.status is VideoStatus.QUEUED:
                await self._announce(video.id)
            return video
        if upload.status is UploadStatus.ABORTED:
            raise errors.UploadAborted()
        plan = upload.plan
        check_part_list(parts, plan)
        try:
            listed = await self._storage.list_parts(upload.storage_key, upload.storage_upload_id)
            stored = {p.part_number: p for p in listed}
            check_completion(parts, stored, plan)
            await self._storage.complete_multipart(
                upload.storage_key, upload.storage_upload_id, parts
            )
            manifest = [stored[p.part_number] for p in parts]
        except errors.NoSuchMultipartUpload:
            await self._require_joined_object(upload)
            manifest = [
                StoredPart(p.part_number, normalize_etag(p.etag), plan.size_of(p.part_number))
                for p in parts
            ]
        # The job carries this trace, so that its worker's span continues it.
        completed = await self._store.complete(
            upload, manifest, self._settings.max_attempts, self._clock(), tracing.traceparent()
        )
        if completed:
            metrics.UPLOADS_COMPLETED.inc()
            metrics.UPLOAD_BYTES.inc(upload.size)
        upload = await self._get(upload_id, actor)
        if upload.status is UploadStatus.ABORTED:
            raise errors.UploadAborted()
        video = await self._video_of(upload)
        if completed:
            await self._announce(video.id)
        return video

    async def abort(self, upload_id: str, actor: Actor) -> None:
        upload = await self._get(upload_id, actor)
        if upload.status is UploadStatus.COMPLETED:
            raise errors.UploadCompleted("the upload is complete and can no longer be aborted")
        if upload.status is UploadStatus.ABORTED:
            return
        await self._storage.abort_multipart(upload.storage_key, upload.storage_upload_id)
        if await self._store.abort(upload, self._clock()):
            metrics.UPLOADS_ABORTED.labels(reason="requested").inc()

    async def abort_abandoned(self) -> int:
        """Abort uploads left unfinished for longer than the configured age: their parts
        cost storage, and nobody will complete them. Returns how many."""
        cutoff = self._clock() - timedelta(hours=self._settings.abandoned_upload_hours)
        aborted = 0
        for upload in await self._store.active_before(cutoff):
            await self._storage.abort_multipart(upload.storage_key, upload.storage_upload_id)
            if await self._store.abort(upload, self._clock()):
                aborted += 1
        if aborted:
            metrics.UPLOADS_ABORTED.labels(reason="abandoned").inc(aborted)
            log.info(
                "aborted %d upload(s) abandoned for over %g h",
                aborted,
                self._settings.abandoned_upload_hours,
            )
        return aborted

    async def _announce(self, video_id: str) -> None:
        if self._signal is not None:
            await self._signal.send(video_id)

    async def _require_joined_object(self, upload: Upload) -> None:
        """Storage no longer has the multipart upload. That is fine only if it holds the
        whole object: a concurrent completion joined the parts first, or an earlier one did
        and stopped before the database commit. Otherwise the upload was aborted."""
        obj = await self._storage.head(upload.storage_key)
        if obj is None or obj.size != upload.size:
            raise errors.UploadAborted("storage no longer holds this upload; start a new one")

    async def _get(self, upload_id: str, actor: Actor) -> Upload:
        """The upload, if ``actor`` owns it (or is an admin, or the system). Someone else's
        upload is reported as missing, so that ids cannot be probed."""
        require_scope(actor, Scope.UPLOAD)
        upload = await self._store.get(upload_id)
        if upload is None or not can_manage(actor, upload.owner_id):
            raise errors.UploadNotFound(f"no upload with id {upload_id!r}")
        return upload

    async def _active(self, upload_id: str, actor: Actor) -> Upload:
        upload = await self._get(upload_id, actor)
        if upload.status is UploadStatus.ABORTED:
            raise errors.UploadAborted()
        if upload.status is UploadStatus.COMPLETED:
            raise errors.UploadCompleted()
        return upload

    async def _video_of(self, upload: Upload) -> Video:
        video = None if upload.video_id is None else await self._videos.get(upload.video_id)
        if video is None:
            raise errors.VideoNotFound("the video of this upload was deleted")
        return video
