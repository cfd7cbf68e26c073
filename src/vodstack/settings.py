"""The one Settings object: built at the entry point, passed down, never read at import."""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The upload rules' own sizes (domain/uploads.py), named here too for the settings' bounds.
from vodstack.domain.uploads import S3_MAX_PART_SIZE as S3_MAX_PART_SIZE
from vodstack.domain.uploads import S3_MAX_PARTS as S3_MAX_PARTS
from vodstack.domain.uploads import S3_MIN_PART_SIZE as S3_MIN_PART_SIZE
from vodstack.domain.uploads import GiB as GiB
from vodstack.domain.uploads import MiB as MiB

ADMIN_KEY_FILE = "admin.key"
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# A CSP host source (scheme, host with an optional leading wildcard, port, path), a bare
# scheme such as https:, or *; never a quoted keyword, a semicolon or a comma.
_FRAME_SOURCE = re.compile(
    r"^(\*|[a-z][a-z0-9+.-]*:"  # * or a scheme alone
    r"|([a-z][a-z0-9+.-]*://)?(\*\.)?[a-z0-9.-]+(:(\d+|\*))?"  # [scheme://][*.]host[:port]
    r"(/[^\s;,'\"]*)?)$",  # [path]
    re.IGNORECASE,
)


class Settings(BaseSettings):
    """Immutable once built: an entry point that needs another value builds a copy
    (``model_copy(update=...)``)."""

    model_config = SettingsConfigDict(
        env_prefix="VODSTACK_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    data_dir: Path = Field(
        default=Path("./data"),
        description="the embedded database, objects and generated keys; a worker's scratch "
        "space for each running job's source and outputs",
        json_schema_extra={"shown_default": "`./data`"},
    )
    database_url: str = Field(
        default="",
        validate_default=True,
        description="sqlite:///FILE or postgresql://user:password@host:5432/db (plain "
        "postgresql:// works as written)",
        json_schema_extra={"shown_default": "SQLite in the data dir (vodstack.db)"},
    )
    storage_url: str = Field(
        default="",
        validate_default=True,
        description="file:///DIRECTORY or s3://bucket[/prefix]",
        json_schema_extra={"shown_default": "the data dir's objects directory"},
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 API endpoint for MinIO, LocalStack or moto; unset for AWS"
    )
    s3_public_endpoint_url: str | None = Field(
        default=None, description="the S3 endpoint as clients reach it, for presigned URLs"
    )
    s3_path_style: bool = Field(
        default=False, description="path-style bucket addressing (MinIO, LocalStack)"
    )
    s3_region: str | None = Field(default=None, description="unset: the AWS default chain")
    storage_timeout_seconds: float = Field(
        default=60,
        gt=0,
        description="how long an S3 request may go unanswered before it is sent again",
    )
    cdn_url: str | None = Field(
        default=None, description="segments are fetched from here instead of presigned URLs"
    )
    queue_url: str = Field(default="database", description="'database' or an SQS queue URL")
    queue_trigger: Literal["upload", "s3-events"] = Field(
        default="upload",
        description="who sends a job's message: the upload service on complete, or S3's "
        "ObjectCreated notifications on the source bucket",
    )
    queue_wait_seconds: float = Field(default=20, ge=0, le=20, description="SQS long poll")
    sweep_seconds: float = Field(
        default=30,
        gt=0,
        description="with SQS, an idle worker also looks in the database this often, so a "
        "job whose message was lost is still done",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        validate_default=True,
        description="the base URL clients are given: the load balancer's, not one process's "
        "(vodstack serve's --host and --port when unset)",
    )
    encoder: Literal["auto", "libx264", "h264_nvenc"] = Field(
        default="auto",
        description="auto: h264_nvenc if a one-frame trial works, else libx264",
    )
    ffmpeg: str | None = Field(
        default=None,
        description="another ffmpeg build to run",
        json_schema_extra={"shown_default": "the ffmpeg of the imageio-ffmpeg wheel"},
    )
    api_key: str | None = Field(
        default=None,
        description="the key the CLI and the demo send as Authorization: Bearer",
        json_schema_extra={"shown_default": "the embedded admin's key in the data dir"},
    )
    secret_key: str | None = Field(
        default=None,
        description="HMAC key for signed URLs and tokens: the same in every process",
        json_schema_extra={"shown_default": "generated once into the data dir (secret.key)"},
    )

    cors_origins: list[str] = Field(
        default=["*"],
        description="origins whose pages may call the API and play videos, as a JSON list "
        '(["https://app.example.com"])',
    )
    trusted_proxies: str = Field(
        default="",
        description="the reverse proxies in front of the HTTP server (nginx, a load "
        "balancer): addresses or networks separated by commas, such as "
        "'127.0.0.1,10.0.0.0/8'. A request that comes from one of them is taken to come from "
        "the address its X-Forwarded-For header names, read from the right: the first one "
        "that is not itself a trusted proxy (its X-Forwarded-Proto gives the scheme). "
        "Address-bound playback tokens bind to that address. Empty: X-Forwarded-For is "
        "ignored whoever sends it, so that no client can claim another address",
    )
    embed_frame_ancestors: str = Field(
        default="*",
        description="the sites whose pages may frame the embed player (/embed/ID): CSP "
        "sources separated by spaces, such as 'https://blog.example.com https://*.example.org'",
    )

    lease_seconds: float = Field(
        default=60, gt=0, description="a job's lease: unrenewed this long, it may be claimed again"
    )
    heartbeat_seconds: float = Field(
        default=15, gt=0, description="how often a worker renews its lease (under lease_seconds)"
    )
    max_attempts: int = Field(
        default=5, ge=1, description="attempts of a job before it fails for good"
    )
    poll_seconds: float = Field(default=1.0, gt=0, description="idle worker's claim interval")
    graceful_seconds: float = Field(
        default=30, ge=0, description="on SIGTERM, how long running jobs may finish"
    )
    stall_seconds: float = Field(
        default=120, gt=0, description="kill ffmpeg after this long without progress"
    )
    max_rung: Literal[240, 480, 720, 1080, 1440, 2160] = Field(
        default=1080,
        description="the largest rung, by its short side; 1440 and 2160 are encoded after "
        "the others, and the whole ladder then takes about 1.6x and 2.8x the CPU",
    )
    rate_control: Literal["quality", "fixed"] = Field(
        default="quality",
        description="quality: each rung at a constant quality under a cap fitted to the "
        "source (fewer bits for easy video); fixed: each rung at its fixed bitrate",
    )
    min_vmaf: float = Field(
        default=40,
        ge=0,
        le=100,
        description="a rung whose sampled VMAF is below this is not published",
    )
    mp4_rendition: bool = Field(
        default=False,
        description="also publish the top rung, with its audio, as one MP4 to download "
        "(copied from its segments, not encoded again); videos encoded in one piece only",
    )

    webhook_allow_private: bool = Field(
        default=False,
        description="let webhooks reach loopback, private and link-local addresses",
    )
    webhook_delivery: bool = Field(
        default=True, description="this process sends webhook deliveries from the outbox"
    )
    webhook_retry_scale: float = Field(
        default=1.0, gt=0, description="multiplies every wait of the webhook retry schedule"
    )
    webhook_timeout_seconds: float = Field(default=15, gt=0, description="per delivery attempt")
    webhook_concurrency: int = Field(
        default=4, ge=1, le=64, description="deliveries one process sends at once"
    )
    webhook_poll_seconds: float = Field(
        default=1.0, gt=0, description="how often an idle delivery loop looks for due deliveries"
    )
    webhook_delivery_retention_days: float = Field(
        default=30,
        gt=0,
        description="delivered or failed webhook deliveries older than this are removed, "
        "with their attempts, by the server now and then and by `vodstack storage check "
        "--repair`; pending ones stay until they are settled",
    )
    storage_check_grace_seconds: float = Field(
        default=3600,
        ge=0,
        description="`vodstack storage check` never takes an object written less than this "
        "long ago for an orphan: it may have been written just before its record",
    )

    chunk_single_below_seconds: float = Field(
        default=30,
        ge=0,
        description="a source shorter than this is encoded in one piece; longer ones in "
        "chunks that any worker may take, playable once the first is in",
    )
    chunk_first_seconds: int = Field(
        default=6, ge=6, multiple_of=6, description="the first chunk: short, so it is soon in"
    )
    chunk_longest_seconds: int = Field(
        default=60, ge=6, multiple_of=6, description="chunks double in length up to this"
    )
    chunk_shortest_seconds: int = Field(
        default=12,
        ge=6,
        multiple_of=6,
        description="with several live worker slots, chunks are made shorter (down to this) "
        "so that every slot gets a fair share of a video; at least the longest, chunks are "
        "cut as for one worker",
    )
    first_tier_height: int = Field(
        default=480,
        ge=0,
        description="rungs up to this size are encoded first, for the whole video; the "
        "higher ones after (0: every rung at once)",
    )

    # What one upload may cost: each limit is refused at once, with its reason; see
    # docs/security.md.
    max_frame_pixels: int = Field(
        default=7680 * 4320, gt=0, description="the largest picture accepted (8K UHD)"
    )
    max_duration_seconds: float = Field(
        default=12 * 3600, gt=0, description="the longest video accepted (12 h)"
    )
    max_streams: int = Field(default=32, ge=1, description="streams of any kind in one file")
    max_still_seconds: float = Field(
        default=300,
        gt=0,
        description="the longest stretch with no new picture, or no sound; shorter stills "
        "are encoded as a frame every 2 s",
    )
    min_decoded_fraction: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="a truncated file with less than this share of its declared duration "
        "is refused; with more, it is published with a warning",
    )
    media_memory_mb: int = Field(
        default=8192,
        ge=0,
        description="address space of each probe and ffmpeg process (0: no limit)",
    )
    cpu_seconds_per_media_second: float = Field(
        default=60,
        gt=0,
        description="CPU time an encode may use per second of its media (at least 120 s)",
    )
    probe_timeout_seconds: float = Field(
        default=300, gt=0, description="how long probing one upload may take"
    )

    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: console text at a terminal, JSON lines otherwise"
    )
    log_level: str = Field(default="info", description="debug, info, warning or error")
    otel_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("VODSTACK_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP/HTTP collector for traces (needs the otel extra); unset: no tracing",
    )

    max_upload_bytes: int = Field(
        default=50 * GiB,
        gt=0,
        description="the largest upload, in bytes",
        json_schema_extra={"shown_default": "53687091200 (50 GiB)"},
    )
    part_size: int = Field(
        default=16 * MiB,
        ge=S3_MIN_PART_SIZE,
        le=S3_MAX_PART_SIZE,
        description="an upload's part size in bytes, grown as needed so that no upload needs "
        "more than 10,000 parts",
        json_schema_extra={"shown_default": "16777216 (16 MiB)"},
    )
    presign_seconds: int = Field(
        default=3600, gt=0, le=7 * 24 * 3600, description="how long a part URL stays valid"
    )
    max_presign_batch: int = Field(
        default=1000, ge=1, le=S3_MAX_PARTS, description="part URLs one request may ask for"
    )
    uploads_per_minute: int = Field(
        default=60, ge=1, description="per caller, shared by every API process"
    )
    playback_tokens_per_minute: int = Field(
        default=600, ge=1, description="per caller, shared by every API process"
    )
    new_thumbnails_per_minute: int = Field(
        default=120,
        ge=1,
        description="pictures made (not those already kept) per client address, shared by "
        "every API process",
    )
    abandoned_upload_hours: float = Field(
        default=72, gt=0, description="unfinished uploads older than this are aborted"
    )
    playback_url_seconds: int = Field(
        default=6 * 3600,
        gt=60,
        le=7 * 24 * 3600,
        description="lifetime of presigned segment URLs; a viewing must fit in it",
        json_schema_extra={"shown_default": "21600 (6 h)"},
    )
    processes: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description=(
            "HTTP processes of `vodstack serve`, sharing its port (default: one per CPU); "
            "with role all and more than one, the job worker runs in a process of its own"
        ),
        json_schema_extra={"shown_default": "one per CPU"},
    )
    access_log_sample: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description=(
            "share of successful playback-file requests (playlists, segments) written to the "
            "access log; every other request, and every failure, is always logged"
        ),
    )
    accel_redirect: str | None = Field(
        default=None,
        pattern=r"^/[A-Za-z0-9_/-]*/$",
        description=(
            "with local storage behind nginx: answer a segment request, once its token is "
            "checked, with X-Accel-Redirect to this internal location followed by the "
            "file's storage key, and nginx sends the file (deploy/nginx-playback.conf)"
        ),
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in _LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(_LOG_LEVELS)}")
        return value.lower()

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        proxies = [p.strip() for p in value.split(",") if p.strip()]
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"{proxy!r} is not an IP address or network (such as 10.0.0.0/8)"
                ) from None
        return ",".join(proxies)

    @field_validator("embed_frame_ancestors")
    @classmethod
    def _frame_sources(cls, value: str) -> str:
        # The value goes into a Content-Security-Policy header as it is: a quote or a
        # semicolon would let it say more than which sites may frame the player.
        sources = value.split()
        if not sources:
            raise ValueError("expected one or more sites separated by spaces, or *")
        for source in sources:
            if not _FRAME_SOURCE.match(source):
                raise ValueError(
                    f"{source!r} is not a site: give sources such as https://blog.example.com "
                    "or https://*.example.org, separated by spaces, with no quotes or semicolons"
                )
        return " ".join(sources)

    @field_validator("database_url")
    @classmethod
    def _embedded_database(cls, value: str, info: ValidationInfo) -> str:
        data_dir: Path = info.data.get("data_dir", Path("./data"))
        return value or f"sqlite:///{data_dir.resolve() / 'vodstack.db'}"

    @field_validator("storage_url")
    @classmethod
    def _embedded_storage(cls, value: str, info: ValidationInfo) -> str:
        data_dir: Path = info.data.get("data_dir", Path("./data"))
        return value or f"file://{data_dir.resolve() / 'objects'}"

    @field_validator("public_url", "cdn_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError("heartbeat_seconds must be shorter than lease_seconds")
        return self

    @property
    def uses_sqs(self) -> bool:
        return self.queue_url != "database"

    def client_api_key(self) -> str | None:
        """The key the CLI and the demo send: VODSTACK_API_KEY, or else the key of the admin
        that an embedded install created in its data dir on first start."""
        if self.api_key:
            return self.api_key
        path = self.data_dir / ADMIN_KEY_FILE
        return path.read_text().strip() if path.is_file() else None


def ensure_signing_key(settings: Settings) -> bytes:
    """The HMAC key of signed URLs: the configured one, or the one in the data dir, which
    the first start generates."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.data_dir / "secret.key"
    if not path.exists():
        write_secret(path, secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def write_secret(path: Path, value: str) -> None:
    """Readable by its owner only, and never seen half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
