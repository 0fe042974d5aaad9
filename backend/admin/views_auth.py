"""Login with password and TOTP, logout, password change, operators and the audit log."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, session
from flask import url_for as _url_for
from flask.typing import ResponseReturnValue

from backend.admin import bp
from backend.admin.qr import qr_data_uri
from backend.admin.security import address_limiter, admin_only, current_operator, start_session
from backend.errors import DomainError
from backend.extensions import db
from backend.models import Operator
from backend.models.operator import OPERATOR_ROLES
from backend.services.audit import recent_audit, record_audit
from backend.services.operators import (
    LoginLocked,
    audit_name_for_login,
    change_password,
    check_password,
    check_totp,
    create_operator,
    end_sessions,
    new_initial_password,
    provisioning_uri,
    set_active,
    set_role,
)
from protocol.clock import utcnow

# A password step is good for this long before the code must follow.
PENDING_SECONDS = 300


def _redirect(endpoint: str, **values: Any) -> Response:
    return redirect(_url_for(endpoint, **values))  # type: ignore[return-value]


def _too_many() -> str:
    return "Too many login attempts from here; wait a few minutes."


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Step one: e-mail and password."""
    if request.method == "GET":
        return render_template("admin/login.html")
    now = utcnow()
    if not address_limiter().allow(request.remote_addr or "?"):
        return render_template("admin/login.html", error=_too_many()), 429
    email = request.form.get("email", "")
    try:
        operator = check_password(db.session, email, request.form.get("password", ""), now=now)
    except DomainError as error:
        if not isinstance(error, LoginLocked):
            record_audit(
                db.session, audit_name_for_login(db.session, email), "login_failed", now=now
            )
        db.session.commit()  # the failure counts towards the lock
        return render_template("admin/login.html", error=error.message, email=email), error.status
    db.session.commit()
    session.clear()
    session["pending"] = operator.id
    session["pending_at"] = int(now.timestamp())
    return _redirect("admin.login_totp")


def _pending_operator() -> Operator | None:
    op_id = session.get("pending")
    started = int(session.get("pending_at", 0))
    if not isinstance(op_id, int) or utcnow().timestamp() - started > PENDING_SECONDS:
        return None
    operator = db.session.get(Operator, op_id)
    return operator if operator is not None and operator.active else None


@bp.route("/login/totp", methods=["GET", "POST"])
def login_totp() -> ResponseReturnValue:
    """Step two: the code from the authenticator (and its enrolment on first login)."""
    operator = _pending_operator()
    if operator is None:
        return _redirect("admin.login")
    enrol = None
    if operator.totp_enrolled_at is None:
        uri = provisioning_uri(operator)
        enrol = {"qr": qr_data_uri(uri), "secret": operator.totp_secret}
    if request.method == "GET":
        return render_template("admin/totp.html", enrol=enrol)
    now = utcnow()
    if not address_limiter().allow(request.remote_addr or "?"):
        return render_template("admin/totp.html", enrol=enrol, error=_too_many()), 429
    try:
        check_totp(db.session, operator, request.form.get("code", ""), now=now)
    except DomainError as error:
        record_audit(db.session, operator, "login_failed", now=now, step="totp")
        db.session.commit()
        return render_template("admin/totp.html", enrol=enrol, error=error.message), error.status
    record_audit(db.session, operator, "login", now=now)
    db.session.commit()
    start_session(operator, now)
    return _redirect("admin.fleet")


@bp.post("/logout")
def logout() -> Response:
    """End the operator's sessions on the server (every browser), then forget the cookie."""
    operator = current_operator()
    if operator is not None:
        end_sessions(db.session, operator.id)
        record_audit(db.session, operator, "logout", now=utcnow())
        db.session.commit()
    session.clear()
    return _redirect("admin.login")


@bp.route("/account/password", methods=["GET", "POST"])
def password() -> ResponseReturnValue:
    """Change one's own password (ends the other sessions)."""
    operator = current_operator()
    assert operator is not None
    if request.method == "GET":
        return render_template("admin/password.html")
    now = utcnow()
    try:
        check_password(db.session, operator.email, request.form.get("current", ""), now=now)
        if request.form.get("new", "") != request.form.get("repeat", ""):
            raise DomainError("the two new passwords differ")
        change_password(db.session, operator, request.form.get("new", ""))
    except DomainError as error:
        db.session.commit()
        return render_template("admin/password.html", error=error.message), 400
    record_audit(db.session, operator, "password_changed", now=now, target=operator.email)
    db.session.commit()
    start_session(operator, now)
    flash("Password changed. Other sessions were signed out.")
    return _redirect("admin.fleet")


@bp.get("/operators")
@admin_only
def operators() -> str:
    """Operator accounts."""
    rows = db.session.scalars(db.select(Operator).order_by(Operator.email)).all()
    return render_template("admin/operators.html", operators=rows, roles=OPERATOR_ROLES)


@bp.post("/operators")
@admin_only
def operators_create() -> ResponseReturnValue:
    """Create an operator; the first password is shown once, to hand over in person."""
    actor = current_operator()
    now = utcnow()
    initial = new_initial_password()
    try:
        created = create_operator(
            db.session,
            request.form.get("email", ""),
            initial,
            role=request.form.get("role", ""),
            now=now,
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _redirect("admin.operators")
    assert actor is not None
    record_audit(
        db.session,
        actor,
        "operator_created",
        now=now,
        target=created.operator.email,
        role=created.operator.role,
    )
    db.session.commit()
    return render_template(
        "admin/operator_created.html", created=created.operator, password=initial
    )


@bp.post("/operators/<int:operator_id>/active")
@admin_only
def operators_active(operator_id: int) -> Response:
    """Activate or deactivate an operator."""
    actor = current_operator()
    target = db.session.get(Operator, operator_id)
    if target is None or actor is None:
        abort(404)
    active = request.form.get("active") == "1"
    try:
        set_active(db.session, target, active)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _redirect("admin.operators")
    action = "operator_activated" if active else "operator_deactivated"
    record_audit(db.session, actor, action, now=utcnow(), target=target.email)
    db.session.commit()
    return _redirect("admin.operators")


@bp.post("/operators/<int:operator_id>/role")
@admin_only
def operators_role(operator_id: int) -> Response:
    """Change an operator's role (ends that operator's sessions)."""
    actor = current_operator()
    target = db.session.get(Operator, operator_id)
    if target is None or actor is None:
        abort(404)
    role = request.form.get("role", "")
    try:
        set_role(db.session, target, role)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _redirect("admin.operators")
    record_audit(
        db.session, actor, "operator_role_changed", now=utcnow(), target=target.email, role=role
    )
    db.session.commit()
    return _redirect("admin.operators")


@bp.get("/audit")
@admin_only
def audit() -> str:
    """The audit log, newest first."""
    limit = min(1000, max(10, request.args.get("limit", 200, type=int) or 200))
    return render_template("admin/audit.html", entries=recent_audit(db.session, limit=limit))
