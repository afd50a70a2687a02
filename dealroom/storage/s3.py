"""Objects in an S3 bucket (AWS, MinIO, or any S3-compatible server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import boto3
import botocore.config
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from .base import (
    CHUNK_SIZE,
    Chunks,
    HashingReader,
    ObjectMissing,
    Storage,
    StorageError,
    StoredObject,
    content_disposition,
    validate_key,
)

PART_SIZE = 8 * 1024 * 1024
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_NO_BUCKET_CODES = {"NoSuchBucket", "404", "NotFound"}
_FAILURES = (ClientError, BotoCoreError, S3UploadFailedError)


class S3Storage(Storage):
    name = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str = "", *, part_size: int = PART_SIZE):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.transfer_config = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=4,
            # Never hand the stream to the CRT client: the hashing wrapper relies on the classic
            # one reading it front to back, exactly once.
            preferred_transfer_client="classic",
        )
        # A one-way stream is buffered part by part; cap the parts held at once (default 10) so an
        # upload costs at most ~4 parts of memory.
        self.transfer_config.max_in_memory_upload_chunks = 4

    @classmethod
    def from_settings(cls, settings: Any) -> S3Storage:
        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region,
            # Empty credentials fall back to the default chain (instance role, env, profile).
            aws_access_key_id=settings.s3_access_key or None,
            aws_secret_access_key=settings.s3_secret_key or None,
            config=botocore.config.Config(
                signature_version="s3v4",
                # Custom endpoints (MinIO) rarely have wildcard DNS for virtual-host buckets.
                s3={"addressing_style": "path"} if settings.s3_endpoint_url else {},
            ),
        )
        return cls(client, settings.s3_bucket, settings.s3_prefix)

    def _key(self, key: str) -> str:
        # StoredObject keeps the key without the prefix: the prefix is deployment configuration.
        return self.prefix + validate_key(key)

    def put(self, key: str, fileobj: BinaryIO, *, content_type: str) -> StoredObject:
        full_key = self._key(key)
        reader = HashingReader(fileobj)
        try:
            self.client.upload_fileobj(
                reader,
                self.bucket,
                full_key,
                ExtraArgs={"ContentType": content_type},
                Config=self.transfer_config,
            )
        except _FAILURES as exc:
            raise StorageError(f"cannot upload {key!r} to bucket {self.bucket!r}: {exc}") from exc
        return StoredObject(
            backend=self.name,
            key=key,
            size=reader.size,
            sha256=reader.sha256,
            content_type=content_type,
        )

    def open(self, key: str, *, start: int = 0, length: int | None = None) -> Chunks:
        full_key = self._key(key)
        extra: dict[str, str] = {}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            extra["Range"] = f"bytes={start}-{end}"
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=full_key, **extra)
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                raise ObjectMissing(key) from exc
            raise StorageError(f"cannot read {key!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc
        body = response["Body"]
        return Chunks(_chunks(body, key), body.close)

    def url(
        self, key: str, *, expires_in: int, filename: str, content_type: str, inline: bool
    ) -> str | None:
        # S3 sends these headers from the signed query string, so the browser sees the buyer-facing
        # filename and the sniffed type, not whatever the object was stored with.
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ResponseContentDisposition": content_disposition(filename, inline=inline),
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_in,
        )
        return url

    def delete(self, key: str) -> None:
        full_key = self._key(key)
        try:
            # S3 answers 204 for a missing key too, which is the idempotence we want.
            self.client.delete_object(Bucket=self.bucket, Key=full_key)
        except _FAILURES as exc:
            raise StorageError(f"cannot delete {key!r}: {exc}") from exc

    def exists(self, key: str) -> bool:
        full_key = self._key(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=full_key)
        except ClientError as exc:
            # A HEAD has no error body, so a missing bucket also reads as "404" here.
            if _code(exc) in _MISSING_CODES:
                return False
            raise StorageError(f"cannot look up {key!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot look up {key!r}: {exc}") from exc
        return True

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except _FAILURES as exc:
            raise StorageError(f"bucket {self.bucket!r} is not reachable: {exc}") from exc

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (development, tests, a fresh MinIO)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _code(exc) not in _NO_BUCKET_CODES:
                raise StorageError(f"bucket {self.bucket!r} is not reachable: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"bucket {self.bucket!r} is not reachable: {exc}") from exc
        region = self.client.meta.region_name
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        # us-east-1 is the one region that rejects an explicit location constraint.
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            # Another process may have created it between our HEAD and CREATE.
            if _code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise StorageError(f"cannot create bucket {self.bucket!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot create bucket {self.bucket!r}: {exc}") from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _chunks(body: Any, key: str) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK_SIZE)
    except BotoCoreError as exc:
        raise StorageError(f"reading {key!r} failed midway: {exc}") from exc
    finally:
        body.close()
