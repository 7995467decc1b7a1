"""Results of mapper runs cached by content hash of (cascade, arch, shapes, mapper settings)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

DEFAULT_DIR = Path(os.environ.get("CASCADE_CACHE", Path.home() / ".cache" / "cascade" / "mapper"))


def cache_key(*parts) -> str:
    text = json.dumps([str(p) for p in parts], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def load(key: str, directory: Path = DEFAULT_DIR) -> dict | None:
    path = Path(directory) / f"{key}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def store(key: str, value: dict, directory: Path = DEFAULT_DIR) -> None:
    """Write atomically (temp file + rename) so a killed run never leaves a corrupt entry."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{key}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(value, indent=1, default=str))
    temporary.replace(directory / f"{key}.json")
