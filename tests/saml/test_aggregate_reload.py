"""Under gunicorn's gevent worker, a worker reloading a changed SP aggregate keeps answering (issue 14).

A real gunicorn (``deploy/gunicorn.conf.py``, one gevent worker) loads a signed 2,000-SP aggregate
(10 MB, the bench's) from a local HTTP server; the aggregate then changes, and the test keeps asking
the worker for /healthz over one keep-alive connection until the worker has loaded the new copy. The
worker writes its access lines and the reload's lines from its event loop, in the order things happen
there: requests answered between "fetched ... checking them" and "loaded" were answered while the
reload checked the signature, wrote the cache and indexed the entities. When that work ran on the
event loop (a greenlet, before the fix), nothing could be answered in between.
"""
from __future__ import annotations

import http.client
import json
import os
import time

import pytest

from bench.saml import make_cert, serve_file, write_aggregate
from gateway.saml.sp.aggregates import Aggregate

SPS = 2000


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    """The federation's signing key and certificate (key file, cert file, base64 DER)."""
    return make_cert(tmp_path_factory.mktemp("federation"), "federation")


def last_before(lines: list[str], text: str, end: int) -> int:
    """The index of the last of ``lines[:end]`` containing ``text``."""
    return max(n for n, line in enumerate(lines[:end]) if text in line)


def test_a_gevent_worker_answers_while_it_reloads_a_changed_aggregate(gunicorn, tmp_path, federation):
    key_file, cert_file, cert_b64 = federation
    document = tmp_path / "aggregate.xml"
    write_aggregate(document, SPS, key_file, [cert_b64])
    with serve_file(document) as url:
        table = {"url": url, "cert": str(cert_file), "cache_dir": str(tmp_path / "cache"),
                 "refresh_seconds": 3600}
        server = gunicorn({"GATEWAY_SAML_AGGREGATES": json.dumps([table]),
                           "GATEWAY_SAML_AGGREGATE_CHECK_SECONDS": "1", "GATEWAY_WORKER_CLASS": "gevent"})
        assert f"loaded, {SPS} SP entities" in server.output()  # by the master, before the fork
        write_aggregate(document, SPS + 1, key_file, [cert_b64])  # one SP more
        cache = Aggregate.from_table(table).cache_file
        old = time.time() - 2 * 3600
        os.utime(cache, (old, old))  # stale: the next check of the worker fetches it again
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            for _ in range(3000):  # a request every few ms until the worker has loaded the new copy
                connection.request("GET", "/healthz")
                response = connection.getresponse()
                assert response.status == 200 and response.read()
                if f"loaded, {SPS + 1} SP entities" in server.output():
                    break
                time.sleep(0.005)
            else:
                pytest.fail(f"the worker did not load the changed aggregate:\n{server.output()[-3000:]}")
        finally:
            connection.close()
    lines = server.output().splitlines()
    loaded = next(n for n, line in enumerate(lines) if f"loaded, {SPS + 1} SP entities" in line)
    written = last_before(lines, "refreshed (", loaded)
    fetched = last_before(lines, "bytes, checking them", written)
    # answered while the new copy's signature was checked and the copy written, then while it was indexed
    for window in (lines[fetched + 1:written], lines[written + 1:loaded]):
        assert any('"GET /healthz' in line for line in window), "\n".join(lines[fetched:loaded + 1])
