"""The ``vodstack`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import webbrowser
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from vodstack.client import ApiError, Form, VodstackClient
from vodstack.domain.accounts import Visibility
from vodstack.errors import ConfigurationError
from vodstack.settings import Settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Self-hostable video on demand.",
)
console = Console(stderr=True, soft_wrap=True)  # URLs must stay whole to be clicked
log = logging.getLogger("vodstack.cli")


def _settings() -> Settings:
    """The settings, or a clear line for each bad one (not a traceback)."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        for problem in exc.errors():
            name = "_".join(str(part) for part in problem["loc"]).upper()
            where = f"VODSTACK_{name}: " if name else "settings: "
            console.print(f"[red]{where}{problem['msg']}[/]", highlight=False)
        raise typer.Exit(2) from None


@app.command()
def serve(
    role: Annotated[str, typer.Option(help="all, upload or play")] = "all",
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[
        int | None, typer.Option(help="job slots (default: 1 with role all)")
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help="HTTP processes sharing the port (default: VODSTACK_PROCESSES, else one per CPU)",
        ),
    ] = None,
) -> None:
    """Run the HTTP API (and, with role all, the worker too) on one port."""
    import uvicorn

    from vodstack.api import create_app, served_app
    from vodstack.api.proxies import proxy_options
    from vodstack.logs import configure_logging
    from vodstack.tracing import configure_tracing

    if role not in ("all", "upload", "play"):
        raise typer.BadParameter("role must be all, upload or play", param_hint="--role")
    settings = _settings()
    if "public_url" not in settings.model_fields_set:
        settings = settings.model_copy(update={"public_url": f"http://{host}:{port}"})
    _require_backends(settings)
    configure_logging(settings.log_format, settings.log_level)
    count = processes or settings.processes or os.cpu_count() or 1
    slots = workers if workers is not None else (1 if role == "all" else 0)
    log.info(
        "vodstack %s on http://%s:%s, %d process(es) (data: %s)",
        role,
        host,
        port,
        count,
        settings.data_dir.resolve(),
    )
    if count > 1:
        _serve_processes(settings, role, host, port, slots, count)
        return
    configure_tracing(settings.otel_endpoint, "vodstack" if role == "all" else f"vodstack-{role}")
    app_ = create_app(settings, role, workers=slots)  # type: ignore[arg-type]
    served = served_app(app_, settings, role)  # type: ignore[arg-type]
    # Logging is set up already; uvicorn's loggers follow its level. The app writes the
    # access log itself (sampled as VODSTACK_ACCESS_LOG_SAMPLE asks).
    uvicorn.run(
        served,
        host=host,
        port=port,
        log_config=None,
        log_level=None,
        access_log=False,
        **proxy_options(settings),
    )


def _serve_processes(
    settings: Settings, role: str, host: str, port: int, slots: int, count: int
) -> None:
    """``count`` HTTP processes on one socket (uvicorn's supervisor restarts any that dies),
    and, for role all, the job worker in a process of its own beside them."""
    import uvicorn

    from vodstack.api.proxies import proxy_options
    from vodstack.api.served import SPEC_VARIABLE, prepare, serve_spec
    from vodstack.metrics import shared_across_processes

    asyncio.run(prepare(settings))
    os.environ[SPEC_VARIABLE] = serve_spec(role, 0)  # type: ignore[arg-type]
    os.environ["VODSTACK_PUBLIC_URL"] = settings.public_url
    # Before any process starts: each one's /metrics then answers for all of them.
    with shared_across_processes():
        jobs = _JobWorkerProcess(slots) if role == "all" and slots > 0 else None
        try:
            uvicorn.run(
                "vodstack.api.served:app_from_environment",
                factory=True,
                host=host,
                port=port,
                workers=count,
                log_config=None,
                log_level=None,
                access_log=False,
                **proxy_options(settings),
            )
        finally:
            if jobs is not None:
                jobs.stop()


