"""The anchor's trivial Flask endpoint, served by gunicorn with the production settings."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> str:
    """What the benchmark times: routing and a response, nothing else."""
    return "ok"
