"""Where the kernel refuses media processes a network namespace, as Docker's default seccomp
profile does to the image's uid 10001 (it answers unshare with EPERM), they are still kept
off the network, by a seccomp filter; where that is refused too, the worker says in words
what is missing and what still protects. The condition is made here the way Docker makes
it: a seccomp filter on the worker refusing the call."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from vodstack.adapters import seccomp
from vodstack.adapters.sandbox import NAMESPACE, SOCKET_FILTER, STILL_PROTECTS

pytestmark = pytest.mark.skipif(not seccomp.supported(), reason="no seccomp filters here")

# A worker's start: how it isolates media processes, then one such process that tries the
# network (the listener's port is the first argument).
WORKER = """
import logging, subprocess, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
from vodstack.adapters.sandbox import Confinement, network_isolation
print(network_isolation())
code = f"import socket; socket.create_connection(('127.0.0.1', {sys.argv[1]}), timeout=5)"
child = subprocess.run(
    [sys.executable, "-c", code],
    preexec_fn=Confinement(isolate_network=True).preexec(),
    capture_output=True,
    text=True,
)
print("connected" if child.returncode == 0 else "refused")
"""


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def worker_refused(calls: list[str], port: int) -> subprocess.CompletedProcess[str]:
    """The worker's start in a process whose kernel refuses ``calls`` with EPERM."""
    filters = [seccomp.Filter(seccomp.Refusal(call, errno.EPERM)) for call in calls]

    def refuse() -> None:
        for refusal in filters:
            refusal.install()

    return subprocess.run(
        [sys.executable, "-c", WORKER, str(port)],
        preexec_fn=refuse,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_namespace_then_a_socket_filter(listener: socket.socket) -> None:
    done = worker_refused(["unshare"], listener.getsockname()[1])
    assert done.stdout.splitlines() == [SOCKET_FILTER, "refused"], done.stderr
    assert (
        "INFO media processes that read a local file cannot open network sockets: a seccomp "
        "filter refuses them (they get no network namespace of their own (unshare was "
        "refused: Operation not permitted))"
    ) in done.stderr


def test_neither_is_said_in_words(listener: socket.socket) -> None:
    done = worker_refused(["unshare", "prctl"], listener.getsockname()[1])
    assert done.stdout.splitlines() == ["None", "connected"], done.stderr
    assert (
        "WARNING media processes share the worker's network: they get no network namespace "
        "of their own (unshare was refused: Operation not permitted), and no seccomp filter "
        f"either (seccomp was refused: Operation not permitted); {STILL_PROTECTS}"
    ) in done.stderr
    assert "preexec_fn" not in done.stderr


def test_a_namespace_where_the_kernel_gives_one(listener: socket.socket) -> None:
    done = worker_refused([], listener.getsockname()[1])
    if done.stdout.splitlines()[:1] != [NAMESPACE]:
        pytest.skip(f"this kernel gives no network namespaces: {done.stderr}")
    assert done.stdout.splitlines() == [NAMESPACE, "refused"], done.stderr
