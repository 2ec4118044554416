"""Image references, ``WWW-Authenticate`` parsing, and the registry client's token flow.

The client is exercised over real HTTP against small registries served on loopback (no mocks):
one that demands a Bearer token from its realm, one that omits ``Docker-Content-Digest`` so the
client must hash the manifest, and one that redirects to another host.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from checkpointctl.gitops.reference import ReferenceError, parse_reference
from checkpointctl.gitops.registry import (
    MANIFEST_TYPES,
    Challenge,
    RegistryClient,
    RegistryError,
    insecure_from_env,
    parse_www_authenticate,
)

DIGEST = "sha256:" + "5" * 64
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPES[3]}).encode()

# --- WWW-Authenticate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/busybox:pull"',
            [
                Challenge(
                    "bearer",
                    {
                        "realm": "https://auth.docker.io/token",
                        "service": "registry.docker.io",
                        "scope": "repository:library/busybox:pull",
                    },
                )
            ],
        ),
        (  # GHCR style: spaces after commas, scope with several actions (a comma inside quotes)
            'Bearer realm="https://ghcr.io/token", service="ghcr.io", '
            'scope="repository:org/app:pull,push"',
            [
                Challenge(
                    "bearer",
                    {
                        "realm": "https://ghcr.io/token",
                        "service": "ghcr.io",
                        "scope": "repository:org/app:pull,push",
                    },
                )
            ],
        ),
        (  # two challenges in one header; unquoted (token) values; scheme case-insensitive
            'Basic realm="Registry Realm", BEARER realm=https://r.example/t,service=r',
            [
                Challenge("basic", {"realm": "Registry Realm"}),
                Challenge("bearer", {"realm": "https://r.example/t", "service": "r"}),
            ],
        ),
        (  # escaped quote and backslash inside a quoted string; parameter names lower-cased
            r'Basic Realm="a \"b\" \\ c"',
            [Challenge("basic", {"realm": 'a "b" \\ c'})],
        ),
        (  # token68 form, then another challenge
            "Negotiate YIIB9wYGKwYBBQUCoIIB==, Basic realm=x",
            [
                Challenge("negotiate", {"token68": "YIIB9wYGKwYBBQUCoIIB=="}),
                Challenge("basic", {"realm": "x"}),
            ],
        ),
        ("Bearer", [Challenge("bearer", {})]),
        ("", []),
        ('Bearer realm="unterminated', [Challenge("bearer", {})]),
    ],
)
def test_parse_www_authenticate(header: str, expected: list[Challenge]) -> None:
    assert parse_www_authenticate(header) == expected


# --- references ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "registry", "path", "name", "tag", "digest"),
    [
        (
            "10.213.0.1:5000/checkpoint/probe:v1",
            "10.213.0.1:5000",
            "checkpoint/probe",
            "10.213.0.1:5000/checkpoint/probe",
            "v1",
            None,
        ),
        (
            f"10.213.0.1:5000/checkpoint/probe:v1@{DIGEST}",
            "10.213.0.1:5000",
            "checkpoint/probe",
            "10.213.0.1:5000/checkpoint/probe",
            "v1",
            DIGEST,
        ),
        (
            f"registry.example.com/a/b@{DIGEST}",
            "registry.example.com",
            "a/b",
            "registry.example.com/a/b",
            None,
            DIGEST,
        ),
        ("busybox:1.36", "docker.io", "library/busybox", "busybox", "1.36", None),
        (
            "docker.io/busybox:1.36",
            "docker.io",
            "library/busybox",
            "docker.io/busybox",
            "1.36",
            None,
        ),
        ("grafana/agent:v0.40.0", "docker.io", "grafana/agent", "grafana/agent", "v0.40.0", None),
        ("localhost:5000/x:latest", "localhost:5000", "x", "localhost:5000/x", "latest", None),
    ],
)
def test_parse_reference(
    text: str, registry: str, path: str, name: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.path, ref.name, ref.tag, ref.digest) == (
        registry,
        path,
        name,
        tag,
        digest,
    )
    assert str(ref) == text


def test_docker_hub_api_host_and_pinned_form() -> None:
    ref = parse_reference("busybox:1.36")
    assert ref.api_host == "registry-1.docker.io"
    assert ref.pinned(DIGEST) == f"busybox:1.36@{DIGEST}"
    assert parse_reference(f"r.example/a@{DIGEST}").pinned(DIGEST) == f"r.example/a@{DIGEST}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        " r.example/a:v1",
        "r.example/A:v1",
        "r.example/a:v1@sha256:abc",
        "r.example/a:-bad",
        "r.example/a@md5:" + "0" * 32,
        "r.example//a",
    ],
)
def test_invalid_references_are_refused(text: str) -> None:
    with pytest.raises(ReferenceError):
        parse_reference(text)


def test_insecure_registries_from_flag_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECKPOINTCTL_INSECURE_REGISTRIES", "a:5000, b:5001")
    assert insecure_from_env(["c:1"]) == {"a:5000", "b:5001", "c:1"}


# --- the client, over HTTP on loopback -------------------------------------------------------

Route = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


class _Server:
    def __init__(self, route: Route) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                outer.requests.append((self.command, self.path, dict(self.headers)))
                status, headers, body = route(self)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = _serve

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.netloc = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Route], _Server]]:
    servers: list[_Server] = []

    def start(route: Route) -> _Server:
        servers.append(_Server(route))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_bearer_token_flow(serve: Callable[[Route], _Server]) -> None:
    netloc = ""

    def route(h: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(h.path)
        if url.path == "/token":
            q = parse_qs(url.query)
            ok = q == {"service": ["lab-registry"], "scope": ["repository:team/probe:pull"]}
            return (200, {}, json.dumps({"token": "t0k"}).encode()) if ok else (400, {}, b"")
        if url.path == "/v2/team/probe/manifests/v1":
            if h.headers.get("Authorization") != "Bearer t0k":
                challenge = (
                    f'Bearer realm="http://{netloc}/token",service="lab-registry",'
                    'scope="repository:team/probe:pull"'
                )
                return 401, {"WWW-Authenticate": challenge}, b""
            accept = h.headers.get("Accept", "")
            if not all(t in accept for t in MANIFEST_TYPES):
                return 406, {}, b""
            return 200, {"Docker-Content-Digest": DIGEST}, MANIFEST
        return 404, {}, b""

    server = serve(route)
    netloc = server.netloc
    client = RegistryClient([netloc])
    ref = parse_reference(f"{netloc}/team/probe:v1")
    assert client.resolve(ref) == DIGEST
    assert [(m, p.split("?")[0]) for m, p, _ in server.requests] == [
        ("HEAD", "/v2/team/probe/manifests/v1"),
        ("GET", "/token"),
        ("HEAD", "/v2/team/probe/manifests/v1"),
    ]
    client.resolve(ref)  # answered from the cache: no more requests
    assert len(server.requests) == 3


def test_credentials_go_to_the_token_realm_as_basic(serve: Callable[[Route], _Server]) -> None:
    netloc = ""

    def route(h: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if h.path.startswith("/token"):
            ok = h.headers.get("Authorization") == "Basic dTpw"  # u:p
            return (200, {}, b'{"access_token": "a"}') if ok else (401, {}, b"")
        if h.headers.get("Authorization") != "Bearer a":
            return 401, {"WWW-Authenticate": f'Bearer realm="http://{netloc}/token"'}, b""
        return 200, {"Docker-Content-Digest": DIGEST}, b""

    server = serve(route)
    netloc = server.netloc
    ref = parse_reference(f"{netloc}/p:v1")
    assert RegistryClient([netloc], credentials=("u", "p")).resolve(ref) == DIGEST
    with pytest.raises(RegistryError, match="wrong credentials"):
        RegistryClient([netloc], credentials=("u", "bad")).resolve(ref)


def test_without_the_digest_header_the_manifest_is_hashed(
    serve: Callable[[Route], _Server],
) -> None:
    server = serve(lambda h: (200, {"Content-Type": MANIFEST_TYPES[3]}, MANIFEST))
    digest = RegistryClient([server.netloc]).resolve(parse_reference(f"{server.netloc}/p:v1"))
    assert digest == "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
    assert [m for m, _, _ in server.requests] == ["HEAD", "GET"]


def test_a_manifest_that_does_not_match_its_stated_digest_is_refused(
    serve: Callable[[Route], _Server],
) -> None:
    def route(h: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        return (200, {} if h.command == "HEAD" else {"Docker-Content-Digest": DIGEST}, MANIFEST)

    server = serve(route)
    with pytest.raises(RegistryError, match="does not match"):
        RegistryClient([server.netloc]).resolve(parse_reference(f"{server.netloc}/p:v1"))


def test_missing_tag_is_named(serve: Callable[[Route], _Server]) -> None:
    server = serve(lambda h: (404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'))
    with pytest.raises(RegistryError, match="tag 'v9' not found"):
        RegistryClient([server.netloc]).resolve(parse_reference(f"{server.netloc}/p:v9"))


def test_plain_http_only_for_insecure_registries(serve: Callable[[Route], _Server]) -> None:
    server = serve(lambda h: (200, {"Docker-Content-Digest": DIGEST}, b""))
    client = RegistryClient()
    assert client.base_url(parse_reference(f"{server.netloc}/p:v1")).startswith("https://")
    other = serve(
        lambda h: (401, {"WWW-Authenticate": 'Bearer realm="http://evil.invalid/t"'}, b"")
    )
    with pytest.raises(RegistryError, match="not HTTPS"):
        RegistryClient([other.netloc]).resolve(parse_reference(f"{other.netloc}/p:v1"))


def test_a_plain_http_registry_is_refused_unless_asked_and_the_error_says_how(
    serve: Callable[[Route], _Server],
) -> None:
    server = serve(lambda h: (200, {"Docker-Content-Digest": DIGEST}, b""))
    ref = parse_reference(f"{server.netloc}/p:v1")
    options = "--insecure (every registry) or --insecure-registry HOST"
    with pytest.raises(RegistryError, match=re.escape(f"ask for that with {options})")):
        RegistryClient(insecure_options=options).resolve(ref)
    assert RegistryClient(insecure_all=True).resolve(ref) == DIGEST
    assert RegistryClient([server.netloc]).resolve(ref) == DIGEST
    # a redirect to plain HTTP names the options too, and is refused
    hop = serve(lambda h: (307, {"Location": f"http://127.0.0.2:1{h.path}"}, b""))
    with pytest.raises(RegistryError, match=re.escape(f"asked for with {options} or")):
        RegistryClient([hop.netloc], insecure_options=options).resolve(
            parse_reference(f"{hop.netloc}/p:v1")
        )


def test_a_redirect_to_another_host_drops_the_token(serve: Callable[[Route], _Server]) -> None:
    target = serve(lambda h: (200, {"Docker-Content-Digest": DIGEST}, b""))
    netloc = ""

    def route(h: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if h.path.startswith("/token"):
            return 200, {}, b'{"token": "secret-token"}'
        if h.headers.get("Authorization") != "Bearer secret-token":
            return 401, {"WWW-Authenticate": f'Bearer realm="http://{netloc}/token"'}, b""
        return 307, {"Location": f"http://{target.netloc}{h.path}"}, b""

    origin = serve(route)
    netloc = origin.netloc
    client = RegistryClient([origin.netloc, target.netloc])
    assert client.resolve(parse_reference(f"{origin.netloc}/p:v1")) == DIGEST
    assert target.requests
    assert all("Authorization" not in hdrs for _, _, hdrs in target.requests)
