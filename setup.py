"""The one build step pyproject.toml cannot say: the player's hls.js goes into the package,
exactly the version web/package-lock.json pins, so a wheel serves its pages with no npm
and no checkout. It is copied from web/node_modules when npm installed that version, and
otherwise fetched from the npm registry and checked against the lockfile's integrity hash.
An editable install builds nothing: the server finds the checkout's web/node_modules."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import urllib.request
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
LOCKFILE = HERE / "web" / "package-lock.json"
INSTALLED = HERE / "web" / "node_modules" / "hls.js"
VENDORED = Path("vodstack", "web", "vendor", "hls.min.js")
IN_TARBALL = "package/dist/hls.min.js"
REGISTRY = "https://registry.npmjs.org"  # where npm ci fetches from when the lockfile has no URL
DOWNLOAD_TIMEOUT_SECONDS = 120


class BuildWithHlsJs(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib, VENDORED)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(hls_js())
        self.announce(f"wrote {target}", level=2)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs: list[str] = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return [*outputs, str(Path(self.build_lib, VENDORED))]


def hls_js() -> bytes:
    locked = json.loads(LOCKFILE.read_text())["packages"]["node_modules/hls.js"]
    version = locked["version"]
    installed = INSTALLED / "package.json"
    if installed.is_file() and json.loads(installed.read_text())["version"] == version:
        return (INSTALLED / "dist" / "hls.min.js").read_bytes()
    url = locked.get("resolved") or f"{REGISTRY}/hls.js/-/hls.js-{version}.tgz"
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:  # noqa: S310
            tarball = response.read()
    except OSError as exc:
        raise SystemExit(
            f"hls.js {version} could not be downloaded from {url} ({exc}); "
            "run `npm ci` in web/ and build again"
        ) from exc
    check_integrity(tarball, locked["integrity"], url)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(IN_TARBALL)
        if member is None:
            raise SystemExit(f"{url} has no {IN_TARBALL}")
        return member.read()


def check_integrity(data: bytes, integrity: str, url: str) -> None:
    """Subresource-integrity form, as npm writes it: "sha512-<base64 digest>"."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise SystemExit(f"the lockfile's hash of hls.js is {algorithm}, not sha512")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise SystemExit(f"{url} does not match web/package-lock.json's integrity hash")


setup(cmdclass={"build_py": BuildWithHlsJs})