class _JobWorkerProcess:
    """``vodstack worker`` as a child, started again whenever it exits until ``stop``."""

    def __init__(self, slots: int) -> None:
        self._command = [sys.executable, "-m", "vodstack", "worker", "--concurrency", str(slots)]
        self._stopping = threading.Event()
        self._process = subprocess.Popen(self._command)
        self._watcher = threading.Thread(target=self._watch, name="job worker", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        from vodstack.metrics import process_exited

        while not self._stopping.is_set():
            code = self._process.wait()
            process_exited(self._process.pid)  # its slots are gone, even if it was killed
            if self._stopping.is_set():
                return
            log.warning("the job worker exited (%s); starting it again", code)
            self._process = subprocess.Popen(self._command)

    def stop(self) -> None:
        """SIGTERM: the worker hands its running jobs back, as it does alone."""
        self._stopping.set()
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        self._process.wait()


@app.command()
def demo(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="another video to use")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="exit 0 once the sample is ready and served")
    ] = False,
) -> None:
    """Start the embedded stack, upload a sample through the API, follow it, keep serving."""
    from vodstack.demo import default_sample, run_demo
    from vodstack.logs import configure_logging

    settings = _settings()
    if "public_url" not in settings.model_fields_set:
        settings = settings.model_copy(update={"public_url": f"http://{host}:{port}"})
    # The demo talks to a person on stderr; only what goes wrong is logged, unless asked.
    level = settings.log_level if "log_level" in settings.model_fields_set else "warning"
    configure_logging(settings.log_format, level, sys.stderr)
    sample = file or default_sample()
    if not sample.is_file():
        console.print(f"[red]no sample clip at {sample}[/]: run `make demo`, or pass --file VIDEO")
        raise typer.Exit(1)
    code = asyncio.run(run_demo(settings, host, port, sample, check, console))
    raise typer.Exit(code)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from vodstack.db.migrate import open_database

    async def run() -> None:
        async with open_database(_settings()):
            pass

    asyncio.run(run())
    console.print("database is up to date")


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="jobs at once")] = 1,
    once: Annotated[bool, typer.Option("--once", help="exit when no job is due")] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="serve /metrics, /healthz and /readyz on this port"),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="the address the metrics port listens on")
    ] = "0.0.0.0",  # noqa: S104 (Prometheus scrapes it from another host)
) -> None:
    """Process jobs. SIGTERM: finish or release running jobs; a second SIGTERM: release now."""
    from vodstack.logs import configure_logging
    from vodstack.tracing import configure_tracing

    settings = _settings()
    _require_backends(settings)
    configure_logging(settings.log_format, settings.log_level)
    configure_tracing(settings.otel_endpoint, "vodstack-worker")
    try:
        asyncio.run(_run_worker(settings, concurrency, once, metrics_host, metrics_port))
    except ConfigurationError as exc:
        console.print(f"[red]cannot start: {exc.message}[/]", highlight=False)
        raise typer.Exit(2) from None


async def _run_worker(
    settings: Settings, concurrency: int, once: bool, metrics_host: str, metrics_port: int | None
) -> None:
    from vodstack.api.probe_server import serving_probes
    from vodstack.runtime import build_worker, open_backends, readiness_checks, webhook_delivery
    from vodstack.services.probes import Probes

    async with open_backends(settings) as backends, contextlib.AsyncExitStack() as stack:
        job_worker = build_worker(backends, concurrency=concurrency, once=once)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, job_worker.stop)
        if metrics_port is not None:
            probes = Probes(readiness_checks(backends) | {"worker": job_worker.check})
            await stack.enter_async_context(serving_probes(probes, metrics_host, metrics_port))
            log.info("metrics and probes on http://%s:%d", metrics_host, metrics_port)
        if not once:
            await stack.enter_async_context(webhook_delivery(backends, job_worker.name))
        log.info("worker %s: %d slot(s)", job_worker.name, concurrency)
        await job_worker.run()


