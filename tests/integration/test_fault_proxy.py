"""The fault proxy of the end-to-end tests, against moto and the S3 client vodstack builds.

The infrastructure tests trust it to forward every request of a pooled connection intact,
and to fail exactly the requests armed: a mistake here would show there as a job that
fails, or recovers, for a reason nobody can see.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from tests.support.aws import Moto, s3_attempts_per_call
from tests.support.fault_proxy import FaultProxy, fault_proxy
from vodstack.adapters import aws
from vodstack.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEY = "sources/v1/source"
BODY = bytes(range(256)) * 4096  # 1 MiB: several reads on either side of the proxy


@pytest.fixture
def proxy(moto: Moto) -> Iterator[FaultProxy]:
    with fault_proxy(moto.endpoint) as proxy:
        yield proxy


@pytest.fixture
def bucket(moto: Moto) -> str:
    return moto.bucket()


@pytest.fixture
def echo() -> Iterator[str]:
    """An endpoint that answers every request with its body, as it understood it: moto
    does not read chunked bodies."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as S3 does

    def do_GET(self) -> None:
        self._echo(b"")

    def do_PUT(self) -> None:
        if self.headers.get("Transfer-Encoding") != "chunked":
            self._echo(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            return
        body = b""
        while size := int(self.rfile.readline().split(b";")[0], 16):
            body += self.rfile.read(size)
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b""):
            pass
        self._echo(body)

    def _echo(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def client(proxy: FaultProxy, timeout: float = 60) -> S3Client:
    """vodstack's own S3 client (its retries, its timeout), through the proxy."""
    settings = Settings(s3_endpoint_url=proxy.url, storage_timeout_seconds=timeout, _env_file=None)
    return aws.s3_client(settings)


def test_boto3s_requests_are_forwarded_intact(proxy: FaultProxy, bucket: str) -> None:
    s3 = client(proxy)
    # A file-like body: botocore sends Expect: 100-continue, and waits for the answer.
    s3.put_object(Bucket=bucket, Key=KEY, Body=io.BytesIO(BODY))
    assert s3.head_object(Bucket=bucket, Key=KEY)["ContentLength"] == len(BODY)
    assert s3.get_object(Bucket=bucket, Key=KEY)["Body"].read() == BODY
    assert [(s.method, s.outcome) for s in proxy.seen(KEY)] == [
        ("PUT", "forwarded"),
        ("HEAD", "forwarded"),
        ("GET", "forwarded"),
    ]


def test_request_bodies_are_framed_whatever_their_encoding(echo: str) -> None:
    with fault_proxy(echo) as proxy:
        http = HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        # A chunk extension and a trailer field: the body ends only after the empty line.
        http.putrequest("PUT", "/chunked")
        http.putheader("Transfer-Encoding", "chunked")
        http.endheaders(b"4;name=x\r\nvod \r\n6\r\nstack!\r\n0\r\nX-Check: 1\r\n\r\n")
        assert http.getresponse().read() == b"vod stack!"
        # The same connection carries the next requests, each found where it starts.
        http.request("PUT", "/sized", body=b"sized body")
        assert http.getresponse().read() == b"sized body"
        http.request("GET", "/none")
        assert http.getresponse().read() == b""
        http.close()
    assert [(s.method, s.target) for s in proxy.seen("/")] == [
        ("PUT", "/chunked"),
        ("PUT", "/sized"),
        ("GET", "/none"),
    ]
    assert proxy.connections == 1  # moto closes every connection; this endpoint keeps them


def test_an_interim_answer_reaches_the_client_while_its_request_is_forwarded(
    echo: str,
) -> None:
    with (
        fault_proxy(echo) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock,
        sock.makefile("rb") as answers,
    ):
        sock.sendall(b"PUT /expect HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        # The body is not sent before the endpoint's go-ahead, which the proxy must relay.
        assert answers.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert answers.readline() == b"\r\n"
        sock.sendall(b"body")
        assert answers.readline() == b"HTTP/1.1 200 OK\r\n"
        while answers.readline() != b"\r\n":
            pass
        assert answers.read(4) == b"body"


def test_one_call_gives_up_after_the_attempts_its_config_allows(
    proxy: FaultProxy, bucket: str
) -> None:
    s3 = client(proxy)
    s3.put_object(Bucket=bucket, Key=KEY, Body=BODY)
    attempts = s3_attempts_per_call()
    proxy.fail_next(match=KEY, times=attempts)
    with pytest.raises(ClientError) as refused:
        s3.head_object(Bucket=bucket, Key=KEY)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert proxy.refused == attempts
    # One request fewer, and the last attempt gets through.
    proxy.fail_next(match=KEY, times=attempts - 1)
    assert s3.head_object(Bucket=bucket, Key=KEY)["ContentLength"] == len(BODY)
    assert proxy.refused == 2 * attempts - 1


def test_a_held_request_is_sent_again_once_the_client_gives_up(
    proxy: FaultProxy, bucket: str
) -> None:
    s3 = client(proxy, timeout=1)
    s3.put_object(Bucket=bucket, Key=KEY, Body=BODY)
    armed = proxy.fail_next(match=KEY, mode="hang")
    assert s3.head_object(Bucket=bucket, Key=KEY)["ContentLength"] == len(BODY)
    assert armed.remaining == 0
    assert [(s.method, s.outcome) for s in proxy.seen(KEY)][1:] == [
        ("HEAD", "held"),
        ("HEAD", "forwarded"),
    ]
    eventually(lambda: proxy.abandoned == 1)
    assert proxy.held == 1


def test_the_global_mode_applies_from_the_next_request(proxy: FaultProxy, bucket: str) -> None:
    s3 = client(proxy)
    s3.put_object(Bucket=bucket, Key=KEY, Body=BODY)  # a pooled connection, now idle
    proxy.set_mode("503")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key=KEY)
    proxy.set_mode("pass")
    assert s3.head_object(Bucket=bucket, Key=KEY)["ContentLength"] == len(BODY)


def eventually(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true"
        time.sleep(0.05)
