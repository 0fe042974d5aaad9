"""The pure decision core: every rule, without I/O."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device.decide import (
    AskBackend,
    CodeAnswer,
    Dispense,
    DispensePress,
    Ignore,
    QrScan,
    Refuse,
    Situation,
    TypedCode,
    decide,
    extract_token,
)
from device.face.types import FaceVerdict, Outcome, Reason
from protocol.token import parse_token
from tests.device.helpers import make_token, new_dispenser, remote_config


def situation(key: Ed25519PrivateKey, dispenser_id: str, now: datetime, **kw: object) -> Situation:
    policy = kw.pop("policy", {})
    keys = kw.pop("keys", [key])
    remote = remote_config(dispenser_id, keys, **policy)  # type: ignore[arg-type]
    return Situation(remote=remote, spent=kw.pop("spent", set()), now=now, **kw)  # type: ignore[arg-type]


def test_valid_token_dispenses_and_names_its_ref(signing_key, dispenser_id, now) -> None:
    token = make_token(signing_key, dispenser_id, now)
    decision = decide(QrScan(token), situation(signing_key, dispenser_id, now))
    assert isinstance(decision, Dispense)
    assert decision.method == "qr"
    assert decision.token_ref == parse_token(token)[0].token_ref()


def test_spent_token_is_refused(signing_key, dispenser_id, now) -> None:
    token = make_token(signing_key, dispenser_id, now)
    ref = parse_token(token)[0].token_ref()
    decision = decide(QrScan(token), situation(signing_key, dispenser_id, now, spent={ref}))
    assert decision == Refuse("qr", "already_used", token_ref=ref)


def test_token_for_another_dispenser_is_refused(signing_key, dispenser_id, now) -> None:
    token = make_token(signing_key, new_dispenser(), now)
    decision = decide(QrScan(token), situation(signing_key, dispenser_id, now))
    # The signature held, so the refusal names the token: its phone can say why.
    ref = parse_token(token)[0].token_ref()
    assert decision == Refuse("qr", "wrong_dispenser", token_ref=ref)


def test_expired_token_is_refused_after_the_skew(signing_key, dispenser_id, now) -> None:
    token = make_token(signing_key, dispenser_id, now - timedelta(seconds=200))
    decision = decide(QrScan(token), situation(signing_key, dispenser_id, now))
    assert decision == Refuse("qr", "expired", token_ref=parse_token(token)[0].token_ref())


def test_just_expired_token_is_accepted_within_the_skew(signing_key, dispenser_id, now) -> None:
    token = make_token(signing_key, dispenser_id, now - timedelta(seconds=140))
    decision = decide(QrScan(token), situation(signing_key, dispenser_id, now))
    assert isinstance(decision, Dispense)


def test_token_from_the_future_is_refused(signing_key, dispenser_id, now) -> None:
    token = make_token(signing_key, dispenser_id, now, issued_at=now + timedelta(minutes=5))
    decision = decide(QrScan(token), situation(signing_key, dispenser_id, now))
    assert decision == Refuse("qr", "not_yet_valid", token_ref=parse_token(token)[0].token_ref())


def test_token_signed_by_an_unknown_key_is_refused(signing_key, dispenser_id, now) -> None:
    token = make_token(Ed25519PrivateKey.generate(), dispenser_id, now)
    decision = decide(QrScan(token), situation(signing_key, dispenser_id, now))
    assert decision == Refuse("qr", "unknown_key")  # unverifiable: no reference is named


def test_previous_key_is_accepted_during_rotation(signing_key, dispenser_id, now) -> None:
    new_key = Ed25519PrivateKey.generate()
    token = make_token(signing_key, dispenser_id, now)
    both = situation(signing_key, dispenser_id, now, keys=[new_key, signing_key])
    assert isinstance(decide(QrScan(token), both), Dispense)
    only_new = situation(signing_key, dispenser_id, now, keys=[new_key])
    assert decide(QrScan(token), only_new) == Refuse("qr", "unknown_key")


def test_tampered_token_is_refused(signing_key, dispenser_id, now) -> None:
    token = make_token(signing_key, dispenser_id, now)
    tampered = token[:-10] + ("A" if token[-10] != "A" else "B") + token[-9:]
    decision = decide(QrScan(tampered), situation(signing_key, dispenser_id, now))
    assert isinstance(decision, Refuse)
    assert decision.reason in ("bad_signature", "malformed")
    assert decision.token_ref is None  # a forged token names nobody's code


def test_token_inside_a_url_is_found(signing_key, dispenser_id, now) -> None:
    token = make_token(signing_key, dispenser_id, now)
    assert extract_token(f"https://paper.example.org/t#{token}") == token
    assert extract_token(token.lower()) == token.lower()


def test_foreign_qr_code_is_not_a_token(signing_key, dispenser_id, now) -> None:
    decision = decide(QrScan("https://example.org/menu"), situation(signing_key, dispenser_id, now))
    assert decision == Refuse("qr", "not_a_token")


def test_disabled_dispenser_refuses_everything(signing_key, dispenser_id, now) -> None:
    token = make_token(signing_key, dispenser_id, now)
    s = situation(signing_key, dispenser_id, now, policy={"enabled": False})
    assert decide(QrScan(token), s) == Refuse("qr", "disabled")


def test_empty_or_jammed_dispenser_refuses(signing_key, dispenser_id, now) -> None:
    token = make_token(signing_key, dispenser_id, now)
    assert decide(QrScan(token), situation(signing_key, dispenser_id, now, paper_empty=True)) == (
        Refuse("qr", "empty")
    )
    assert decide(QrScan(token), situation(signing_key, dispenser_id, now, jammed=True)) == (
        Refuse("qr", "jam")
    )


def test_unenrolled_device_refuses(now) -> None:
    assert decide(QrScan("x"), Situation(remote=None, spent=set(), now=now)) == Refuse(
        "qr", "not_enrolled"
    )


def test_min_interval_refuses_with_retry_time(signing_key, dispenser_id, now) -> None:
    token = make_token(signing_key, dispenser_id, now)
    s = situation(
        signing_key,
        dispenser_id,
        now,
        policy={"min_interval_seconds": 20},
        last_dispense_at=now - timedelta(seconds=5),
    )
    assert decide(QrScan(token), s) == Refuse(
        "qr", "too_soon", retry_at=now + timedelta(seconds=15)
    )


def test_typed_code_goes_to_the_backend_when_online(signing_key, dispenser_id, now) -> None:
    s = situation(signing_key, dispenser_id, now, online=True)
    assert decide(TypedCode("123 456"), s) == AskBackend("123456")


def test_typed_code_when_offline_says_so(signing_key, dispenser_id, now) -> None:
    s = situation(signing_key, dispenser_id, now, online=False)
    assert decide(TypedCode("123456"), s) == Refuse("code", "offline")


def test_badly_formed_code_is_refused_locally(signing_key, dispenser_id, now) -> None:
    s = situation(signing_key, dispenser_id, now)
    assert decide(TypedCode("12a456"), s) == Refuse("code", "code_format")
    assert decide(TypedCode("123"), s) == Refuse("code", "code_format")


def test_backend_answers(signing_key, dispenser_id, now) -> None:
    s = situation(signing_key, dispenser_id, now, spent={"f" * 64})
    assert decide(CodeAnswer("token", ref="a" * 64), s) == Dispense("code", token_ref="a" * 64)
    assert decide(CodeAnswer("token", ref="f" * 64), s) == Refuse(
        "code", "already_used", token_ref="f" * 64
    )
    assert decide(CodeAnswer("voucher", ref="b" * 64), s) == Dispense("voucher")
    assert decide(CodeAnswer("invalid"), s) == Refuse("code", "code_invalid")
    assert decide(CodeAnswer("throttled", retry_after_seconds=8), s) == Refuse(
        "code", "too_many_attempts", retry_at=now + timedelta(seconds=8)
    )


def test_face_outcomes(signing_key, dispenser_id, now) -> None:
    s = situation(signing_key, dispenser_id, now)
    later = now + timedelta(minutes=4)
    new = FaceVerdict(Outcome.DISPENSE, Reason.NEW_FACE, "", "", entry_id=1)
    seen = FaceVerdict(Outcome.REFUSE, Reason.SEEN_IN_WINDOW, "", "", available_at=later)
    photo = FaceVerdict(Outcome.NO_FACE, Reason.NOT_LIVE, "", "")
    assert decide(new, s) == Dispense("face")
    assert decide(seen, s) == Refuse("face", "window", retry_at=later)
    assert decide(photo, s) == Ignore()  # nothing decided, nothing counted


def test_dispense_press_only_at_unrestricted_dispensers(signing_key, dispenser_id, now) -> None:
    rationed = situation(signing_key, dispenser_id, now)
    assert decide(DispensePress(), rationed) == Ignore()
    free = situation(signing_key, dispenser_id, now, policy={"unrestricted": True})
    assert decide(DispensePress(), free) == Dispense("unrestricted")