users_app = typer.Typer(no_args_is_help=True, help="Accounts and their API keys.")
app.add_typer(users_app, name="users")


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="a unique name")],
    admin: Annotated[bool, typer.Option("--admin", help="may manage every video")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Create a user and print its API key: shown once, stored only as a hash."""
    from vodstack.db.accounts import SqlAccountStore
    from vodstack.db.migrate import open_database
    from vodstack.domain.accounts import System
    from vodstack.errors import VodstackError
    from vodstack.services.accounts import AccountService

    async def create() -> tuple[str, str]:
        async with open_database(_settings()) as engine:
            accounts = AccountService(SqlAccountStore(engine))
            user, key = await accounts.create_user(name, admin, System("vodstack users create"))
            return user.id, key

    try:
        user_id, key = asyncio.run(create())
    except VodstackError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps({"id": user_id, "name": name, "admin": admin, "api_key": key}))
        return
    console.print(f"created {'admin ' if admin else ''}user {name} ({user_id})")
    console.print("its API key, shown only this once:", highlight=False)
    print(key)


@app.command("check-config")
def check_config(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Check that the database, object storage and queue are reachable and usable."""
    from vodstack.runtime import check_backends

    settings = _settings()
    problems = asyncio.run(check_backends(settings))
    where = {
        "database": _redacted(settings.database_url),
        "storage": settings.storage_url,
        "queue": settings.queue_url,
    }
    if as_json:
        print(
            json.dumps({name: {"url": where[name], "problem": p} for name, p in problems.items()})
        )
    else:
        for name, problem in problems.items():
            mark = "[green]ok[/]" if problem is None else f"[red]{problem}[/]"
            console.print(f"{name:9} {where[name]}  {mark}", highlight=False)
    if any(problems.values()):
        raise typer.Exit(1)


def _require_backends(settings: Settings) -> None:
    """Refuse to start, saying why, when a backend is unusable: a clear line instead of a
    traceback for a wrong credential, a missing bucket or a missing queue."""
    from vodstack.runtime import check_backends

    problems = asyncio.run(check_backends(settings))
    found = {name: p for name, p in problems.items() if p}
    for name, problem in found.items():
        console.print(f"[red]cannot start: {name}: {problem}[/]", highlight=False)
    if found:
        raise typer.Exit(2)


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"


ServerOption = Annotated[
    str | None, typer.Option("--server", help="API base URL (default: VODSTACK_PUBLIC_URL)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON on stdout")]


def _client(server: str | None, concurrency: int = 4) -> VodstackClient:
    settings = _settings()
    return VodstackClient(
        server or settings.public_url,
        settings.client_api_key(),
        concurrency=concurrency,
        on_wait=_say_waiting,
    )


def _call(
    server: str | None, method: str, path: str, body: Any = None, form: Form | None = None
) -> Any:
    """One API call with the configured key; an API error is said in one line."""

    async def run() -> Any:
        async with _client(server) as client:
            return await client.call(method, path, body, form=form)

    return _run_api(run())


def _say_waiting(seconds: float, why: ApiError) -> None:
    """On stderr, so that a person knows why nothing moves while stdout stays the result."""
    what = "rate limited" if why.status == 429 else "server unavailable"
    console.print(f"[yellow]{what}; retrying in {math.ceil(seconds)} s[/]", highlight=False)


VisibilityOption = Annotated[
    Visibility,
    typer.Option(
        help="public: listed; unlisted: plays for anyone with its id; private: plays only for"
        " you, or with a playback token"
    ),
]


@app.command()
def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    title: Annotated[str | None, typer.Option()] = None,
    description: Annotated[str, typer.Option(help="the video's description")] = "",
    visibility: VisibilityOption = Visibility.PUBLIC,
    server: ServerOption = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 4,
    wait: Annotated[bool, typer.Option("--wait", help="wait until ready or failed")] = False,
    wait_playable: Annotated[
        bool,
        typer.Option("--wait-playable", help="wait until it plays (playable or ready), or failed"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object last")] = False,
) -> None:
    """Upload a video. Run it again after an interruption to send only the missing parts."""

    async def run() -> dict[str, Any]:
        with _upload_progress(transient=as_json) as progress:
            task = progress.add_task(f"uploading {file.name}", total=None)

            def started(total: int, done: int) -> None:
                progress.update(task, total=total, completed=done)

            def advanced(n: int) -> None:
                progress.advance(task, n)

            async with _client(server, concurrency) as client:
                uploaded = await client.upload(
                    file,
                    title,
                    on_start=started,
                    on_progress=advanced,
                    description=description,
                    visibility=visibility,
                )
                result = uploaded.as_dict()
                if wait or wait_playable:
                    progress.update(task, description="processing")
                    video = await client.wait_until_done(
                        result["video_id"], playable=wait_playable and not wait
                    )
                    result.update(
                        status=video["status"],
                        error=video.get("error"),
                        warnings=video.get("warnings", []),
                    )
        return result

    try:
        result = asyncio.run(run())
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; run the same command again to resume[/]")
        raise typer.Exit(130) from None
    _finish(result, as_json, ok=result["status"] != "failed")


def _upload_progress(transient: bool) -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )


@app.command()
def videos(
    server: ServerOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="the API's JSON on stdout")] = False,
) -> None:
    """List videos."""

    listing = _call(server, "GET", "/v1/videos")
    if as_json:
        print(json.dumps(listing))
        return
    table = Table("id", "status", "progress", "title")
    for video in listing["videos"]:
        warned = len(video.get("warnings", []))
        shown = video["status"]
        if warned:
            shown += f" [yellow]({warned} warning{'' if warned == 1 else 's'})[/]"
        # A title is the uploader's text: shown as it is, never read as markup.
        table.add_row(video["id"], shown, f"{video['progress']:.0%}", escape(video["title"]))
    Console().print(table)


