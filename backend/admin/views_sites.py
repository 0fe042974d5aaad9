"""Sites and dispensers: create, edit policy, disable, enroll, label, revoke keys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from backend.admin import bp
from backend.admin.enrollment_sheet import enrollment_sheet_parts
from backend.admin.forms import form_bool, form_int, policy_from_form
from backend.admin.qr import qr_data_uri
from backend.admin.security import admin_only, current_operator
from backend.errors import DomainError, InvalidInput
from backend.extensions import db
from backend.models import Dispenser, Operator, Site
from backend.services.audit import record_audit
from backend.services.bulk_enrollment import enroll_rows, parse_enrollment_csv
from backend.services.devices import revoke_device_keys
from backend.services.site_admin import update_dispenser, update_site
from backend.services.sites import create_dispenser, create_site, issue_enrollment_code
from backend.wiring import device_base_url, public_base_url
from protocol.clock import utcnow


def _actor() -> Operator:
    operator = current_operator()
    assert operator is not None
    return operator


def _site(site_id: int) -> Site:
    return db.get_or_404(Site, site_id)


def _dispenser(public_id: str) -> Dispenser:
    found: Dispenser = db.first_or_404(select(Dispenser).where(Dispenser.public_id == public_id))
    return found


def _visitor_url(dispenser: Dispenser) -> str:
    return f"{public_base_url()}/d/{dispenser.public_id}"


def _back(endpoint: str, **values: Any) -> Response:
    return redirect(url_for(endpoint, **values))  # type: ignore[return-value]


@bp.get("/sites")
@admin_only
def sites() -> str:
    """Every site, and the form for a new one."""
    rows = db.session.scalars(select(Site).order_by(Site.name)).all()
    return render_template("admin/sites.html", sites=rows)


@bp.post("/sites")
@admin_only
def sites_create() -> ResponseReturnValue:
    """Create a site with the default policy (edited next)."""
    now = utcnow()
    try:
        site = create_site(
            db.session,
            request.form.get("name", ""),
            now=now,
            timezone=request.form.get("timezone", "UTC").strip() or "UTC",
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _back("admin.sites")
    record_audit(db.session, _actor(), "site_created", now=now, target=site.name)
    db.session.commit()
    flash(f"Site {site.name} created. Review its policy below.")
    return _back("admin.site", site_id=site.id)


@bp.post("/dispensers/bulk")
@admin_only
def dispensers_bulk() -> ResponseReturnValue:
    """Create the dispensers of an uploaded CSV; answer with the printable enrollment sheet."""
    upload = request.files.get("csv")
    now = utcnow()
    try:
        if upload is None:
            raise InvalidInput("choose a CSV file")
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("the CSV file must be UTF-8 text") from None
        rows = parse_enrollment_csv(text)
        ttl = timedelta(hours=current_app.config["FAIRROLL_ENROLLMENT_TTL_HOURS"])
        enrolled = enroll_rows(db.session, rows, now=now, ttl=ttl)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        listing = db.session.scalars(select(Site).order_by(Site.name)).all()
        return render_template("admin/sites.html", sites=listing), 400
    actor = _actor()
    for item in enrolled:
        record_audit(db.session, actor, "dispenser_created", now=now, target=item.public_id)
    db.session.commit()
    # Streamed: its QR codes take ~3 ms each, about 6 s of drawing for the largest file.
    sheet = enrollment_sheet_parts(
        enrolled, base_url=public_base_url(), server_url=device_base_url(), standalone=False
    )
    logged = _logged_if_cut_off(sheet, len(enrolled))
    return Response(stream_with_context(logged), mimetype="text/html")


def _logged_if_cut_off(pieces: Iterator[str], count: int) -> Iterator[str]:
    """The sheet's pieces; a failure while drawing them comes after the 200 and the error
    handlers, so it is logged here, with the request's id."""
    try:
        yield from pieces
    except Exception:
        current_app.logger.exception(
            "The enrollment sheet of %d new dispensers was cut off: they are created, and"
            " the codes not shown must be issued again from each dispenser's page",
            count,
        )
        raise


