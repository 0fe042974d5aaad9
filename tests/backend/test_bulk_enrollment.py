"""Bulk enrollment (CLI, one-off task via S3, admin UI) and the admin hand-off by secret."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from moto import mock_aws
from sqlalchemy import func, select

from backend.errors import InvalidInput
from backend.extensions import db
from backend.models import AuditEntry, Dispenser, EnrollmentCode, Site
from backend.services.bulk_enrollment import parse_enrollment_csv
from backend.services.operators import check_password
from backend.services.secrets import normalise_grouped_code, sha256_hex
from tests.backend.fleet_helpers import csrf_from, make_operator, sign_in
from tests.driver import statements_sent
from tests.factories import make_site, now

CSV = "site,label,unrestricted\nEast Park,Gate A,\nEast Park,Gate B,no\nRiver Walk,Stall 3,yes\n"
_CODE = re.compile(r'<span class="code">([^<]+)</span>')


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _dispenser_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Dispenser)) or 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,label\nA,B\n", "columns site,label"),
        ("site,label,floor\nA,B,1\n", "unknown CSV columns: floor"),
        ("site,label\nA,\n", "line 2: a label has 1 to 120 characters"),
        ("site,label,unrestricted\nA,B,maybe\n", "line 2: unrestricted must be yes or no"),
        ("site,label\nA,B\nA,B\n", "line 3: A / B is listed twice"),
        ("site,label\nA,B,C\n", "line 2: more fields than columns"),
        ("site,label\n", "lists no dispensers"),
    ],
)
def test_a_bad_csv_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        parse_enrollment_csv(text)


def test_csv_with_byte_order_mark_and_blank_lines_is_read() -> None:
    rows = parse_enrollment_csv("\ufeffSite,Label\n\nA, Lobby \n,\n")
    assert [(r.site, r.label, r.unrestricted) for r in rows] == [("A", "Lobby", False)]


def test_cli_enrolls_a_csv_and_writes_the_sheet_not_the_codes(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path
) -> None:
    make_site("East Park")
    source, sheet = tmp_path / "fleet.csv", tmp_path / "sheet.html"
    source.write_text(CSV, encoding="utf-8")
    result = runner.invoke(args=["dispensers", "enroll-bulk", str(source), str(sheet)])
    assert result.exit_code == 0, result.output
    assert "Enrolled 3 dispensers at 2 sites" in result.output
    html = sheet.read_text(encoding="utf-8")
    codes = _CODE.findall(html)
    assert len(codes) == 3 and len(set(codes)) == 3
    assert not any(code in result.output for code in codes)
    assert sheet.stat().st_mode & 0o077 == 0  # readable by the operator only
    assert html.count('src="data:image/svg+xml') == 3  # one sticker QR per dispenser
    assert "<style>" in html  # readable on its own, outside the app
    river = db.session.scalar(select(Site).where(Site.name == "River Walk"))
    assert river is not None  # created with the default policy
    stall = db.session.scalar(select(Dispenser).where(Dispenser.label == "Stall 3"))
    assert stall is not None and stall.unrestricted
    assert f"http://fairroll.test/d/{stall.public_id}" in html
    # Each printed code really enrolls its dispenser, once.
    enrolled = client.post("/api/v1/device/enroll", json={"enrollment_code": codes[2]})
    assert enrolled.status_code == 201
    assert enrolled.get_json()["dispenser_id"] == stall.public_id


def test_the_sheet_names_the_device_server_and_the_stickers_the_public_one(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path
) -> None:
    app.config["FAIRROLL_DEVICE_URL"] = "https://devices.fairroll.test"
    source, sheet = tmp_path / "fleet.csv", tmp_path / "sheet.html"
    source.write_text(CSV, encoding="utf-8")
    result = runner.invoke(args=["dispensers", "enroll-bulk", str(source), str(sheet)])
    assert result.exit_code == 0, result.output
    html = sheet.read_text(encoding="utf-8")
    assert "the server address <code>https://devices.fairroll.test</code>" in html
    assert "http://fairroll.test/d/" in html and "devices.fairroll.test/d/" not in html
    sign_in(client, make_operator())
    page = _upload(client, "site,label\nHill,Gate\n").get_data(as_text=True)
    assert "the server address <code>https://devices.fairroll.test</code>" in page


def test_cli_creates_nothing_when_a_line_is_bad(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    source, sheet = tmp_path / "fleet.csv", tmp_path / "sheet.html"
    source.write_text(CSV + "River Walk,,maybe\n", encoding="utf-8")
    before = _dispenser_count()
    result = runner.invoke(args=["dispensers", "enroll-bulk", str(source), str(sheet)])
    assert result.exit_code == 1 and "line 5" in result.output
    assert _dispenser_count() == before and not sheet.exists()


def test_cli_reads_and_writes_s3_as_the_one_off_task_does(
    app: Flask, runner: FlaskCliRunner, aws: None
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="operator")
    s3.put_object(Bucket="operator", Key="incoming/fleet.csv", Body=CSV.encode())
    result = runner.invoke(
        args=["dispensers", "enroll-bulk"],
        env={
            "FAIRROLL_ENROLL_CSV": "s3://operator/incoming/fleet.csv",
            "FAIRROLL_ENROLL_SHEET": "s3://operator/sheets/fleet.html",
        },
    )
    assert result.exit_code == 0, result.output
    assert "written to s3://operator/sheets/fleet.html" in result.output
    body = s3.get_object(Bucket="operator", Key="sheets/fleet.html")
    assert body["ContentType"].startswith("text/html")
    codes = _CODE.findall(body["Body"].read().decode())
    assert len(codes) == 3 and not any(code in result.output for code in codes)


def test_cli_rolls_back_when_the_sheet_cannot_be_written(
    app: Flask, runner: FlaskCliRunner, aws: None, tmp_path: Path
) -> None:
    source = tmp_path / "fleet.csv"
    source.write_text(CSV, encoding="utf-8")
    before = _dispenser_count()
    result = runner.invoke(
        args=["dispensers", "enroll-bulk", str(source), "s3://no-such-bucket/sheet.html"]
    )
    assert result.exit_code == 1 and "cannot write" in result.output
    assert _dispenser_count() == before


def test_create_admin_delivers_the_credentials_to_a_secret_only(
    app: Flask, runner: FlaskCliRunner, aws: None
) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="fairroll/test/operator-handoff", SecretString="{}")["ARN"]
    result = runner.invoke(
        args=["users", "create-admin"],
        env={"FAIRROLL_ADMIN_EMAIL": "first@city.example", "FAIRROLL_HANDOFF_SECRET_ID": arn},
    )
    assert result.exit_code == 0, result.output
    document = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
    assert document["email"] == "first@city.example"
    assert document["otpauth_uri"].startswith("otpauth://totp/")
    assert document["password"] not in result.output
    assert "secret=" not in result.output.lower()
    assert f"written to secret {arn}" in result.output
    operator = check_password(db.session, "first@city.example", document["password"], now=now())
    assert operator.role == "admin"


def test_create_admin_creates_nobody_when_the_secret_cannot_be_written(
    app: Flask, runner: FlaskCliRunner, aws: None
) -> None:
    result = runner.invoke(
        args=["users", "create-admin", "lost@city.example", "--deliver-to-secret", "missing"]
    )
    assert result.exit_code == 1 and "could not write to secret" in result.output
    listed = runner.invoke(args=["users", "list"])
    assert "lost@city.example" not in listed.output


def _upload(client: FlaskClient, text: str | bytes) -> Any:
    token = csrf_from(client, "/admin/sites")
    body = text if isinstance(text, bytes) else text.encode()
    return client.post(
        "/admin/dispensers/bulk",
        data={"csrf_token": token, "csv": (io.BytesIO(body), "fleet.csv")},
        content_type="multipart/form-data",
    )


def test_admin_ui_enrolls_a_csv_and_shows_the_sheet(app: Flask, client: FlaskClient) -> None:
    sign_in(client, make_operator())
    response = _upload(client, CSV)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert len(_CODE.findall(html)) == 3 and "sheet.css" in html


def test_a_large_file_is_written_in_batches_and_its_sheet_streamed(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client, make_operator())
    make_site("Old Park")
    db.session.commit()
    rows = 300
    csv = "site,label\n" + "".join(
        f"{('Old Park', 'New A', 'New B')[i % 3]},Gate {i}\n" for i in range(rows)
    )
    with statements_sent(monkeypatch) as sent:
        response = _upload(client, csv)
        assert response.status_code == 200 and response.is_streamed
        pieces = list(response.response)  # the sheet, piece by piece, as the server sends it
    html = b"".join(pieces).decode()
    assert len(pieces) > 10  # not one piece drawn whole before the first byte
    assert b"Enrollment sheet: 300 dispensers" in pieces[0]
    codes = _CODE.findall(html)
    assert len(codes) == len(set(codes)) == rows
    # Each code enrolls the dispenser of its card, and every dispenser was audited.
    cards = re.findall(r'id="d-([^"]+)".*?<span class="code">([^<]+)</span>', html, re.S)
    assert len(cards) == rows
    owners = dict(
        db.session.execute(
            select(EnrollmentCode.code_hash, Dispenser.public_id).join(
                Dispenser, Dispenser.id == EnrollmentCode.dispenser_id
            )
        ).all()
    )
    assert all(owners[sha256_hex(normalise_grouped_code(code))] == pid for pid, code in cards)
    audited = db.session.scalar(
        select(func.count()).where(AuditEntry.action == "dispenser_created")
    )
    assert audited == rows
    by_site = dict(
        db.session.execute(
            select(Site.name, func.count()).join(Dispenser).group_by(Site.name)
        ).all()
    )
    assert by_site == {"Old Park": 100, "New A": 100, "New B": 100}
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # A few batched INSERTs, not one round trip a row.
        for table in ("dispenser", "enrollment_code", "audit_entry"):
            inserts = [q for q in sent if q.lstrip().startswith(f"INSERT INTO {table} ")]
            assert 1 <= len(inserts) <= 2, (table, len(inserts))


def test_admin_ui_refuses_a_bad_csv_and_creates_nothing(app: Flask, client: FlaskClient) -> None:
    sign_in(client, make_operator())
    before = _dispenser_count()
    response = _upload(client, "site,label\nA,\n")
    assert response.status_code == 400
    assert "line 2" in response.get_data(as_text=True)
    assert _dispenser_count() == before
    binary = _upload(client, b"site,label\nA,\xff\n")
    assert binary.status_code == 400 and "UTF-8" in binary.get_data(as_text=True)
    assert _dispenser_count() == before
