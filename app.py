"""The WSGI entry point: `flask --app app ...` and `gunicorn app:app`."""

from backend import create_app

app = create_app()

try:
    import demo
except ModuleNotFoundError:  # the production image ships no demo/ (nor its credentials)
    pass
else:
    demo.init_app(app)
