"""Dependency aliases, so routes read like prose."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from vodstack.db.jobs import JobStore
from vodstack.db.uploads import VideoQueries
from vodstack.ports import JobSignal, Storage
from vodstack.services.playback import PlaybackService
from vodstack.services.uploads import UploadService
from vodstack.settings import Settings


@dataclass
class Services:
    """Everything the routes need, built once in the app's lifespan."""

    settings: Settings
    storage: Storage
    uploads: UploadService
    videos: VideoQueries
    jobs: JobStore
    playback: PlaybackService
    signal: JobSignal


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _uploads(request: Request) -> UploadService:
    return _services(request).uploads


def _videos(request: Request) -> VideoQueries:
    return _services(request).videos


def _jobs(request: Request) -> JobStore:
    return _services(request).jobs


def _playback(request: Request) -> PlaybackService:
    return _services(request).playback


def _storage(request: Request) -> Storage:
    return _services(request).storage


def _signal(request: Request) -> JobSignal:
    return _services(request).signal


Uploads = Annotated[UploadService, Depends(_uploads)]
Videos = Annotated[VideoQueries, Depends(_videos)]
StorageDep = Annotated[Storage, Depends(_storage)]
Jobs = Annotated[JobStore, Depends(_jobs)]
PlaybackDep = Annotated[PlaybackService, Depends(_playback)]
SignalDep = Annotated[JobSignal, Depends(_signal)]
