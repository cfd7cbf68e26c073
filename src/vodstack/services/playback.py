"""The play side: hand out a ready video's master playlist, and serve the ladder's files.

Public and unlisted videos play for anyone. A private video plays only with a signed
playback token: it rides in the query of every URL the playlists name (child playlists, and
segments served here), is checked on every request, and expires. Segments that storage
serves itself (S3, a CDN) are presigned for no longer than the token lives.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from vodstack import errors
from vodstack.domain.accounts import Actor, Scope, Visibility, can_manage, require_scope
from vodstack.domain.captions import (
    Caption,
    caption_key,
    parse_captions,
    subtitle_playlist,
    subtitle_segments,
)
from vodstack.domain.chunks import Assembly, assemble
from vodstack.domain.ffmpeg_args import CHUNK_TIMELINE_OFFSET, MP4_NAME, PLAYLIST_NAME
from vodstack.domain.pictures import rewrite_cue_uris
from vodstack.domain.playlist import (
    MASTER_NAME,
    MediaPlaylist,
    SubtitleRendition,
    parse_media_playlist,
    rewrite_uris,
    with_subtitles,
)
from vodstack.domain.signing import (
    PlaybackGrant,
    check_grant,
    playback_token,
    signed_grant,
)
from vodstack.domain.videos import HLS_CONTENT_TYPES, Video, VideoStatus, output_prefix
from vodstack.ports import CaptionStore, Storage, VideoStore
from vodstack.settings import Settings

K = TypeVar("K")
V = TypeVar("V")

MASTER = MASTER_NAME
# Published outputs never change under their epoch, so segments are cached for good; a
# playlist stays short-lived: it may carry signed URLs that expire.
SEGMENT_CACHE = "public, max-age=31536000, immutable"
PRIVATE_SEGMENT_CACHE = "private, max-age=31536000, immutable"
PLAYLIST_CACHE = "public, max-age=10"
PRIVATE_PLAYLIST_CACHE = "private, max-age=10"
TOKEN_SECONDS = 3600  # a token the owner's own playback gets
MAX_TOKEN_SECONDS = 7 * 24 * 3600
_PLAYLIST_LIMIT = 4 * 1024 * 1024
_CACHED_PLAYLISTS = 4096
# A ready video is looked up once per this many seconds per process, not on every playlist
# and segment request. Players already cache playlists for 10 s, so a video made private or
# deleted stops playing here no later than it stops playing from their caches.
_READY_VIDEO_SECONDS = 2.0
_CACHED_VIDEOS = 4096
_CACHED_GRANTS = 65536  # viewers' tokens whose signature was checked: a few MiB at most
# A playlist with signed segment URLs is reused for this share of the URLs' lifetime, so a
# viewer always gets at least the rest of it to watch.
_RESIGN_SHARE = 0.1
_PLAYABLE = frozenset({VideoStatus.PLAYABLE, VideoStatus.READY})
# A playlist that still grows is cached for less than the 6 s a player waits to reload it.
GROWING_PLAYLIST_SECONDS = 2
# A stored caption is read and cut into segments once, then kept: a few MiB at most each.
_CACHED_CAPTIONS = 64
_CAPTION_LIMIT = 16 * 2**20
_CAPTION_FILE = re.compile(r"^captions/([0-9a-f]{32})/(index\.m3u8|seg_(\d{5})\.vtt)$")
# A ladder file's path: the video, the epoch and the file under it.
LADDER_FILE = re.compile(r"^/v1/videos/([^/]+)/hls/e([0-9]{1,9})/(.+)$")
_SAFE_PATH = re.compile(
    r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,100}(/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,100}){0,3}$"
)
# Files that name other files, served from here so that each name they hold is rewritten
# (a token carried on, or a presigned URL): playlists, and the storyboard's VTT.
_INDEXES = {".m3u8": rewrite_uris, ".vtt": rewrite_cue_uris}


@dataclass(frozen=True, slots=True)
class Playback:
    master_url: str
    expires_at: datetime | None  # None: public or unlisted, the URL does not expire
    token: str | None = None
    # Playable or ready; and the rungs its master lists, which a playable video's master
    # gains as the rest of its ladder is published.
    status: VideoStatus = VideoStatus.READY
    renditions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HlsFile:
    source: Path | str | bytes  # a file to send, a URL to redirect to, or the bytes
    content_type: str
    cache_control: str
    filename: str | None = None  # sent as a download, saved under this name
    gzipped: bytes | None = None  # the bytes, gzipped once, for clients that take gzip
    # Where a front proxy (nginx) sends the file from, after this answer checked the token.
    accel_redirect: str | None = None


class PlaybackService:
    def __init__(
        self,
        videos: VideoStore,
        storage: Storage,
        settings: Settings,
        signing_key: bytes,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        captions: CaptionStore | None = None,
    ) -> None:
        self._videos = videos
        self._captions = captions
        self._storage = storage
        self._settings = settings
        self._key = signing_key
        self._clock = clock
        self._wall_clock = wall_clock
        # Published playlists never change, so each is read from storage once.
        self._stored: OrderedDict[str, str] = OrderedDict()
        self._signed: OrderedDict[tuple[str, str], tuple[float, bytes, bytes]] = OrderedDict()
        self._ready: OrderedDict[str, tuple[float, Video]] = OrderedDict()
        self._grants: OrderedDict[str, PlaybackGrant] = OrderedDict()
        self._lookups: dict[str, asyncio.Future[Video | None]] = {}
        self._assembled: OrderedDict[tuple[str, str], Assembly] = OrderedDict()
        # By video and version: captions change the video's updated_at.
        self._tracks: OrderedDict[tuple[str, str], list[Caption]] = OrderedDict()
        self._segments: OrderedDict[tuple[str, float, float], list[str]] = OrderedDict()

    async def playback(
        self, video_id: str, actor: Actor, token: str | None = None, ip: str | None = None
    ) -> Playback:
        """The master URL, for whoever may play the video: anyone for a public or unlisted
        one; for a private one, the bearer of a valid ``token``, or its manager."""
        return self._playback(*await self.viewable(video_id, actor, token, ip))

    async def download(
        self, video_id: str, actor: Actor, token: str | None = None, ip: str | None = None
    ) -> HlsFile:
        """The video as one MP4 file, for whoever may play it (as ``playback`` decides)."""
        video, grant = await self.viewable(video_id, actor, token, ip)
        if video.chunked:
            raise errors.NotFound(
                "this video has no MP4 download: videos encoded in chunks have none yet"
            )
        key = f"{output_prefix(video.id, playing_epoch(video))}/{MP4_NAME}"
        if await self._storage.head(key) is None:
            raise errors.NotFound(
                "this video has no MP4 download: the server has VODSTACK_MP4_RENDITION off"
            )
        name = attachment_name(video.title, video.filename)
        source = await self._storage.locate(key, self.url_lifetime(grant), download_as=name)
        cache = PLAYLIST_CACHE if grant is None else PRIVATE_PLAYLIST_CACHE
        return HlsFile(source, "video/mp4", cache, name)

    async def issue_token(
        self, video: Video, expires_in: int, viewer: str | None = None, ip: str | None = None
    ) -> Playback:
        """A token for ``video`` (whose manager asks), and the master URL that carries it."""
        if not 60 <= expires_in <= MAX_TOKEN_SECONDS:
            raise errors.InvalidRequest(
                f"expires_in must be between 60 and {MAX_TOKEN_SECONDS} seconds"
            )
        return self._playback(_ready(video), self._grant(video.id, expires_in, viewer, ip))

    async def hls_file(
        self,
        video_id: str,
        epoch: int,
        path: str,
        token: str | None = None,
        ip: str | None = None,
    ) -> HlsFile:
        """A file of the published ladder. Only the published epoch is served: an
        unpublished attempt's outputs are never visible, whatever URL is guessed."""
        video, grant = await self.admit(video_id, epoch, path, token, ip)
        if path.startswith("captions/"):
            return await self._caption_file(video, path, token if grant else None)
        key = f"{output_prefix(video.id, epoch)}/{path}"
        lifetime = self.url_lifetime(grant)
        suffix = _suffix(path)
        if suffix in _INDEXES:
            body, gzipped = await self._playlist(
                video, key, path, token if grant else None, lifetime
            )
            cache = PLAYLIST_CACHE if grant is None else PRIVATE_PLAYLIST_CACHE
            if video.status is not VideoStatus.READY:  # it grows as chunks are published
                cache = cache.replace("max-age=10", f"max-age={GROWING_PLAYLIST_SECONDS}")
            return HlsFile(body, HLS_CONTENT_TYPES[suffix], cache, gzipped=gzipped)
        source = await self._storage.locate(key, lifetime)
        cache = SEGMENT_CACHE if grant is None else PRIVATE_SEGMENT_CACHE
        accel = self._settings.accel_redirect
        handoff = f"{accel}{key}" if accel and isinstance(source, Path) else None
        return HlsFile(source, HLS_CONTENT_TYPES[suffix], cache, accel_redirect=handoff)

    async def access(self, uri: str, ip: str | None) -> str:
        """The Cache-Control of the ladder file ``uri`` (a path with its query) names, if
        its request may have it; raises as ``hls_file`` would otherwise."""
        parsed = urlsplit(uri)
        found = LADDER_FILE.match(unquote(parsed.path))
        if found is None:
            raise errors.NotFound("not a playback file")
        token = dict(parse_qsl(parsed.query)).get("token")
        _, grant = await self.admit(found[1], int(found[2]), found[3], token, ip)
        return SEGMENT_CACHE if grant is None else PRIVATE_SEGMENT_CACHE

    async def admit(
        self, video_id: str, epoch: int, path: str, token: str | None, ip: str | None
    ) -> tuple[Video, PlaybackGrant | None]:
        """The video and the token's grant, if ``path`` of ``epoch`` is a ladder file that
        this request may fetch; the checks of every playback-file request, and all that a
        front proxy asks before it sends a segment itself."""
        if not _SAFE_PATH.match(path) or ".." in path or _suffix(path) not in HLS_CONTENT_TYPES:
            raise errors.NotFound(f"no such playback file: {path!r}")
        video = await self._video(video_id)
        if video is None:
            raise errors.VideoNotFound.named(video_id)
        grant = None
        if video.visibility is Visibility.PRIVATE:  # no key opens it: players carry the token
            if token is None:
                raise errors.VideoNotFound.named(video_id)
            grant = self._verified(token, video.id, ip)
        _ready(video)
        if epoch != playing_epoch(video):
            raise errors.NotFound(
                "that rendition is no longer published; fetch the playback URL again"
            )
        return video, grant

    async def viewable(
        self, video_id: str, actor: Actor, token: str | None = None, ip: str | None = None
    ) -> tuple[Video, PlaybackGrant | None]:
        """A playing video, for whoever may play it: anyone for a public or unlisted one;
        for a private one, the bearer of a valid ``token``, or its manager. The grant is
        the token's, or a new one for the manager; None for a video that needs none."""
        require_scope(actor, Scope.READ)
        video = await self._video(video_id)
        if video is None:
            raise errors.VideoNotFound.named(video_id)
        grant = self._access(video, actor, token, ip)
        return _ready(video), grant

    async def media_playlist(self, video: Video, path: str) -> MediaPlaylist:
        """A published media playlist (``path`` under the epoch, e.g. ``720p/index.m3u8``)
        as stored, or as assembled for a chunked video: URIs relative to its folder."""
        if video.chunked:
            text = await self._assembled_playlist(video, path)
        else:
            text = await self._stored_playlist(
                f"{output_prefix(video.id, playing_epoch(video))}/{path}"
            )
        return parse_media_playlist(text)

    def forget(self, video_id: str) -> None:
        """The video changed (its visibility, or it was deleted): look it up again."""
        self._ready.pop(video_id, None)

    async def _video(self, video_id: str) -> Video | None:
        """The video, from a short-lived cache once it is ready: every viewer asks for a
        playlist or segment every few seconds, and a ready video rarely changes."""
        now = self._clock()
        cached = self._ready.get(video_id)
        if cached is not None and now - cached[0] < _READY_VIDEO_SECONDS:
            return cached[1]
        # One lookup for all who ask meanwhile: when the entry runs out under load, every
        # viewer's request at that moment would otherwise queue its own query.
        pending = self._lookups.get(video_id)
        if pending is None:
            pending = asyncio.ensure_future(self._look_up(video_id, now))
            self._lookups[video_id] = pending
            pending.add_done_callback(lambda _: self._lookups.pop(video_id, None))
        return await asyncio.shield(pending)

    async def _look_up(self, video_id: str, now: float) -> Video | None:
        video = await self._videos.get(video_id)
        if video is not None and video.status in _PLAYABLE:
            _remember(self._ready, video_id, (now, video), _CACHED_VIDEOS)
        else:
            self._ready.pop(video_id, None)
        return video

    def _verified(self, token: str, video_id: str, ip: str | None) -> PlaybackGrant:
        """The token's grant, as ``verify_playback_token`` checks it. A viewer's player sends
        the same token with every playlist and segment, so its signature is checked once
        and the grant kept; what can change from one request to the next, its expiry and
        the address it is used from, is checked every time.

        A token that this server did not sign for this very video is answered as if the
        video did not exist, so that a private video's id reveals nothing to whoever
        guesses it. One it did sign, but that expired or is used from another address, may
        say so: its bearer was given the video, and the token names it anyway."""
        grant = self._grants.get(token)
        if grant is None:
            try:
                grant = signed_grant(token, self._key)
            except errors.SignatureInvalid:
                raise errors.VideoNotFound.named(video_id) from None
            _remember(self._grants, token, grant, _CACHED_GRANTS)
        if grant.video_id != video_id:
            raise errors.VideoNotFound.named(video_id)
        check_grant(grant, self._wall_clock(), video_id, ip)
        return grant

    def _access(
        self, video: Video, actor: Actor, token: str | None, ip: str | None
    ) -> PlaybackGrant | None:
        """Whether the video plays for this caller: None for a public or unlisted one; for a
        private one, the bearer's valid ``token``, or a new grant for its manager."""
        if video.visibility is not Visibility.PRIVATE:
            return None
        if token is not None:
            return self._verified(token, video.id, ip)
        if can_manage(actor, video.owner_id):
            return self._grant(video.id, TOKEN_SECONDS)
        raise errors.VideoNotFound.named(video.id)

    def _grant(
        self, video_id: str, seconds: int, viewer: str | None = None, ip: str | None = None
    ) -> PlaybackGrant:
        return PlaybackGrant(video_id, int(self._wall_clock()) + seconds, viewer, ip)

    def _playback(self, video: Video, grant: PlaybackGrant | None) -> Playback:
        master = f"{self._settings.public_url}{hls_path(video.id, playing_epoch(video), MASTER)}"
        listed = tuple(str(r["name"]) for r in video.renditions)
        if grant is None:
            return Playback(master, None, None, video.status, listed)
        token = playback_token(grant, self._key)
        return Playback(
            f"{master}?token={quote(token)}", _at(grant.expires), token, video.status, listed
        )

    def url_lifetime(self, grant: PlaybackGrant | None) -> int:
        """Presigned segment URLs outlive neither the setting nor the token."""
        lifetime = self._settings.playback_url_seconds
        if grant is not None:
            lifetime = min(lifetime, max(1, grant.expires - int(self._wall_clock())))
        return lifetime

    async def _playlist(
        self, video: Video, key: str, path: str, token: str | None, lifetime: int
    ) -> tuple[bytes, bytes]:
        """The playlist as players get it. Where storage serves files itself (S3 presigned
        URLs, a CDN), segment URIs point there, so video bytes never pass through the API;
        otherwise they stay relative and resolve to this API. A token is carried on to
        every URI that resolves to this API. Returned plain and gzipped (Apple asks for
        compressed playlists), both made once per video version, token and signing."""
        now = self._clock()
        # A chunked video's playlists change as its parts are published, and so does it; a
        # master changes with the video's captions.
        version = video.updated_at.isoformat() if video.chunked or path == MASTER else ""
        cache_key = (f"{key}@{version}", token or "")
        signed = self._signed.get(cache_key)
        if signed is not None and now - signed[0] < lifetime * _RESIGN_SHARE:
            return signed[1], signed[2]
        if video.chunked:
            text = await self._assembled_playlist(video, path)
        else:
            text = await self._stored_playlist(key)
        if path == MASTER:
            text = with_subtitles(text, await self._subtitles(video))
        folder = key.rsplit("/", 1)[0]
        query = "" if token is None else f"?token={quote(token)}"

        # Once per URI: a presigned URL changes as the signing clock ticks, and a VTT names
        # each sheet in many cues, which must share one URL for players to fetch it once.
        @functools.cache
        def resolve(uri: str) -> str:
            if "://" in uri or uri.startswith("/"):
                return uri
            # Playlists always come from here (they may carry signed URLs); only media
            # files may go to storage.
            direct = (
                None
                if uri.endswith(".m3u8")
                else self._storage.public_url(
                    f"{folder}/{uri}", lifetime, private=token is not None
                )
            )
            return direct or uri + query

        body = _INDEXES[PurePosixPath(path).suffix](text, resolve).encode()
        # mtime 0: the same playlist always compresses to the same bytes.
        gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        _remember(self._signed, cache_key, (now, body, gzipped))
        return body, gzipped

    async def captions(self, video: Video) -> list[Caption]:
        """The video's captions, looked up once per version of the video."""
        if self._captions is None:
            return []
        version = (video.id, video.updated_at.isoformat())
        found = self._tracks.get(version)
        if found is None:
            found = await self._captions.list(video.id)
            _remember(self._tracks, version, found, _CACHED_VIDEOS)
        return found

    async def _subtitles(self, video: Video) -> list[SubtitleRendition]:
        return [
            SubtitleRendition(c.name, c.language, f"captions/{c.id}/{PLAYLIST_NAME}")
            for c in await self.captions(video)
        ]

    async def _caption_file(self, video: Video, path: str, token: str | None) -> HlsFile:
        """A caption's media playlist, or one of its WebVTT segments, cut to line up with
        the video's own segments."""
        match = _CAPTION_FILE.match(path)
        caption = None
        if match is not None:
            caption = next((c for c in await self.captions(video) if c.id == match[1]), None)
        if match is None or caption is None:
            raise errors.NotFound(f"no such playback file: {path!r}")
        cache = PLAYLIST_CACHE if token is None else PRIVATE_PLAYLIST_CACHE
        duration = await self._duration(video)
        if match[3] is None:
            query = "" if token is None else f"?token={quote(token)}"
            body = rewrite_uris(subtitle_playlist(duration), lambda uri: uri + query)
            return HlsFile(body.encode(), HLS_CONTENT_TYPES[".m3u8"], cache)
        segments = await self._caption_segments(video, caption, duration)
        index = int(match[3])
        if index >= len(segments):
            raise errors.NotFound(f"no such playback file: {path!r}")
        return HlsFile(segments[index].encode(), HLS_CONTENT_TYPES[".vtt"], cache)

    async def _caption_segments(self, video: Video, caption: Caption, duration: float) -> list[str]:
        # A split video's timestamps start CHUNK_TIMELINE_OFFSET in; the cues must too.
        start = CHUNK_TIMELINE_OFFSET if video.chunked else 0.0
        cache_key = (caption.id, duration, start)
        segments = self._segments.get(cache_key)
        if segments is None:
            key = caption_key(video.id, caption.id)
            data = await self._storage.read_bytes(key, _CAPTION_LIMIT)
            try:
                cues = parse_captions(data, limit=_CAPTION_LIMIT)
            except ValueError as exc:
                raise errors.NotFound(f"the caption cannot be read: {exc}") from exc
            segments = subtitle_segments(cues, duration, start)
            _remember(self._segments, cache_key, segments, _CACHED_CAPTIONS)
        return segments

    async def _duration(self, video: Video) -> float:
        """A split video that still encodes has no duration yet: its plan's is the one."""
        if video.duration is not None:
            return video.duration
        found = await self._videos.parts(video.id)
        return 0.0 if found is None else found[0].duration

    async def _assembled_playlist(self, video: Video, path: str) -> str:
        """A chunked video's playlist, assembled from what its parts published: once per
        change of the video, not per request."""
        assembly = await self._assembly(video)
        text = None if assembly is None else assembly.playlists.get(path)
        if text is None:
            raise errors.NotFound(f"no such playback file: {path!r}")
        return text

    async def _assembly(self, video: Video) -> Assembly | None:
        version = (video.id, video.updated_at.isoformat())
        assembly = self._assembled.get(version)
        if assembly is None:
            found = await self._videos.parts(video.id)
            if found is None:
                return None
            assembly = assemble(*found)
            _remember(self._assembled, version, assembly, _CACHED_VIDEOS)
        return assembly

    async def _stored_playlist(self, key: str) -> str:
        text = self._stored.get(key)
        if text is None:
            text = (await self._storage.read_bytes(key, _PLAYLIST_LIMIT)).decode()
            _remember(self._stored, key, text)
        return text


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9 ._()-]+")


