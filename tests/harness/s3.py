"""A throwaway S3-compatible server: moto's standalone server in a subprocess.

with moto_server() as endpoint:
    client = s3_client(endpoint)
    client.create_bucket(Bucket="dealroom")
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config

from .ports import free_port

__all__ = ["moto_server", "s3_client"]

# moto accepts any credentials; these only keep botocore from searching for real ones.
_DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",  # noqa: S105 - moto's documented dummy value
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def moto_server(host: str = "127.0.0.1", timeout: float = 20) -> Iterator[str]:
    """Run moto's server on a free port for the duration of the block; yield its endpoint URL."""
    port = free_port()
    endpoint = f"http://{host}:{port}"
    env = {**os.environ, **_DUMMY_ENV}
    # Never let a developer's ~/.aws or a real profile leak into the fake server.
    env.pop("AWS_PROFILE", None)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(endpoint, process, timeout, log)
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(
    endpoint: str, process: subprocess.Popen[bytes], timeout: float, log: Any
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}: {_tail(log)}")
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/", timeout=1):  # noqa: S310
                return
        except urllib.error.HTTPError as exc:
            exc.close()
            return  # any HTTP answer means it is serving
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer on {endpoint} within {timeout}s: {_tail(log)}")


def _tail(log: Any) -> str:
    log.seek(0)
    return log.read()[-2000:].decode("utf-8", "replace")


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for the moto server, with dummy credentials. Close it when done."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - moto's dummy value
        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
