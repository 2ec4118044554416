"""HTTP sources fetched conditionally: the agent sends the kept bundle's ``ETag`` back as
``If-None-Match`` and an unchanged bundle costs a 304 without a body.

The server is a small one on loopback, started here, that honours ``If-None-Match`` as any
web server or object store does.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from checkpointctl.trust.fetch import ConditionalHttpSource, FetchError, fetch_http


@dataclass
class Served:
    body: bytes = b"bundle-1"
    etags: bool = True
    answers: list[int] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[tuple[str, Served]]:
    served = Served()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            etag = '"' + hashlib.sha256(served.body).hexdigest()[:16] + '"'
            if served.etags and self.headers.get("If-None-Match") == etag:
                served.answers.append(304)
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            served.answers.append(200)
            self.send_response(200)
            if served.etags:
                self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(served.body)))
            self.end_headers()
            self.wfile.write(served.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/fleet.cpb", served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_an_unchanged_bundle_costs_a_304(server: tuple[str, Served], tmp_path: Path) -> None:
    url, served = server
    fetcher = ConditionalHttpSource(str(tmp_path))
    assert [fetcher(url) for _ in range(3)] == [b"bundle-1"] * 3
    assert served.answers == [200, 304, 304]
    served.body = b"bundle-2"
    assert fetcher(url) == b"bundle-2"
    assert fetcher(url) == b"bundle-2"
    assert served.answers == [200, 304, 304, 200, 304]


def test_a_damaged_cache_is_fetched_in_full(server: tuple[str, Served], tmp_path: Path) -> None:
    url, served = server
    assert ConditionalHttpSource(str(tmp_path))(url) == b"bundle-1"
    (tmp_path / "source-bundle.cpb").write_bytes(b"tampered")
    assert ConditionalHttpSource(str(tmp_path))(url) == b"bundle-1"
    assert served.answers == [200, 200]  # no If-None-Match for a cache that does not verify


def test_a_server_without_etags_is_fetched_each_run(
    server: tuple[str, Served], tmp_path: Path
) -> None:
    url, served = server
    served.etags = False
    fetcher = ConditionalHttpSource(str(tmp_path))
    assert [fetcher(url) for _ in range(2)] == [b"bundle-1"] * 2
    assert served.answers == [200, 200]
    assert not (tmp_path / "source-bundle.cpb").exists()


def test_fetch_http_refuses_other_schemes() -> None:
    with pytest.raises(FetchError, match="not an https"):
        fetch_http("ftp://example.invalid/x")
