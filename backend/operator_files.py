"""Files an operator hands to a one-off task, and gets back: a local path or ``s3://bucket/key``.

On AWS a one-off task has no terminal: the operator uploads the input to the operator
bucket and downloads the result from it. Secrets in results (enrollment codes) stay in
the bucket, encrypted with the stack's key; logs name only where the file is.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask

_S3 = "s3://"


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len(_S3) :].partition("/")
    if not bucket or not key:
        raise ValueError(f"{uri!r} is not s3://bucket/key")
    return bucket, key


def read_text(app: Flask, uri: str) -> str:
    """The UTF-8 text of a local file or an S3 object."""
    if uri.startswith(_S3):
        from backend.aws import client

        bucket, key = _split(uri)
        body = client("s3", app).get_object(Bucket=bucket, Key=key)["Body"].read()
        return bytes(body).decode("utf-8")
    return Path(uri).read_text(encoding="utf-8")


def write_text(app: Flask, uri: str, text: str, *, content_type: str) -> None:
    """Write UTF-8 text to a local file (owner-only) or an S3 object (the bucket's encryption)."""
    if uri.startswith(_S3):
        from backend.aws import client

        bucket, key = _split(uri)
        client("s3", app).put_object(
            Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType=content_type
        )
        return
    path = Path(uri)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text, encoding="utf-8")


def write_secret(app: Flask, secret_id: str, document: dict[str, str]) -> None:
    """Store ``document`` as the JSON value of a Secrets Manager secret (operator hand-off)."""
    from backend.aws import client

    client("secretsmanager", app).put_secret_value(
        SecretId=secret_id, SecretString=json.dumps(document)
    )
