"""The token wire format: a fixed test vector, round trips, and every way to refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
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
    encode_public_key,
    key_id_for,
    parse_token,
    sign_token,
    token_ref,
    verify_token,
)

# Test vector: Ed25519 is deterministic, so these inputs always give this token.
VECTOR_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
VECTOR_KID = "56475aa7"
VECTOR_PUBLIC = "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
VECTOR_DISPENSER = "binsypkol4"  # raw bytes 0a1b2c3d4e5f
VECTOR_ISSUED = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
VECTOR_TOKEN = (
    "AFLEOWVHAEBAGBAFAYDQQCIKBMGAUGZMHVHF62YCO3IGWATXJBUVL6Z6OJWA54HGVE45RAGFECJT7PJQUETT"
    "PGVFEBNU545EU74X5JIBTHKAMCZKKOX2QS5C44SZMRUWIYY33LRM5KTRECDEYSAEKSIN"
)
VECTOR_REF = "206402cab345415716d9a33469feba57a90dc200c064bc0190b4191af058b0eb"
KEYS = {bytes.fromhex(VECTOR_KID): VECTOR_KEY.public_key()}
DISPENSER = bytes.fromhex("0a1b2c3d4e5f")


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


def test_vector_verifies_and_yields_its_claims() -> None:
    claims = verify_token(VECTOR_TOKEN, KEYS, dispenser_id=DISPENSER, now=VECTOR_ISSUED)
    assert claims == vector_claims()
    assert claims.token_ref() == VECTOR_REF == token_ref(bytes(range(1, 13)))


def test_public_key_document_matches_the_vector() -> None:
    document = encode_public_key(VECTOR_KEY.public_key())
    assert document == {"kid": VECTOR_KID, "alg": "Ed25519", "public_key": VECTOR_PUBLIC}
    assert decode_public_keys([document]).keys() == KEYS.keys()


def test_lowercase_and_surrounding_space_are_accepted() -> None:
    text = "  " + VECTOR_TOKEN.lower() + "\n"
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
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(UnknownKey):
        verify_token(
            VECTOR_TOKEN, {key_id_for(other): other}, dispenser_id=DISPENSER, now=VECTOR_ISSUED
        )


@pytest.mark.parametrize("position", [0, 40, 70, 151])
def test_any_changed_character_is_refused(position: int) -> None:
    swapped = "A" if VECTOR_TOKEN[position] != "A" else "B"
    tampered = VECTOR_TOKEN[:position] + swapped + VECTOR_TOKEN[position + 1 :]
    with pytest.raises((BadSignature, MalformedToken, UnknownKey, WrongDispenser)):
        verify_token(tampered, KEYS, dispenser_id=DISPENSER, now=VECTOR_ISSUED)


def test_forged_claims_with_a_copied_signature_are_refused() -> None:
    claims, _, signature = parse_token(VECTOR_TOKEN)
    longer = TokenClaims(
        claims.key_id,
        claims.token_id,
        claims.dispenser_id,
        claims.issued_at,
        claims.expires_at + timedelta(hours=1),
    )
    forged = sign_token(longer, VECTOR_KEY)[:-103] + VECTOR_TOKEN[-103:]
    with pytest.raises((BadSignature, MalformedToken)):
        verify_token(forged, KEYS, dispenser_id=DISPENSER, now=VECTOR_ISSUED)
    assert signature


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "1" * TOKEN_TEXT_LENGTH,
        VECTOR_TOKEN[:-1],
        VECTOR_TOKEN + "A",
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


def test_public_key_documents_with_a_wrong_kid_are_refused() -> None:
    document = encode_public_key(VECTOR_KEY.public_key()) | {"kid": "00000000"}
    with pytest.raises(ValueError, match="does not match"):
        decode_public_keys([document])
    with pytest.raises(ValueError):
        decode_public_keys("not a list")
