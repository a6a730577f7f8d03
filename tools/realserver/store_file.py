"""Writing a Home Assistant store file before the server's first start."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_if_absent(path: Path, document: dict[str, Any], *, mode: int) -> Path | None:
    """Write `document` as the store at `path` unless there is one already.

    Returns the path, or None if the file was there: a configuration Home
    Assistant has started on keeps what it stored. `mode` is the file's
    permissions, as Home Assistant would give that store.
    """
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(json.dumps(document, indent=2))
    return path
