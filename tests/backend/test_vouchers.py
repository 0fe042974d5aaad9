"""Vouchers: keyed hashes only, typed at the keypad, single use at the dispenser's site."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.errors import InvalidInput
from backend.extensions import db
from backend.models import Site, Voucher
from backend.services.vouchers import VOUCHER_DIGITS, create_voucher_batch, redeem_voucher
from backend.wiring import code_key
from tests.backend.fleet_helpers import make_operator, post_form, sign_in
from tests.factories import auth, enroll, make_dispenser, make_site, now


def _batch(site: Site, size: int = 3, **kwargs: object) -> list[str]:
    printed = create_voucher_batch(
        db.session,
        site,
        size=size,
        code_key=code_key(),
        now=kwargs.pop("at", now()),  # type: ignore[arg-type]
        valid_for=timedelta(days=30),
    )
    db.session.commit()
    return printed.codes


def _verify(client: FlaskClient, key: str, code: str) -> tuple[int, dict[str, object]]:
    response = client.post("/api/v1/device/codes/verify", json={"code": code}, headers=auth(key))
    return response.status_code, response.get_json()


def test_only_keyed_hashes_of_ten_digit_codes_are_stored(app: Flask) -> None:
    codes = _batch(make_site(), size=20)
    assert len(set(codes)) == 20
    assert all(len(c) == VOUCHER_DIGITS and c.isdigit() for c in codes)
    stored = db.session.query(Voucher).all()
    columns = " ".join(f"{v.code_hash} {v.ref}" for v in stored)
    assert not any(code in columns for code in codes)


def test_batch_size_is_bounded(app: Flask) -> None:
    with pytest.raises(InvalidInput, match="1 to 200"):
        _batch(make_site(), size=201)


def test_a_voucher_typed_at_the_keypad_works_once(app: Flask, client: FlaskClient) -> None:
    site = make_site()
    key = enroll(client, make_dispenser(site))["device_key"]
    code = _batch(site)[0]
    status, body = _verify(client, key, code)
    assert status == 200
    assert body["kind"] == "voucher"
    assert isinstance(body["voucher_ref"], str) and len(body["voucher_ref"]) == 64
    again, error = _verify(client, key, code)
    assert again == 422 and error["error"]["code"] == "code_invalid"  # type: ignore[index]
    used = db.session.query(Voucher).filter(Voucher.used_at.is_not(None)).one()
    assert used.ref == body["voucher_ref"]


def test_a_voucher_of_another_site_is_refused(app: Flask, client: FlaskClient) -> None:
    key = enroll(client, make_dispenser(make_site("Here")))["device_key"]
    code = _batch(make_site("Elsewhere"))[0]
    assert _verify(client, key, code)[0] == 422


def test_an_expired_voucher_is_refused(app: Flask, client: FlaskClient) -> None:
    site = make_site()
    key = enroll(client, make_dispenser(site))["device_key"]
    code = _batch(site, at=now() - timedelta(days=31))[0]
    assert _verify(client, key, code)[0] == 422


def test_wrong_voucher_codes_count_towards_the_keypad_back_off(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site()
    key = enroll(client, make_dispenser(site))["device_key"]
    _batch(site)
    statuses = [_verify(client, key, "1234567890")[0] for _ in range(7)]
    assert statuses[-1] == 429


@pytest.mark.postgres
def test_concurrent_redemptions_of_one_voucher_succeed_once(
    committing_postgres_app: Flask,
) -> None:
    app = committing_postgres_app
    with app.app_context():
        site = make_site("Race Park")
        dispensers = [make_dispenser(site) for _ in range(4)]
        code = _batch(site, size=1)[0]
        key = code_key()
        engine = db.engine
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def attempt(index: int) -> None:
        with Session(engine) as session:
            dispenser = session.merge(dispensers[index % 4], load=True)
            barrier.wait()
            ref = redeem_voucher(session, dispenser, code, code_key=key, now=now())
            session.commit()
            if ref:
                wins.append(ref)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1


def test_an_operator_prints_a_voucher_sheet(app: Flask, client: FlaskClient) -> None:
    site = make_site("Sheet Park")
    sign_in(client, make_operator("m@city.example", role="maintainer"))
    page = post_form(
        client,
        "/admin/vouchers",
        "/admin/vouchers",
        site=str(site.id),
        count="30",
        valid_days="60",
        note="information desk",
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('class="voucher"') == 30
    assert page.headers["Cache-Control"] == "no-store"
    assert db.session.query(Voucher).filter_by(site_id=site.id).count() == 30
    listing = client.get("/admin/vouchers").get_data(as_text=True)
    assert "0 of 30" in listing and "information desk" in listing


def test_a_bad_voucher_form_gets_a_clear_message(app: Flask, client: FlaskClient) -> None:
    site = make_site()
    sign_in(client, make_operator())
    response = post_form(
        client,
        "/admin/vouchers",
        "/admin/vouchers",
        site=str(site.id),
        count="many",
        valid_days="9",
    )
    assert response.status_code == 302
    assert "must be a whole number" in client.get("/admin/vouchers").get_data(as_text=True)
