"""The anonymised daily export of aggregate counts to S3 (``FAIRROLL_EXPORT_BUCKET``)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from backend.services.aggregates import aggregate_rows
from backend.services.sql import Db


def export_key(day: date) -> str:
    """Where one day's export lives in the bucket (re-exporting a day replaces it)."""
    return f"aggregates/{day:%Y/%m/%d}.jsonl"


def export_document(session: Db, day: date) -> str:
    """JSON lines, one per dispenser, method and kind: counts only, nothing about people."""
    return "".join(
        json.dumps(row, sort_keys=True) + "\n" for row in aggregate_rows(session, day=day)
    )


def export_day(client: Any, bucket: str, session: Db, day: date) -> tuple[str, int]:
    """Upload one day's counts; return the object key and the number of rows."""
    body = export_document(session, day)
    client.put_object(
        Bucket=bucket,
        Key=export_key(day),
        Body=body.encode("utf-8"),
        ContentType="application/x-ndjson",
        ServerSideEncryption="AES256",
    )
    return export_key(day), body.count("\n")
