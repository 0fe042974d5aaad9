"""The token wire format: a fixed test vector, round trips, and every way to refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.ids import (
    InvalidDispenserId,
    dispenser_id_to_bytes,
    dispenser_id_to_text,
    new_dispenser_public_id,
)
from protocol.token import (
    TOKEN_TEXT_LENGTH,
    BadSignature,
    ExpiredToken,
    MalformedToken,
    NotYetValid,
    TokenClaims,
    UnknownKey,
    WrongDispenser,
    decode_public_keys,
    dispenser_token_key,
    encode_public_key,
    encode_token_key,
    parse_token,
    sign_token,
    token_ref,
    verify_token,
)

# Test vector: HKDF and HMAC are deterministic, so these inputs always give this token.
VECTOR_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
VECTOR_KID = "56475aa7"
VECTOR_PUBLIC = "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
VECTOR_MAC_KEY = "KGpBJ-ufqS3wt9fXk5y8LpHzAVaEYgLJCcBj3X9m87Y="  # for dispenser 0a1b2c3d4e5f
VECTOR_DISPENSER = "binsypkol4"  # raw bytes 0a1b2c3d4e5f
VECTOR_ISSUED = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
VECTOR_TOKEN = (
    "18370329435765187343708440999173887074228064115481"
    "0450046688590775557724440475096184870286179177416"
)
VECTOR_REF = "206402cab345415716d9a33469feba57a90dc200c064bc0190b4191af058b0eb"
DISPENSER = bytes.fromhex("0a1b2c3d4e5f")
KEYS = decode_public_keys([encode_token_key(VECTOR_KEY, DISPENSER)])


def vector_claims() -> TokenClaims:
    return TokenClaims(
        key_id=bytes.fromhex(VECTOR_KID),
        token_id=bytes(range(1, 13)),
        dispenser_id=DISPENSER,
        issued_at=VECTOR_ISSUED,
        expires_at=VECTOR_ISSUED + timedelta(seconds=120),
    )


def test_sign_token_matches_the_vector() -> None:
    assert sign_token(vector_claims(), VECTOR_KEY) == VECTOR_TOKEN
    assert len(VECTOR_TOKEN) == TOKEN_TEXT_LENGTH <= 180
    # Numeric mode, version 3 (29 modules) at error correction M: the reason for the format.
    symbol = segno.make_qr(VECTOR_TOKEN, error="m")
    assert (symbol.mode, symbol.version) == ("numeric", 3)


def test_vector_verifies_and_yields_its_claims() -> None:
    claims = verify_token(VECTOR_TOKEN, KEYS, dispenser_id=DISPENSER, now=VECTOR_ISSUED)
    assert claims == vector_claims()
    assert claims.token_ref() == VECTOR_REF == token_ref(bytes(range(1, 13)))


def test_key_documents_match_the_vector() -> None:
    document = encode_public_key(VECTOR_KEY.public_key())
    assert document == {"kid": VECTOR_KID, "alg": "Ed25519", "public_key": VECTOR_PUBLIC}
    token_key = encode_token_key(VECTOR_KEY, DISPENSER)
    assert token_key == {"kid": VECTOR_KID, "alg": "HMAC-SHA256-128", "key": VECTOR_MAC_KEY}
    assert list(decode_public_keys([token_key])) == [bytes.fromhex(VECTOR_KID)]


def test_each_dispenser_gets_its_own_mac_key() -> None:
    other = bytes.fromhex("0a1b2c3d4e60")
    assert dispenser_token_key(VECTOR_KEY, other) != dispenser_token_key(VECTOR_KEY, DISPENSER)
    # Another dispenser's key cannot make a token this dispenser accepts.
    claims = TokenClaims(
        bytes.fromhex(VECTOR_KID),
        bytes(12),
        other,
        VECTOR_ISSUED,
        VECTOR_ISSUED + timedelta(minutes=2),
    )
    foreign = sign_token(claims, VECTOR_KEY)
    stolen = decode_public_keys([encode_token_key(VECTOR_KEY, other)])
    with pytest.raises(BadSignature):
        # Relabel the foreign token for this dispenser: its MAC was made with the wrong key.
        raw = int(foreign).to_bytes(41, "big")
        relabelled = raw[:13] + DISPENSER + raw[19:]
        text = str(int.from_bytes(relabelled, "big")).zfill(TOKEN_TEXT_LENGTH)
        verify_token(text, KEYS, dispenser_id=DISPENSER, now=VECTOR_ISSUED)
    assert verify_token(foreign, stolen, dispenser_id=other, now=VECTOR_ISSUED).token_id


def test_surrounding_space_is_accepted() -> None:
    text = "  " + VECTOR_TOKEN + "\n"
    assert verify_token(text, KEYS, dispenser_id=DISPENSER, now=VECTOR_ISSUED).token_id


def test_expired_token_is_refused_after_the_skew() -> None:
    end = VECTOR_ISSUED + timedelta(seconds=120)
    skew = timedelta(seconds=30)
    verify_token(VECTOR_TOKEN, KEYS, dispenser_id=DISPENSER, now=end + skew, clock_skew=skew)
    with pytest.raises(ExpiredToken):
        verify_token(
            VECTOR_TOKEN,
            KEYS,
            dispenser_id=DISPENSER,
            now=end + skew + timedelta(seconds=1),
            clock_skew=skew,
        )


def test_token_from_the_future_is_refused() -> None:
    with pytest.raises(NotYetValid):
        verify_token(
            VECTOR_TOKEN, KEYS, dispenser_id=DISPENSER, now=VECTOR_ISSUED - timedelta(minutes=5)
        )


def test_token_for_another_dispenser_is_refused() -> None:
    with pytest.raises(WrongDispenser):
        verify_token(VECTOR_TOKEN, KEYS, dispenser_id=bytes(6), now=VECTOR_ISSUED)


def test_unknown_key_is_refused() -> None:
    with pytest.raises(UnknownKey):
        verify_token(
            VECTOR_TOKEN, {b"\x00abc": bytes(32)}, dispenser_id=DISPENSER, now=VECTOR_ISSUED
        )


def test_a_key_with_the_same_hint_but_another_secret_is_refused() -> None:
    keys = {bytes.fromhex(VECTOR_KID[:2] + "000000"): bytes(32)}
    with pytest.raises(BadSignature):
        verify_token(VECTOR_TOKEN, keys, dispenser_id=DISPENSER, now=VECTOR_ISSUED)
    both = keys | KEYS  # after a rotation two keys may share the hint: both are tried
    claims = verify_token(VECTOR_TOKEN, both, dispenser_id=DISPENSER, now=VECTOR_ISSUED)
    assert claims.key_id == bytes.fromhex(VECTOR_KID)


@pytest.mark.parametrize("position", [0, 40, 70, 98])
def test_any_changed_character_is_refused(position: int) -> None:
    swapped = "1" if VECTOR_TOKEN[position] != "1" else "2"
    tampered = VECTOR_TOKEN[:position] + swapped + VECTOR_TOKEN[position + 1 :]
    with pytest.raises((BadSignature, MalformedToken, UnknownKey, WrongDispenser)):
        verify_token(tampered, KEYS, dispenser_id=DISPENSER, now=VECTOR_ISSUED)


def test_forged_claims_with_a_copied_signature_are_refused() -> None:
    claims, _, signature = parse_token(VECTOR_TOKEN)
    longer = TokenClaims(
        bytes.fromhex(VECTOR_KID),
        claims.token_id,
        claims.dispenser_id,
        claims.issued_at,
        claims.expires_at + timedelta(hours=1),
    )
    raw = int(sign_token(longer, VECTOR_KEY)).to_bytes(41, "big")
    forged_raw = raw[:25] + signature  # the new claims with the vector's MAC
    forged = str(int.from_bytes(forged_raw, "big")).zfill(TOKEN_TEXT_LENGTH)
    with pytest.raises(BadSignature):
        verify_token(forged, KEYS, dispenser_id=DISPENSER, now=VECTOR_ISSUED)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "9" * TOKEN_TEXT_LENGTH,
        "A" * TOKEN_TEXT_LENGTH,
        "\u0661" * TOKEN_TEXT_LENGTH,
        VECTOR_TOKEN[:-1],
        VECTOR_TOKEN + "1",
        "https://example.com/not-a-token",
    ],
)
def test_malformed_text_is_refused_clearly(text: str) -> None:
    with pytest.raises(MalformedToken):
        parse_token(text)


def test_non_string_is_refused() -> None:
    with pytest.raises(MalformedToken):
        parse_token(None)  # type: ignore[arg-type]


def test_signing_with_the_wrong_key_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="different key"):
        sign_token(vector_claims(), Ed25519PrivateKey.generate())


def test_dispenser_ids_round_trip_and_reject_non_canonical_text() -> None:
    public_id = new_dispenser_public_id()
    assert dispenser_id_to_text(dispenser_id_to_bytes(public_id)) == public_id
    assert dispenser_id_to_bytes(VECTOR_DISPENSER) == DISPENSER
    for bad in ["", "BINSYPKOL4", "binsypkol", "binsypkol5", "binsypkol1", "../etc/pas"]:
        with pytest.raises(InvalidDispenserId):
            dispenser_id_to_bytes(bad)


def test_malformed_token_key_documents_are_refused() -> None:
    good = encode_token_key(VECTOR_KEY, DISPENSER)
    for bad in [
        encode_public_key(VECTOR_KEY.public_key()),  # a public key cannot check a MAC
        good | {"kid": "0000"},
        good | {"key": "c2hvcnQ="},
        good | {"key": "not base64!"},
        {"alg": "HMAC-SHA256-128"},
    ]:
        with pytest.raises(ValueError):
            decode_public_keys([bad])
    with pytest.raises(ValueError):
        decode_public_keys("not a list")
