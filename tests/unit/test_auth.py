"""The token verifier on its own (RFC 8725): every forged token refused, keys pinned to their
algorithm, kids looked up only among configured keys, the JWKS cache bounded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fieldcrew_shared.auth import Principal, Role, TokenVerifier, mint, principal_of
from fieldcrew_shared.errors import AuthenticationError, BackendUnavailableError
from fieldcrew_shared.jwks import JwksKeys
from fieldcrew_shared.signing_keys import (
    StaticKeys,
    UnsupportedKeyError,
    keys_of_jwks,
    public_jwk,
    thumbprint,
)

from tests.forge import Signer, claims_for, forgeries

ISSUER, AUDIENCE = "https://id.fieldcrew.test", "fieldcrew"
GENUINE, ATTACKER = Signer.ed25519(), Signer.ed25519()


def forged() -> dict[str, str]:
    """Every forgery, made now: their times are relative to when they are made, so forgeries
    made when the module was collected (minutes earlier in a long run) could expire, or their
    "future" come, before they are checked."""
    return forgeries(
        GENUINE, ATTACKER, sub="lena", role="technician", issuer=ISSUER, audience=AUDIENCE
    )


ATTACKS = sorted(forged())


def pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def verifier(*signers: Signer) -> TokenVerifier:
    keys = StaticKeys.from_pem(*(s.public_pem for s in signers))
    return TokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE)


def test_a_genuine_token_names_its_caller() -> None:
    token = mint(
        pem(GENUINE.key), sub="lena", role=Role.technician, issuer=ISSUER, audience=AUDIENCE
    )
    assert verifier(GENUINE).verify(token) == Principal("lena", Role.technician)


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_forged_token_is_refused(attack: str) -> None:
    token = forged()[attack]
    with pytest.raises(AuthenticationError):
        verifier(GENUINE).verify(token)


def test_there_are_enough_forgeries_to_mean_something() -> None:
    assert len(ATTACKS) >= 30


@pytest.mark.parametrize(
    "changes",
    [{"exp": -10}, {"nbf": 10}, {"iat": 10}],
    ids=["expired 10 s ago", "valid in 10 s", "issued 10 s ahead"],
)
def test_clock_skew_within_30_seconds_is_tolerated(changes: dict[str, int]) -> None:
    now = claims_for("x", "admin", ISSUER, AUDIENCE)["iat"]
    claims = claims_for("x", "admin", ISSUER, AUDIENCE, **{k: now + v for k, v in changes.items()})
    assert verifier(GENUINE).verify(GENUINE.sign(claims)).sub == "x"


@pytest.mark.parametrize("changes", [{"exp": -45}, {"nbf": 45}], ids=["exp", "nbf"])
def test_clock_skew_beyond_30_seconds_is_not(changes: dict[str, int]) -> None:
    now = claims_for("x", "admin", ISSUER, AUDIENCE)["iat"]
    claims = claims_for("x", "admin", ISSUER, AUDIENCE, **{k: now + v for k, v in changes.items()})
    with pytest.raises(AuthenticationError):
        verifier(GENUINE).verify(GENUINE.sign(claims))


def test_typ_may_be_the_full_media_type_and_aud_a_list() -> None:
    claims = claims_for("x", "analyst", ISSUER, [AUDIENCE, "other"])
    token = GENUINE.sign(claims, typ="application/at+jwt")
    assert verifier(GENUINE).verify(token).role is Role.analyst


def test_mint_puts_the_rfc7638_thumbprint_in_kid() -> None:
    token = mint(pem(GENUINE.key), sub="a", role=Role.admin, issuer=ISSUER, audience=AUDIENCE)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": GENUINE.kid}


def test_thumbprints_match_the_rfc_examples() -> None:
    rfc7638_rsa = {
        "kty": "RSA",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L"
        "6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
        "65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNL"
        "yrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJz"
        "KnqDKgw",
    }
    rfc8037_ed25519 = {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    }
    assert thumbprint(rfc7638_rsa) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    assert thumbprint(rfc8037_ed25519) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_es256_and_rs256_keys_verify_only_their_own_algorithm() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    rsa2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_signer, rsa_signer = Signer(p256), Signer(rsa2048)
    check = verifier(GENUINE, ec_signer, rsa_signer)
    for signer, role in ((ec_signer, Role.dispatcher), (rsa_signer, Role.analyst)):
        token = mint(pem(signer.key), sub="s", role=role, issuer=ISSUER, audience=AUDIENCE)
        assert check.verify(token).role is role
    claims = claims_for("s", "admin", ISSUER, AUDIENCE)
    for kid in (ec_signer.kid, rsa_signer.kid):  # an EdDSA signature under another key's kid
        with pytest.raises(AuthenticationError, match="alg must be"):
            check.verify(GENUINE.sign(claims, kid=kid))


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(public_exponent=65537, key_size=1024),
        ec.generate_private_key(ec.SECP384R1()),
    ],
    ids=["RSA-1024", "P-384"],
)
def test_weak_or_unpinned_keys_are_refused_at_start(key: Any) -> None:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(UnsupportedKeyError):
        StaticKeys.from_pem(public)
    with pytest.raises(UnsupportedKeyError):
        mint(pem(key), sub="s", role=Role.admin, issuer=ISSUER, audience=AUDIENCE)


# --- the JWKS key source, with a fetch and a clock of our own: the caching rules exactly ---


class FakeIdentityProvider:
    """Serves a JWKS document from memory and counts fetches; ``down`` makes fetches fail."""

    def __init__(self, *signers: Signer) -> None:
        self.signers = list(signers)
        self.fetches = 0
        self.down = False

    def fetch(self) -> Mapping[str, Any]:
        self.fetches += 1
        if self.down:
            raise BackendUnavailableError("identity provider down")
        return {"keys": [s.jwk for s in self.signers]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def jwks_verifier(idp: FakeIdentityProvider, clock: Clock) -> TokenVerifier:
    keys = JwksKeys(idp.fetch, max_age=300, cooldown=30, clock=clock)
    return TokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE)


def test_jwks_keys_are_fetched_once_and_cached() -> None:
    idp, clock = FakeIdentityProvider(GENUINE), Clock()
    check = jwks_verifier(idp, clock)
    token = GENUINE.sign(claims_for("s", "admin", ISSUER, AUDIENCE))
    for _ in range(100):
        check.verify(token)
    assert idp.fetches == 1
    clock.now += 301  # past max_age: one fetch more
    check.verify(token)
    check.verify(token)
    assert idp.fetches == 2


def test_verifying_on_the_event_loop_never_fetches_keys() -> None:
    """``verify_at_hand`` runs on the event loop: it answers from the cache or gives None (the
    caller then verifies in a thread), and a forged token is refused either way."""
    idp, clock = FakeIdentityProvider(GENUINE), Clock()
    check = jwks_verifier(idp, clock)
    token = GENUINE.sign(claims_for("s", "admin", ISSUER, AUDIENCE))
    assert check.verify_at_hand(token) is None and idp.fetches == 0  # nothing fetched yet
    check.verify(token)
    assert check.verify_at_hand(token) == Principal("s", Role.admin) and idp.fetches == 1
    with pytest.raises(AuthenticationError):
        check.verify_at_hand(forged()["flipped signature bit"])
    assert (
        check.verify_at_hand(Signer.ed25519().sign(claims_for("s", "admin", ISSUER, AUDIENCE)))
        is None
    )
    clock.now += 301  # stale: the loop must not fetch
    assert check.verify_at_hand(token) is None and idp.fetches == 1
    static = verifier(GENUINE)
    assert static.verify_at_hand(token) == Principal("s", Role.admin)
    with pytest.raises(AuthenticationError):
        static.verify_at_hand(Signer.ed25519().sign(claims_for("s", "admin", ISSUER, AUDIENCE)))


def test_unknown_kids_refresh_the_jwks_at_most_once_per_cooldown() -> None:
    idp, clock = FakeIdentityProvider(GENUINE), Clock()
    check = jwks_verifier(idp, clock)
    rotated = Signer.ed25519()
    token = rotated.sign(claims_for("s", "admin", ISSUER, AUDIENCE))
    check.verify(GENUINE.sign(claims_for("s", "admin", ISSUER, AUDIENCE)))
    idp.signers.append(rotated)  # the provider rotates just after our first fetch
    for _ in range(1000):  # an unknown-kid storm inside the cooldown
        with pytest.raises(AuthenticationError):
            check.verify(ATTACKER.sign(claims_for("s", "admin", ISSUER, AUDIENCE)))
    with pytest.raises(AuthenticationError):
        check.verify(token)
    assert idp.fetches == 1
    clock.now += 30  # cooldown over: the next unknown kid refreshes once and finds the new key
    assert check.verify(token).sub == "s"
    assert idp.fetches == 2


def test_an_identity_provider_outage_keeps_known_keys_and_is_not_hammered() -> None:
    idp, clock = FakeIdentityProvider(GENUINE), Clock()
    check = jwks_verifier(idp, clock)
    token = GENUINE.sign(claims_for("s", "admin", ISSUER, AUDIENCE))
    check.verify(token)
    idp.down, clock.now = True, clock.now + 301
    for _ in range(50):
        assert check.verify(token).sub == "s"
    assert idp.fetches == 2


def test_no_keys_at_all_is_503_not_a_fetch_per_request() -> None:
    idp, clock = FakeIdentityProvider(GENUINE), Clock()
    idp.down = True
    check = jwks_verifier(idp, clock)
    token = GENUINE.sign(claims_for("s", "admin", ISSUER, AUDIENCE))
    for _ in range(20):
        with pytest.raises(BackendUnavailableError):
            check.verify(token)
    assert idp.fetches == 1
    idp.down, clock.now = False, clock.now + 30
    assert check.verify(token).sub == "s"


def test_a_jwks_offers_only_asymmetric_signing_keys_with_a_consistent_alg() -> None:
    p256 = Signer.p256()
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwks = {
        "keys": [
            GENUINE.jwk,
            {**p256.jwk, "alg": "RS256"},  # alg contradicting the key type
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
            {"kty": "oct", "k": "", "kid": "none", "alg": "none"},
            {**Signer.ed25519().jwk, "alg": "none"},
            "not a JWK",
            {**public_jwk(Signer.ed25519().key.public_key()), "use": "enc"},
            {k: v for k, v in Signer.ed25519().jwk.items() if k != "kid"},
            {**jwt.algorithms.RSAAlgorithm.to_jwk(weak.public_key(), as_dict=True), "kid": "1024"},
        ]
    }
    assert list(keys_of_jwks(jwks)) == [GENUINE.kid]


def test_a_sub_with_control_characters_is_refused() -> None:
    """A NUL in a user id would end up in events that PostgreSQL cannot store."""
    for sub in ("max\x00", "max\nroot", "\x1b[31mmax"):
        with pytest.raises(AuthenticationError, match="control characters"):
            principal_of({"sub": sub, "role": "technician"})


class CountingKeys(StaticKeys):
    """Static keys that count full lookups (each one precedes a signature check)."""

    lookups = 0

    def key_for(self, kid: str) -> Any:
        self.lookups += 1
        return super().key_for(kid)

    def key_at_hand(self, kid: str) -> Any:
        return self.keys.get(kid)


def test_a_verified_token_is_remembered_until_it_expires() -> None:
    keys = CountingKeys.from_pem(GENUINE.public_pem)
    assert isinstance(keys, CountingKeys)
    now = [0.0]
    check = TokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE, clock=lambda: now[0])
    claims = claims_for("s", "admin", ISSUER, AUDIENCE)
    token = GENUINE.sign(claims)
    now[0] = claims["exp"] + 29  # within the leeway
    for _ in range(5):
        assert check.verify(token) == Principal("s", Role.admin)
    assert keys.lookups == 1
    now[0] = claims["exp"] + 31  # expired by the verifier's clock: checked afresh
    check.verify(token)  # (PyJWT's clock is the real one, where the token is still valid)
    assert keys.lookups == 2


def test_a_refused_token_is_never_remembered() -> None:
    keys = CountingKeys.from_pem(GENUINE.public_pem)
    assert isinstance(keys, CountingKeys)
    check = TokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE)
    wrong_audience = GENUINE.sign(claims_for("s", "admin", ISSUER, "another-api"))
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            check.verify(wrong_audience)
    assert keys.lookups == 3


def test_a_key_rotated_out_of_the_jwks_takes_its_remembered_tokens_with_it() -> None:
    idp, clock = FakeIdentityProvider(GENUINE), Clock()
    check = jwks_verifier(idp, clock)
    token = GENUINE.sign(claims_for("s", "admin", ISSUER, AUDIENCE))
    assert check.verify(token).sub == "s"
    assert check.verify_at_hand(token) == Principal("s", Role.admin)  # remembered
    idp.signers = [Signer.ed25519()]  # the provider drops the key
    clock.now += 301  # the next refresh sees it gone
    with pytest.raises(AuthenticationError):
        check.verify(token)
    assert check.verify_at_hand(token) is None
    with pytest.raises(AuthenticationError):
        check.verify(token)


def test_the_caller_says_until_when_their_token_is_accepted() -> None:
    claims = claims_for("s", "dispatcher", ISSUER, AUDIENCE)
    check = verifier(GENUINE)
    principal = check.verify(GENUINE.sign(claims))
    assert principal.valid_until == claims["exp"] + check.leeway
    again = check.verify_at_hand(GENUINE.sign(claims))  # remembered
    assert again is not None and again.valid_until == principal.valid_until
