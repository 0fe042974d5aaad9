"""The Flask extensions, created unbound and attached in the app factory."""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from backend.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True)
