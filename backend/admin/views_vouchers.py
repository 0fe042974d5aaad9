"""Voucher sheets: print single-use keypad codes for people without a smartphone."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from backend.admin import bp
from backend.admin.forms import form_int
from backend.admin.security import current_operator
from backend.errors import DomainError, InvalidInput
from backend.extensions import db
from backend.models import Site
from backend.services.audit import record_audit
from backend.services.vouchers import batch_usage, create_voucher_batch, format_voucher
from backend.wiring import code_key
from protocol.clock import utcnow


@bp.get("/vouchers")
def vouchers() -> str:
    """The form for a new sheet, and how much of each earlier sheet was used."""
    sites = db.session.scalars(select(Site).order_by(Site.name)).all()
    names = {s.id: s.name for s in sites}
    return render_template(
        "admin/vouchers.html",
        sites=sites,
        names=names,
        batches=batch_usage(db.session),
        valid_days=current_app.config["FAIRROLL_VOUCHER_VALID_DAYS"],
    )


@bp.post("/vouchers")
def vouchers_create() -> ResponseReturnValue:
    """Make a sheet of codes and show it once, ready to print (only hashes are kept)."""
    operator = current_operator()
    assert operator is not None
    now = utcnow()
    try:
        site_id = form_int("site", "Site")
        site = db.session.get(Site, site_id)
        if site is None:
            raise InvalidInput("choose a site")
        size = form_int("count", "Number of vouchers")
        days = form_int("valid_days", "Valid for (days)")
        assert size is not None and days is not None
        printed = create_voucher_batch(
            db.session,
            site,
            size=size,
            code_key=code_key(),
            now=now,
            valid_for=timedelta(days=days),
            operator=operator,
            note=request.form.get("note", ""),
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("admin.vouchers"))
    record_audit(
        db.session,
        operator,
        "vouchers_printed",
        now=now,
        target=site.name,
        batch=printed.batch.id,
        count=size,
    )
    db.session.commit()
    response = Response(
        render_template(
            "admin/voucher_sheet.html",
            site=site,
            batch=printed.batch,
            codes=[format_voucher(c) for c in printed.codes],
        )
    )
    return response
