"""Production key source: an identity provider's JWKS served over real HTTP on 127.0.0.1.

Tokens signed with any of its (asymmetric) keys verify; an unknown kid is refused; the JWKS
is fetched once and cached, also under a storm of unknown kids; a rotated key is picked up
once the refresh cooldown has passed.
"""

from __future__ import annotations

from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fieldcrew_dispatch.config import Settings as DispatchSettings
from fieldcrew_dispatch.main import create_app as create_dispatch
from fieldcrew_shared.auth import TokenVerifier
from fieldcrew_shared.errors import AuthenticationError
from fieldcrew_shared.jwks import JwksKeys

from tests.conftest import TokenFactory, app_client, bearer
from tests.forge import JwksServer, Signer, claims_for, hs256

ISSUER, AUDIENCE = "https://id.fieldcrew.test/realms/crews", "fieldcrew"


def token_of(signer: Signer, sub: str = "dora", role: str = "dispatcher") -> str:
    return signer.sign(claims_for(sub, role, ISSUER, AUDIENCE))


def settings_for(url: str) -> DispatchSettings:
    return DispatchSettings(jwt_jwks_url=url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)


def test_tokens_of_every_jwks_key_verify_with_one_cached_fetch() -> None:
    rsa2048 = Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    signers = [Signer.ed25519(), Signer.p256(), rsa2048]
    with JwksServer(*signers) as idp:
        check = settings_for(idp.url).verifier()
        for signer in signers * 10:
            assert check.verify(token_of(signer)).sub == "dora"
        for _ in range(50):  # unknown kids: refused, and no refetch storm
            with pytest.raises(AuthenticationError, match="kid"):
                check.verify(token_of(Signer.ed25519()))
        assert idp.requests == 1


def test_a_symmetric_key_in_the_jwks_is_never_used() -> None:
    secret = b"shared-secret-of-the-idp"
    oct_jwk = {
        "kty": "oct",
        "kid": "hmac-1",
        "alg": "HS256",
        "k": "c2hhcmVkLXNlY3JldC1vZi10aGUtaWRw",
    }
    with JwksServer(Signer.ed25519(), extra=[oct_jwk]) as idp:
        check = settings_for(idp.url).verifier()
        header = {"typ": "at+jwt", "kid": "hmac-1"}
        with pytest.raises(AuthenticationError):
            check.verify(hs256(secret, header, claims_for("dora", "admin", ISSUER, AUDIENCE)))


def test_a_rotated_key_is_fetched_after_the_cooldown_not_before() -> None:
    old, new = Signer.ed25519(), Signer.ed25519()
    now = [0.0]
    with JwksServer(old) as idp:
        keys = JwksKeys.from_url(
            idp.url, allow_http=True, cooldown=30, max_age=300, clock=lambda: now[0]
        )
        check = TokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE)
        assert check.verify(token_of(old)).sub == "dora"
        idp.signers.append(new)
        with pytest.raises(AuthenticationError):
            check.verify(token_of(new))
        assert idp.requests == 1
        now[0] += 30
        assert check.verify(token_of(new)).sub == "dora"
        assert idp.requests == 2


async def test_a_service_configured_with_a_jwks_url_checks_tokens_against_it(
    settings_env: dict[str, str], token: TokenFactory
) -> None:
    """The dispatch service as production runs it: keys from the identity provider only."""
    provider_key = Signer.p256()
    body = {"title": "Pump leaks", "crew": {"leader": f"lena-{uuid4().hex[:8]}", "members": []}}
    with JwksServer(provider_key) as idp:
        async with app_client(create_dispatch(settings_for(idp.url))) as dispatch:
            issued = await dispatch.post(
                "/work-orders", json=body, headers=bearer(token_of(provider_key))
            )
            assert issued.status_code == 201, issued.text
            for refused in (token_of(Signer.p256()), token("dora", "dispatcher")):
                answer = await dispatch.post("/work-orders", json=body, headers=bearer(refused))
                assert answer.status_code == 401, answer.text
                assert answer.json()["error"]["code"] == "unauthenticated"
        assert idp.requests == 1