def attachment_name(title: str, filename: str) -> str:
    """A file name to save the MP4 as, from the video's title (or its upload's name): only
    characters that are safe in a header and on every file system, never a path."""
    stem = title.strip() or PurePosixPath(filename.replace("\\", "/")).stem
    safe = _UNSAFE_NAME.sub("_", stem).strip(" ._")[:100].strip(" ._")
    return f"{safe or 'video'}.mp4"


def _suffix(path: str) -> str:
    """PurePosixPath(path).suffix, for a path ``_SAFE_PATH`` admits, without the object."""
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _ready(video: Video) -> Video:
    """The video, if it plays: ready, or playable while its later chunks are encoded."""
    if video.status not in _PLAYABLE:
        detail = f": {video.error}" if video.error else ""
        raise errors.VideoNotReady(f"the video is {video.status}{detail}")
    return video


def _remember(cache: OrderedDict[K, V], key: K, value: V, limit: int = _CACHED_PLAYLISTS) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def _at(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


def hls_path(video_id: str, epoch: int, path: str) -> str:
    return f"/v1/videos/{video_id}/hls/e{epoch}/{path}"


def playing_epoch(video: Video) -> int:
    """The epoch a playing video is served from."""
    assert video.published_epoch is not None, "a ready video has a published epoch"
    return video.published_epoch
