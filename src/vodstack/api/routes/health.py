"""Liveness and readiness probes, and the Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from vodstack import metrics
from vodstack.api.schemas import ReadinessPublic
from vodstack.services.probes import OK, Probes

router = APIRouter(tags=["health"])


def _probes(request: Request) -> Probes:
    probes: Probes = request.app.state.probes
    return probes


ProbesDep = Annotated[Probes, Depends(_probes)]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "Not ready: the checks say why"}},
)
async def readyz(probes: ProbesDep) -> JSONResponse:
    checks = await probes.readiness()
    ready = all(answer == OK for answer in checks.values())
    body = ReadinessPublic(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(probes: ProbesDep) -> Response:
    return Response(await probes.metrics(), media_type=metrics.CONTENT_TYPE)
