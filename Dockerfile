# fairroll backend image: gunicorn serving the Flask app factory (app:app) on port 8000.
# Every setting comes from the environment at run time; nothing secret is baked in
# (docs/operations.md lists the variables). Built by `cdk deploy`, linted by hadolint.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: resolve and install the dependencies into a virtual environment ---------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY device ./device
COPY protocol ./protocol
# Dependencies only: the project itself runs from the source tree in /app (below), so
# exactly one copy of it exists and backend/../migrations resolves to /app/migrations.
RUN /opt/venv/bin/pip install --no-cache-dir ".[server]" \
    && /opt/venv/bin/pip uninstall --yes fairroll

# --- runtime: the virtual environment and the source, run as an unprivileged user ---
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WEB_CONCURRENCY=2
RUN groupadd --system --gid 10001 fairroll \
    && useradd --system --uid 10001 --gid fairroll --no-create-home \
       --shell /usr/sbin/nologin fairroll
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# The source tree as it is, so templates, static files and migrations are there
# whatever the package data settings say.
COPY app.py ./
COPY backend ./backend
COPY protocol ./protocol
COPY migrations ./migrations
# ECS mounts a writable volume on /tmp (the root file system is read-only there);
# declaring it lets Fargate give that volume this directory's permissions (1777), so
# the unprivileged user can write to it.
VOLUME ["/tmp"]
USER 10001:10001
EXPOSE 8000
# Liveness only (no database): /readyz is for the load balancer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
# Workers come from WEB_CONCURRENCY (gunicorn reads it), so the environment can tune them.
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "app:app"]