@bp.route("/sites/<int:site_id>", methods=["GET", "POST"])
@admin_only
def site(site_id: int) -> ResponseReturnValue:
    """A site's policy (validated) and its dispensers."""
    found = _site(site_id)
    if request.method == "POST":
        now = utcnow()
        try:
            changes = update_site(
                db.session,
                found,
                name=request.form.get("name", ""),
                timezone=request.form.get("timezone", ""),
                contact=request.form.get("contact", ""),
                policy=policy_from_form(),
                paper_baseline_m=form_int("paper_baseline_m", "Baseline", required=False),
                face_outside_confirmed=form_bool("face_outside_confirmed"),
            )
        except DomainError as error:
            db.session.rollback()
            return render_template("admin/site.html", site=_site(site_id), error=error.message), 400
        if changes:
            record_audit(
                db.session, _actor(), "site_policy_changed", now=now, target=found.name, **changes
            )
            db.session.commit()
            flash(
                "Policy saved: "
                + ", ".join(sorted(changes))
                + ". Devices pick it up within minutes."
            )
        else:
            flash("Nothing changed.")
        return _back("admin.site", site_id=site_id)
    return render_template("admin/site.html", site=found)


@bp.post("/sites/<int:site_id>/dispensers")
@admin_only
def dispensers_create(site_id: int) -> ResponseReturnValue:
    """Add a dispenser to a site and show its enrollment code and label."""
    found = _site(site_id)
    now = utcnow()
    dispenser = create_dispenser(
        db.session,
        found,
        now=now,
        label=request.form.get("label", ""),
        unrestricted=form_bool("unrestricted"),
    )
    record_audit(
        db.session,
        _actor(),
        "dispenser_created",
        now=now,
        target=dispenser.public_id,
        site=found.name,
    )
    return _enrollment_page(dispenser)


def _enrollment_page(dispenser: Dispenser) -> str:
    now = utcnow()
    ttl = timedelta(hours=current_app.config["FAIRROLL_ENROLLMENT_TTL_HOURS"])
    code = issue_enrollment_code(db.session, dispenser, now=now, ttl=ttl)
    record_audit(
        db.session, _actor(), "enrollment_code_issued", now=now, target=dispenser.public_id
    )
    db.session.commit()
    url = _visitor_url(dispenser)
    return render_template(
        "admin/label.html",
        d=dispenser,
        url=url,
        qr=qr_data_uri(url),
        code=code,
        server_url=device_base_url(),
        expires_at=now + ttl,
    )


@bp.post("/dispensers/<public_id>/enroll")
@admin_only
def dispenser_enroll(public_id: str) -> str:
    """A fresh one-time enrollment code (for a new or replaced device)."""
    return _enrollment_page(_dispenser(public_id))


@bp.get("/dispensers/<public_id>/label")
def dispenser_label(public_id: str) -> str:
    """The printable sticker: the QR code visitors scan, with the dispenser's id."""
    found = _dispenser(public_id)
    url = _visitor_url(found)
    return render_template("admin/label.html", d=found, url=url, qr=qr_data_uri(url), code=None)


@bp.post("/dispensers/<public_id>")
@admin_only
def dispenser_update(public_id: str) -> ResponseReturnValue:
    """Change label, switch on or off, unrestricted (accessible stall)."""
    found = _dispenser(public_id)
    now = utcnow()
    try:
        changes = update_dispenser(
            db.session,
            found,
            label=request.form.get("label", ""),
            enabled=form_bool("enabled"),
            unrestricted=form_bool("unrestricted"),
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _back("admin.dispenser", public_id=public_id)
    if changes:
        record_audit(
            db.session, _actor(), "dispenser_changed", now=now, target=public_id, **changes
        )
        db.session.commit()
        flash("Saved: " + ", ".join(sorted(changes)) + ".")
    return _back("admin.dispenser", public_id=public_id)


@bp.post("/dispensers/<public_id>/revoke")
@admin_only
def dispenser_revoke(public_id: str) -> ResponseReturnValue:
    """Revoke the device's key (a stolen or replaced device); it must be enrolled again."""
    found = _dispenser(public_id)
    now = utcnow()
    count = revoke_device_keys(db.session, found, now=now)
    record_audit(db.session, _actor(), "device_key_revoked", now=now, target=public_id, keys=count)
    db.session.commit()
    flash(f"Revoked {count} device key(s). Issue an enrollment code to connect a device again.")
    return _back("admin.dispenser", public_id=public_id)
