"""The embedded demo `make run` starts: a demo site, dispensers, an operator, a simulation.

It lives outside the ``backend`` package, with its fixed demo credentials, so that the
production image (which copies only ``backend/``, ``protocol/`` and ``migrations/``) does
not contain it. ``app.py`` registers its ``flask demo`` command when the package is there;
even then, a production configuration never gets the command.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> bool:
    """Register `flask demo` on ``app`` unless it runs in production; True if registered."""
    if app.config["FAIRROLL_ENV"] == "production":
        return False
    from demo.command import demo

    app.cli.add_command(demo)
    return True
