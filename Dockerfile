# fairroll backend image: gunicorn serving the Flask app factory (app:app) on port 8000.
# Every setting comes from the environment at run time; nothing secret is baked in
# (docs/operations.md lists the variables). Built by `cdk deploy`, linted by hadolint.
#
# Reproducible: the base image is pinned by digest and the Python dependencies by the
# lock file requirements/server.txt (exact versions and hashes). The base is an explicit
# build argument, with no default: `cdk deploy` passes the environment's base_image
# (infra/environments.toml), e.g. python:3.11-slim-bookworm@sha256:<digest>; by hand:
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest> .
ARG PYTHON_IMAGE

# --- build: the locked dependencies in a virtual environment -------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
# Only the lock file: this layer is rebuilt when the dependencies change, not on every
# change to the source. --require-hashes refuses anything not exactly as locked.
COPY requirements/server.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps \
        -r /tmp/requirements.txt
# The compiled zh-CN catalog (messages.mo is built, not committed).
COPY backend/translations /src/backend/translations
RUN /opt/venv/bin/pybabel --quiet compile -d /src/backend/translations

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
# The source tree as it is (the project runs from it, not installed), so templates,
# static files and migrations are there and backend/../migrations resolves. The parts
# that change least come first.
COPY migrations ./migrations
COPY protocol ./protocol
COPY app.py ./
COPY backend ./backend
COPY --from=build /src/backend/translations ./backend/translations
# ECS mounts a writable volume on /tmp (the root file system is read-only there);
# declaring it lets Fargate give that volume this directory's permissions (1777), so
# the unprivileged user can write to it.
VOLUME ["/tmp"]
USER 10001:10001
EXPOSE 8000
# Liveness only (no database): /startedz is the load balancers' check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
# backend/gunicorn_conf.py: threaded workers (WEB_CONCURRENCY x GUNICORN_THREADS), the
# queue-time stamp that lets an overloaded task shed load early, bind 0.0.0.0:8000.
# No per-request access log: the load balancer writes one for every request to S3, at a
# fraction of the CloudWatch Logs price (docs/operations.md, "Costs").
CMD ["gunicorn", "--config", "python:backend.gunicorn_conf", "app:app"]
