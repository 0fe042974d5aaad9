"""The schema comes only from the migrations, and they match the models on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from backend.extensions import db


def test_models_and_migrations_agree(app: Flask) -> None:
    # The test's own connection: a second one would wait on SQLite's write lock.
    context = MigrationContext.configure(db.session.connection(), opts={"compare_type": True})
    differences = compare_metadata(context, db.metadata)
    assert differences == []
