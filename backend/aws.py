"""Every boto3 client of the backend is made here, from the app's configuration."""

from __future__ import annotations

from typing import Any

import boto3
from flask import Flask, current_app


def client(service: str, app: Flask | None = None) -> Any:
    """A boto3 client for ``service`` in the configured region (and test endpoint, if any)."""
    config = (app or current_app).config
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=config["AWS_REGION"],
        endpoint_url=config["FAIRROLL_AWS_ENDPOINT_URL"],
    )
