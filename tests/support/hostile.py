"""Hostile and damaged inputs, built with ffmpeg where a test needs them: each is what an
attacker (or a broken camera) would upload, and each must end with a clear verdict."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg

CRASHING_PROBE = Path(__file__).resolve().parent / "crashing_probe"
CRASH_MARKER = b"POISON-PROBE-CRASH"


def ffmpeg(*args: str) -> None:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run([*command, *args], check=True, timeout=120)


def with_gap(path: Path, gap: float, size: str = "1280x720", frames: int = 30) -> Path:
    """``frames`` frames of video, with ``gap`` seconds between the last two: a file of a
    few kilobytes whose header says it lasts the whole gap."""
    last = frames - 1
    ffmpeg(
        *("-f", "lavfi", "-i", f"color=c=teal:s={size}:r=30", "-frames:v", str(frames)),
        *("-vf", f"setpts=if(eq(N\\,{last})\\,PTS+{gap}/TB\\,PTS)", "-fps_mode", "passthrough"),
        *("-c:v", "libx264", "-preset", "ultrafast", str(path)),
    )
    return path


def huge_frame(path: Path, size: str = "8192x8192") -> Path:
    ffmpeg("-f", "lavfi", "-i", f"color=s={size}:d=0.04:r=25", "-c:v", "libx264", str(path))
    return path


def many_streams(path: Path, count: int = 64) -> Path:
    """One video stream and ``count - 1`` audio streams."""
    inputs = ["-f", "lavfi", "-i", "color=s=160x120:d=1:r=10", "-f", "lavfi", "-i", "sine=d=1"]
    maps = ["-map", "0:v", *(arg for _ in range(count - 1) for arg in ("-map", "1:a"))]
    ffmpeg(*inputs, *maps, "-c:v", "libx264", "-c:a", "pcm_s16le", str(path))
    return path


def index_first(path: Path, seconds: float = 1.6) -> Path:
    """A short MP4 whose index (moov) comes before its media, with sound."""
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=320x240:r=30", "-f", "lavfi", "-i", "sine"),
        *("-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"),
        *("-movflags", "+faststart", str(path)),
    )
    return path


def cut(source: Path, path: Path, fraction: float) -> Path:
    """The first ``fraction`` of ``source``'s bytes: a copy that stopped half way."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def playlist(path: Path, listener: str) -> Path:
    """An HLS playlist: its segments are a loopback URL and a system file, what an attacker
    would have ffmpeg fetch or read."""
    path.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n"
        f"#EXTINF:10,\n{listener}/segment.ts\n"
        "#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    )
    return path


def local_playlist(path: Path) -> Path:
    """An HLS playlist of a real segment beside it: ffmpeg would play it, reading a file
    the upload does not hold. (A stored source has no name; a test that names it
    ``.m3u8`` shows that even its name would not let it in.)"""
    segment = path.parent / f"{path.stem}-segment.ts"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x240:r=30", "-t", "2", "-f", "mpegts", str(segment))
    path.write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{segment.name}\n#EXT-X-ENDLIST\n"
    )
    return path


def concat_list(path: Path, local: Path) -> Path:
    """A concat list of a real video beside it, by a name the concat demuxer deems safe."""
    listed = path.parent / f"{path.stem}-listed{local.suffix}"
    listed.write_bytes(local.read_bytes())
    path.write_text(f"ffconcat version 1.0\nfile '{listed.name}'\n")
    return path


def remote_concat_list(path: Path, listener: str) -> Path:
    path.write_text(f"ffconcat version 1.0\nfile '{listener}/clip.mp4'\n")
    return path


def crashing(source: Path, path: Path) -> Path:
    """A real clip that the stub decoder (``CRASHING_PROBE`` on PYTHONPATH) crashes on."""
    path.write_bytes(source.read_bytes() + CRASH_MARKER)
    return path


@dataclass
class Listener:
    """A TCP listener on loopback that counts who connects: it must stay at zero."""

    url: str
    connections: list[str] = field(default_factory=list)

    def wait_for_connections(self, count: int, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.connections) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.connections) >= count


@contextmanager
def listener() -> Iterator[Listener]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    found = Listener(f"http://127.0.0.1:{server.getsockname()[1]}")
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            found.connections.append(f"{peer[0]}:{peer[1]}")
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        stop.set()
        thread.join()
        server.close()
