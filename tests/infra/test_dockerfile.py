"""The backend image definition: multi-stage, unprivileged, health-checked, env-configured.

Docker is not needed to run these checks (hadolint lints the same file in `make lint`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions split into build stages."""
    found: list[list[tuple[str, str]]] = []
    for keyword, args in _instructions((ROOT / "Dockerfile").read_text(encoding="utf-8")):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, args))
    return found


def _args(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for k, args in stage if k == keyword]


def test_image_is_built_in_stages(stages: list[list[tuple[str, str]]]) -> None:
    assert len(stages) >= 2
    final = stages[-1]
    assert any(args.startswith("--from=build") for args in _args(final, "COPY"))


def test_final_stage_runs_as_an_unprivileged_user(stages: list[list[tuple[str, str]]]) -> None:
    users = _args(stages[-1], "USER")
    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_writable_tmp_volume_matches_the_task_definition(
    stages: list[list[tuple[str, str]]],
) -> None:
    from infra.stacks.runtime import WRITABLE_PATH

    assert _args(stages[-1], "VOLUME") == [f'["{WRITABLE_PATH}"]']


def test_health_check_probes_liveness(stages: list[list[tuple[str, str]]]) -> None:
    (check,) = _args(stages[-1], "HEALTHCHECK")
    assert "/healthz" in check
    assert "--timeout=" in check


def test_gunicorn_serves_the_app_factory(stages: list[list[tuple[str, str]]]) -> None:
    (command,) = _args(stages[-1], "CMD")
    assert command.startswith('["gunicorn"')  # exec form: signals reach gunicorn
    assert '"app:app"' in command
    # The production settings (threads, the queue-time stamp for shedding, the bind address)
    # come from the repository's config file, which binds the port the load balancer uses.
    assert '"python:backend.gunicorn_conf"' in command
    conf = (ROOT / "backend" / "gunicorn_conf.py").read_text(encoding="utf-8")
    assert "0.0.0.0:8000" in conf
    assert "WEB_CONCURRENCY=" in " ".join(_args(stages[-1], "ENV"))


def test_no_secret_or_deployment_setting_is_baked_in(stages: list[list[tuple[str, str]]]) -> None:
    baked = " ".join(args for stage in stages for args in _args(stage, "ENV") + _args(stage, "ARG"))
    for name in ("SECRET_KEY", "PASSWORD", "DATABASE_URL", "DB_", "AWS_", "FAIRROLL_", "TOKEN"):
        assert name not in baked


def test_image_carries_migrations_and_the_entry_module(stages: list[list[tuple[str, str]]]) -> None:
    copied = " ".join(_args(stages[-1], "COPY"))
    assert "app.py" in copied and "migrations" in copied


def test_base_image_is_an_explicit_build_argument(stages: list[list[tuple[str, str]]]) -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    (first,) = [a for k, a in _instructions(text) if k == "ARG"][:1]
    assert first == "PYTHON_IMAGE"  # no default: an unpinned build cannot happen by accident
    for stage in stages:
        assert stage[0][1].startswith("${PYTHON_IMAGE} AS ")


def test_dependencies_are_installed_from_the_lock_before_the_source_is_copied(
    stages: list[list[tuple[str, str]]],
) -> None:
    build = stages[0]
    copies = _args(build, "COPY")
    assert copies[0] == "requirements/server.txt /tmp/requirements.txt"
    (install,) = [a for a in _args(build, "RUN") if "pip install" in a]
    assert "--require-hashes" in install and "-r /tmp/requirements.txt" in install
    # Nothing else is copied before the install: a source change keeps the dependency layer.
    assert build.index(("RUN", install)) < build.index(("COPY", copies[-1]))
    assert all(not c.startswith((".", "backend ", "device", "protocol")) for c in copies)
    final = stages[-1]
    keywords = [k for k, _ in final]
    assert keywords.index("COPY") < len(keywords)  # the venv first ...
    assert _args(final, "COPY")[0].startswith("--from=build /opt/venv")  # ... then source


def test_build_context_is_an_allow_list() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"  # everything is excluded unless listed
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert {"app.py", "backend", "migrations", "requirements/server.txt"} <= allowed
    assert not allowed & {".venv", ".git", "tests", "docs", "infra", "instance"}


def test_image_compiles_the_translation_catalog(stages: list[list[tuple[str, str]]]) -> None:
    """messages.mo is built, not committed: the build stage compiles it, the image copies it."""
    assert any("pybabel" in a and "compile" in a for a in _args(stages[0], "RUN"))
    assert any("translations" in a for a in _args(stages[-1], "COPY") if "--from=build" in a)
