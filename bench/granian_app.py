"""The backend as bench/server_choice.py serves it with granian: the same app as `app:app`,
and, at its import in each worker, what gunicorn's ``post_worker_init`` does for the
production server (backend/gunicorn_conf.py), so the two servers differ only in themselves."""

from __future__ import annotations

import gc
import sys

from app import app
from backend.gunicorn_conf import SWITCH_INTERVAL_SECONDS

__all__ = ["app"]

gc.collect()
gc.freeze()
sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
