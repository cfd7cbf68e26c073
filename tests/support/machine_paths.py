"""Whether text that a user reads names a place on the server's machine."""

from __future__ import annotations

import re
import shlex
import sys
import tempfile
from pathlib import Path

# An absolute path, alone or as an option's value (``file=/x``, ``movie='/x'``): "30000/1001"
# and the like are no path.
_ABSOLUTE = re.compile(r"(?:^|[=:,;'\"])/[A-Za-z0-9_.-]")


def machine_paths(command: str, *roots: Path) -> list[str]:
    """The words of ``command`` that name an absolute path, or any of ``roots``, the
    interpreter's prefix (the virtualenv, where the bundled ffmpeg lives) or the temporary
    folder."""
    places = [str(r) for r in (*roots, Path(sys.prefix), Path(tempfile.gettempdir()))]
    return [
        word
        for word in shlex.split(command)
        if _ABSOLUTE.search(word) or any(place in word for place in places)
    ]
