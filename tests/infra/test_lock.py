"""The image's lock file is in step with pyproject.toml: every runtime and server
requirement is locked, at a version its specifier allows, with hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "server.txt"


def _locked() -> dict[str, str]:
    """name -> pinned version, from the lock file."""
    pins = re.findall(r"^([A-Za-z0-9._-]+)==([^\s\\]+)", LOCK.read_text(), flags=re.MULTILINE)
    return {canonicalize_name(name): version for name, version in pins}


def _required() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        Requirement(text)
        for text in project["dependencies"] + project["optional-dependencies"]["server"]
    ]


def test_every_requirement_is_locked_at_an_allowed_version() -> None:
    locked = _locked()
    for requirement in _required():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in {LOCK.name}: re-lock (docs/operations.md)"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{name}=={locked[name]} does not satisfy {requirement}: re-lock"
        )
        for extra in requirement.extras:  # e.g. psycopg[binary] -> psycopg-binary
            assert canonicalize_name(f"{requirement.name}-{extra}") in locked


def test_every_locked_package_has_hashes() -> None:
    text = LOCK.read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    for block in blocks:
        if block.strip():
            assert "--hash=sha256:" in block, block.splitlines()[0]


def test_the_lock_records_how_it_was_made() -> None:
    header = LOCK.read_text().splitlines()[1]
    assert "uv pip compile pyproject.toml --extra server" in header
    assert "--generate-hashes" in header and "--python-version 3.11" in header
