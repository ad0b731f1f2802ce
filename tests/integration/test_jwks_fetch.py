"""How the identity provider's JWKS is fetched, against real HTTP(S) servers on 127.0.0.1: a
redirect is not followed, only https is taken outside local mode (and its certificate is
checked), the answer's size is capped (also when the server streams without a length), and a
fetch in flight never holds up the event loop's look-ups."""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fieldcrew_shared.auth import TokenVerifier
from fieldcrew_shared.errors import AuthenticationError, BackendUnavailableError
from fieldcrew_shared.jwks import JwksKeys, jwks_fetcher
from fieldcrew_shared.signing_keys import UnsupportedKeyError

from tests.forge import JwksServer, Signer, claims_for

ISSUER, AUDIENCE = "https://id.fieldcrew.test/realms/crews", "fieldcrew"


def token_of(signer: Signer) -> str:
    return signer.sign(claims_for("dora", "dispatcher", ISSUER, AUDIENCE))


class Provider:
    """A real HTTP(S) server answering every GET with ``answer(handler)``; it counts requests,
    and ``arrived`` is set when one comes in."""

    def __init__(self, answer: Any, tls: ssl.SSLContext | None = None) -> None:
        self.requests, self.arrived = 0, threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                owner.arrived.set()
                answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    def __enter__(self) -> Provider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def send(handler: BaseHTTPRequestHandler, body: bytes, **headers: str) -> None:
    handler.send_response(200)
    for name, value in {"Content-Type": "application/json", **headers}.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def test_a_redirect_is_not_followed() -> None:
    signer = Signer.ed25519()
    with JwksServer(signer) as elsewhere:

        def moved(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(302)
            handler.send_header("Location", elsewhere.url)
            handler.end_headers()

        with Provider(moved) as idp:
            with pytest.raises(BackendUnavailableError, match=r"answered 302 \(a redirect, not"):
                jwks_fetcher(idp.url, allow_http=True)()
            keys = JwksKeys.from_url(idp.url, allow_http=True)
            check = TokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE)
            with pytest.raises(BackendUnavailableError, match="keys are not available"):
                check.verify(token_of(signer))
            assert idp.requests == 2 and elsewhere.requests == 0


@contextmanager
def tls_pair() -> Iterator[tuple[ssl.SSLContext, ssl.SSLContext]]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and a client
    context that trusts exactly that certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "cert.pem").write_bytes(cert_pem)
        (Path(folder) / "key.pem").write_bytes(key_pem)
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(Path(folder) / "cert.pem", Path(folder) / "key.pem")
        yield server, ssl.create_default_context(cadata=cert_pem.decode())


def test_only_https_is_taken_outside_local_mode_and_its_certificate_is_checked() -> None:
    signer = Signer.ed25519()
    document = JwksServer(signer).document()
    with pytest.raises(UnsupportedKeyError, match="must be https, not http"):
        JwksKeys.from_url("http://127.0.0.1:9/jwks.json")  # production's default
    with pytest.raises(UnsupportedKeyError, match="must be https, not file"):
        JwksKeys.from_url("file:///etc/passwd", allow_http=True)
    with (
        tls_pair() as (server_tls, client_tls),
        Provider(lambda handler: send(handler, document), tls=server_tls) as idp,
    ):
        keys = JwksKeys.from_url(idp.url, ssl_context=client_tls)
        check = TokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE)
        assert check.verify(token_of(signer)).sub == "dora"
        untrusted = JwksKeys.from_url(idp.url)  # the system's CAs do not know this certificate
        with pytest.raises(BackendUnavailableError, match="keys are not available"):
            TokenVerifier(keys=untrusted, issuer=ISSUER, audience=AUDIENCE).verify(token_of(signer))
        assert idp.requests == 1  # the client refused the handshake: no request was sent


def test_the_answer_is_capped_in_size_however_it_is_sent() -> None:
    signer = Signer.ed25519()
    padded = JwksServer(signer).document()[:-1] + b', "padding": "' + b"x" * 10_000 + b'"}'
    with Provider(lambda handler: send(handler, padded)) as idp:  # with its Content-Length
        with pytest.raises(BackendUnavailableError, match="larger than 4096 bytes"):
            jwks_fetcher(idp.url, allow_http=True, max_bytes=4096)()
        assert jwks_fetcher(idp.url, allow_http=True, max_bytes=20_000)()["keys"]
    sent, done = [0], threading.Event()

    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()  # no length: HTTP/1.0, the body ends when the connection does
        try:
            for _ in range(1000):
                handler.wfile.write(b" " * 16384)
                sent[0] += 16384
        except OSError:
            pass  # the client hung up
        done.set()

    with Provider(endless) as idp:
        with pytest.raises(BackendUnavailableError, match="larger than 65536 bytes"):
            jwks_fetcher(idp.url, allow_http=True, max_bytes=65536)()
        assert done.wait(30)
        assert sent[0] < 1000 * 16384  # it stopped reading: the server could not send it all
    squeezed = gzip.compress(b'{"keys": []}' + b" " * 100_000)
    with (
        Provider(lambda handler: send(handler, squeezed, Content_Encoding="gzip")) as idp,
        pytest.raises(BackendUnavailableError, match="came compressed"),
    ):
        jwks_fetcher(idp.url, allow_http=True)()


def test_a_fetch_in_flight_never_holds_up_a_look_up_of_a_cached_key() -> None:
    """``key_at_hand`` is what the event loop calls (through ``verify_at_hand``); it and a
    ``key_for`` of a cached kid answer while another thread's fetch waits on the provider."""
    known, rotated = Signer.ed25519(), Signer.ed25519()
    gate, documents = threading.Event(), [JwksServer(known).document()]

    def answer(handler: BaseHTTPRequestHandler) -> None:
        if len(documents) > 1:
            gate.wait(30)  # the second fetch hangs until the test lets it go
        send(handler, documents[-1])

    with Provider(answer) as idp:
        keys = JwksKeys.from_url(idp.url, allow_http=True, cooldown=0)
        check = TokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE)
        assert check.verify(token_of(known)).sub == "dora"
        documents.append(JwksServer(known, rotated).document())
        idp.arrived.clear()
        fetching = threading.Thread(target=check.verify, args=(token_of(rotated),))
        fetching.start()
        assert idp.arrived.wait(30)  # the fetch is in flight, held by the provider
        answers: list[object] = []
        looking = threading.Thread(target=lambda: answers.extend([
            check.verify_at_hand(token_of(known)), keys.key_for(known.jwk["kid"]).kid,
        ]))  # fmt: skip
        looking.start()
        looking.join(10)
        finished_while_fetching = not looking.is_alive() and fetching.is_alive()
        gate.set()
        fetching.join(30)
        assert finished_while_fetching
        assert [getattr(answers[0], "sub", None), answers[1]] == ["dora", known.jwk["kid"]]
        assert check.verify(token_of(rotated)).sub == "dora"  # fetched once the gate opened
        with pytest.raises(AuthenticationError):
            check.verify(token_of(Signer.ed25519()))
