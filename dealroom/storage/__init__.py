"""Where uploaded files live. Pick a backend with `make_storage(settings)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Chunks, ObjectMissing, Storage, StorageError, StorageFull, StoredObject

__all__ = [
    "Chunks",
    "ObjectMissing",
    "Storage",
    "StorageError",
    "StorageFull",
    "StoredObject",
    "make_storage",
]


def make_storage(settings: Any) -> Storage:
    # Backends are imported here so a local install never needs boto3 at import time.
    if settings.storage == "local":
        from .local import LocalStorage

        return LocalStorage(Path(settings.storage_dir))
    if settings.storage == "s3":
        from .s3 import S3Storage

        return S3Storage.from_settings(settings)
    raise ValueError(f"unknown storage backend {settings.storage!r}: expected 'local' or 's3'")
