"""The one cache folder of the developer tools (builds and downloads kept outside the repo).

    $DEVPI_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/theedgeworks-devpi

Everything under it can be deleted at any time: it is rebuilt or downloaded again on the next use.
Standard library only.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path

ENV_VAR = "DEVPI_CACHE_DIR"


def cache_root() -> Path:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(xdg) / "theedgeworks-devpi"


def short_hash(*chunks: bytes) -> str:
    """16 hex digits identifying a list of byte strings (for cache keys)."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(hashlib.sha256(chunk).digest())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def flock(path: Path):
    """An exclusive lock on `path` (created if needed) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
