"""Child processes that read untrusted media, with limits a hostile file cannot exceed.

The probe and every ffmpeg run as children of the worker. Between fork and exec each one
gets: a death signal when the worker dies, no core dumps, an address-space limit, a CPU
time limit, a limit on the size of any file it writes and on how many it opens, and, when
it reads a local file, no network: a network namespace of its own with nothing in it where
the kernel allows one (as root, or through an unprivileged user namespace), else a seccomp
filter that refuses it any socket but a local one (where namespaces are refused, as in a
container with Docker's default seccomp profile). A child that breaks a limit is stopped by
the kernel, and only that child: the worker reads the way it ended and says which limit it
was.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import math
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from vodstack import errors
from vodstack.adapters import seccomp

log = logging.getLogger(__name__)

# Seconds between the CPU limit's warning signal (SIGXCPU) and the kernel's SIGKILL.
CPU_GRACE_SECONDS = 5
OPEN_FILES = 256
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
# How a child that reads a local file is kept off the network, as network_isolation found.
NAMESPACE = "namespace"
SOCKET_FILTER = "socket filter"
# What still holds when neither does, in words for the log.
STILL_PROTECTS = (
    "what still protects: ffmpeg may open only local files (its protocol allow-list) with "
    "only the demuxers on vodstack's allow-list, within its CPU, memory and file limits"
)
# Resolved once in the parent: the child between fork and exec should do as little as it can.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


@dataclass(frozen=True, slots=True)
class Confinement:
    """The limits of one child; None: that limit is not set."""

    memory_bytes: int | None = None  # address space, not resident memory
    cpu_seconds: float | None = None
    file_bytes: int | None = None  # the largest file it may write
    open_files: int = OPEN_FILES
    isolate_network: bool = False

    def preexec(self) -> Callable[[], None]:
        """What the child runs before exec. Network isolation is asked for only where a
        trial showed it works, so that a child never fails to start for want of it."""
        isolate = network_isolation() if self.isolate_network else None
        return functools.partial(_confine, self, isolate)

    def verdict(self, returncode: int) -> str | None:
        """Which limit a child that ended with ``returncode`` broke, in words; None when
        it ended for another reason."""
        # Neither ffmpeg nor Python handles SIGXCPU: it ends the child at the soft limit,
        # and the hard limit's SIGKILL is only a backstop.
        if returncode == -signal.SIGXCPU and self.cpu_seconds is not None:
            return f"it used more than its {self.cpu_seconds:.0f} s of CPU time"
        if returncode == -signal.SIGXFSZ and self.file_bytes is not None:
            return f"it wrote a file larger than {self.file_bytes // 2**20} MiB"
        return None


def signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _confine(confinement: Confinement, isolate: str | None) -> None:
    """In the child, between fork and exec."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if confinement.memory_bytes is not None:
        _lower(resource.RLIMIT_AS, confinement.memory_bytes)
    if confinement.cpu_seconds is not None:
        soft = math.ceil(confinement.cpu_seconds)
        _lower(resource.RLIMIT_CPU, soft, soft + CPU_GRACE_SECONDS)
    if confinement.file_bytes is not None:
        _lower(resource.RLIMIT_FSIZE, confinement.file_bytes)
    _lower(resource.RLIMIT_NOFILE, confinement.open_files)
    if isolate == NAMESPACE:
        _unshare_network()
    elif isolate == SOCKET_FILTER:
        _sockets().install()


def _lower(kind: int, soft: int, hard: int | None = None) -> None:
    """Never above the limit the worker itself runs under."""
    _, current = resource.getrlimit(kind)
    hard = soft if hard is None else hard
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(kind, (soft, hard))


def _unshare_network() -> None:
    """A network namespace of its own: only a loopback interface, and that one down."""
    assert _libc is not None
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        _unshare(_CLONE_NEWNET)
        return
    # Unprivileged: a user namespace first, where this process maps to its own ids, so that
    # it keeps the same rights on the files it reads and writes.
    _unshare(_CLONE_NEWUSER | _CLONE_NEWNET)
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _unshare(flags: int) -> None:
    assert _libc is not None
    if _libc.unshare(flags) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


@functools.cache
def _sockets() -> seccomp.Filter:
    """Only local (AF_UNIX) sockets: built once, in the parent."""
    return seccomp.Filter(seccomp.Refusal("socket", unless_first=seccomp.AF_UNIX))


@functools.cache
def network_isolation() -> str | None:
    """How this system lets a child of this process be kept off the network: NAMESPACE,
    SOCKET_FILTER, or None (said in words in the log). Tried once per process, each in a
    child that does nothing else."""
    if _libc is None:
        log.warning("media processes share the worker's network: %s", STILL_PROTECTS)
        return None
    refused = _trial(NAMESPACE)
    if refused is None:
        log.info("media processes that read a local file run without network access")
        return NAMESPACE
    missing = f"no network namespace of their own ({refused})"
    filtered = _trial(SOCKET_FILTER) if seccomp.supported() else "not on this architecture"
    if filtered is None:
        log.info(
            "media processes that read a local file cannot open network sockets: a seccomp "
            "filter refuses them (they get %s)",
            missing,
        )
        return SOCKET_FILTER
    log.warning(
        "media processes share the worker's network: they get %s, and no seccomp filter "
        "either (%s); %s",
        missing,
        filtered,
        STILL_PROTECTS,
    )
    return None


def _trial(isolation: str) -> str | None:
    """None if a child can be isolated so; else why not, in words. The child is a Python
    that isolates itself (as the confined child does before exec), so that the kernel's
    reason reaches this process: a failed preexec_fn would say only that it failed."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", __name__, isolation],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the trial could not run: {exc}"
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"the trial exited with {done.returncode}"


def _isolate_self(isolation: str) -> None:
    """The trial child's work; it exits 1 with the reason on stderr if it cannot."""
    try:
        if isolation == NAMESPACE:
            _unshare_network()
        else:
            _sockets().install()
    except OSError as exc:
        call = "unshare" if isolation == NAMESPACE else "seccomp"
        sys.exit(f"{call} was refused: {exc.strerror}")
    if isolation == SOCKET_FILTER:
        import socket

        try:
            socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        except OSError:
            return
        sys.exit("the seccomp filter did not take")


async def run_confined(
    command: list[str], confinement: Confinement, wall_seconds: float, doing: str
) -> tuple[int, str]:
    """A short child (a frame, the subtitles) to its end: its exit status and its stderr.
    It is killed when it outlives ``wall_seconds`` (TranscodeFailed saying what it was
    ``doing``) or when the awaiting task is cancelled, so that none outlives its caller."""
    await asyncio.to_thread(network_isolation)  # tried once per process: not on the loop
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=confinement.preexec(),
            env={**os.environ, "MALLOC_ARENA_MAX": "2"},
        )
    except OSError as exc:
        raise errors.TranscodeFailed(f"cannot start ffmpeg: {exc.strerror}") from exc
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), wall_seconds)
    except TimeoutError:
        raise errors.TranscodeFailed(f"{doing} took longer than {wall_seconds:.0f} s") from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return process.returncode or 0, stderr.decode(errors="replace")


if __name__ == "__main__":
    _isolate_self(sys.argv[1])
