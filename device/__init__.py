"""The dispenser program: camera, QR tokens, typed codes, offline outbox, kiosk screen.

Never imports Flask or the backend: it talks to the backend over HTTP only.
"""

__version__ = "0.1.0"
