"""The webhook sender against real sockets: the address is checked when it connects, the
request goes to the checked address under the URL's own name, and redirects stay put."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vodstack.adapters.webhook_http import HttpWebhookSender


@pytest.fixture
def redirecting() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A server that answers every POST with a redirect to a private address."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(307)
            self.send_header("location", "http://10.0.0.1/")
            self.send_header("content-length", "4")
            self.end_headers()
            self.wfile.write(b"away")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}/in", seen
    server.shutdown()
    server.server_close()


async def test_a_name_that_resolves_to_loopback_is_refused_at_connect() -> None:
    sender = HttpWebhookSender(allow_private=False, timeout_seconds=2)
    try:
        result = await sender.send("http://localhost:9/in", {}, "{}")
        assert result.status_code is None
        assert result.error is not None
        assert "loopback" in result.error
        assert await sender.addresses_problem("http://localhost:9/in") is not None
        assert await sender.addresses_problem("gopher://example.com/") is not None
    finally:
        await sender.close()


async def test_the_checked_address_is_connected_to_under_the_urls_name(
    redirecting: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = redirecting
    sender = HttpWebhookSender(allow_private=True, timeout_seconds=2)
    try:
        result = await sender.send(url, {"webhook-id": "msg_1"}, '{"a":1}')
    finally:
        await sender.close()
    assert (result.status_code, result.excerpt) == (307, "away"), "not followed"
    assert len(seen) == 1
    assert seen[0]["host"] == url.split("/")[2]
    assert seen[0]["webhook-id"] == "msg_1"


async def test_an_unreachable_receiver_is_an_error_not_an_exception() -> None:
    sender = HttpWebhookSender(allow_private=True, timeout_seconds=2)
    try:
        result = await sender.send("http://127.0.0.1:9/in", {}, "{}")
    finally:
        await sender.close()
    assert result.status_code is None
    assert result.error


async def test_a_receiver_that_never_answers_times_out_as_a_whole() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = HttpWebhookSender(allow_private=True, timeout_seconds=0.5)
    try:
        result = await sender.send(f"http://127.0.0.1:{port}/in", {}, "{}")
    finally:
        await sender.close()
        server.close()
    assert result.status_code is None
    assert result.error is not None
    assert "timed out" in result.error


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost``: its own authority."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_https_is_checked_against_the_urls_name_not_the_address(tmp_path: Path) -> None:
    cert_path, key_path = _certificate(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert_path, key_path)
    names: list[str | None] = []
    served.sni_callback = lambda sock, name, context: names.append(name)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=served)
    port = server.sockets[0].getsockname()[1]
    trusted = ssl.create_default_context(cafile=str(cert_path))
    sender = HttpWebhookSender(allow_private=True, timeout_seconds=5, verify=trusted)
    try:
        good = await sender.send(f"https://localhost:{port}/in", {}, "{}")
        bad = await sender.send(f"https://127.0.0.1:{port}/in", {}, "{}")
    finally:
        await sender.close()
        server.close()
    assert good.status_code == 204, good.error
    assert names[0] == "localhost"
    assert bad.status_code is None, "the certificate names localhost, not 127.0.0.1"