@app.command()
def status(video_id: str, server: ServerOption = None) -> None:
    """Show one video (as JSON on stdout; its warnings on stderr too, to be seen)."""

    async def run() -> Any:
        async with _client(server) as client:
            return await client.video(video_id)

    video = _run_api(run())
    print(json.dumps(video, indent=2))
    _print_warnings(video.get("warnings", []))


@app.command()
def delete(
    video_id: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask first")] = False,
    server: ServerOption = None,
) -> None:
    """Delete a video: its source, every rendition and its timeline. Asks first, unless
    --yes."""

    async def title() -> str:
        async with _client(server) as client:
            return str((await client.video(video_id))["title"])

    if not yes:
        shown = _run_api(title())
        if not typer.confirm(f"Delete video {video_id} ({shown})?", err=True):
            console.print("nothing deleted")
            raise typer.Exit(1)
    _call(server, "DELETE", f"/v1/videos/{quote(video_id, safe='')}")
    console.print(f"deleted video {video_id}", highlight=False)


@app.command()
def retry(
    video_id: str,
    server: ServerOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Process a failed video again (of a video encoded in chunks, only its failed parts)."""

    retried = _call(server, "POST", f"/v1/videos/{quote(video_id, safe='')}/retry")
    _finish(retried, as_json, ok=True)


@app.command("open")
def open_video(
    video_id: str,
    print_only: Annotated[
        bool, typer.Option("--print", help="only print the link; open no browser")
    ] = False,
    server: ServerOption = None,
) -> None:
    """Print the video's page URL and open it in a browser. A private video's link signs
    that browser in with your API key, as the demo's link does (in the address's fragment,
    which browsers never send to a server): treat it as the key itself, and share a
    playback token instead (POST /v1/videos/ID/playback-tokens)."""

    async def run() -> tuple[str, dict[str, Any], str | None]:
        async with _client(server) as client:
            return client.server, await client.video(video_id), client.api_key

    base, video, key = _run_api(run())
    url = f"{base}/videos/{quote(video['id'], safe='')}"
    if video["visibility"] == Visibility.PRIVATE and key:
        url += f"#key={quote(key, safe='')}"
        console.print("[yellow]this link holds your API key: do not share it[/]", highlight=False)
    print(url)
    if not print_only:
        webbrowser.open(url)


@app.command()
def download(
    video_id: str,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="where to write it (default: its uploaded name, here)"),
    ] = None,
    server: ServerOption = None,
) -> None:
    """Download a video's original file, as it was uploaded (yours, or any with an admin key)."""

    async def run() -> tuple[Path, int]:
        async with _client(server) as client:
            video = await client.video(video_id)
            out = output or Path(Path(str(video["filename"])).name or f"{video_id}.source")
            path = f"/v1/videos/{quote(video_id, safe='')}/source"
            return out, await client.download(path, out)

    out, size = _run_api(run())
    console.print(f"downloaded {size} bytes to {out}", highlight=False)


def _run_api(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except ApiError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None


def _finish(result: dict[str, Any], as_json: bool, ok: bool) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        console.print(
            f"video [bold]{result['video_id']}[/] is [bold]{result['status']}[/]"
            + (" (resumed)" if result.get("resumed") else "")
        )
    _print_warnings(result.get("warnings", []))
    if not ok:
        raise typer.Exit(1)


def _print_warnings(warnings: list[str]) -> None:
    """On stderr, so a script reading the JSON on stdout is not disturbed by them."""
    for warning in warnings:
        # The text comes from the probe (a file's own metadata, even): never markup.
        console.print("[bold yellow]warning:[/]", escape(warning), highlight=False)


# The keys commands and `users list`, the webhooks, captions and storage commands, in modules
# of their own; importing them registers them.
from vodstack import cli_captions, cli_keys, cli_storage, cli_webhooks  # noqa: E402, F401


def main() -> None:
    try:
        app()
    except ApiError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(1)
    except httpx.TransportError as exc:
        url = exc.request.url if exc.request else "the server"
        console.print(f"[red]error:[/] cannot reach {url}: {exc or type(exc).__name__}")
        sys.exit(1)
