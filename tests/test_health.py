"""GET /healthz reports Redis reachability, never a stack trace."""
from __future__ import annotations

from tests.conftest import RedisServer, make_app


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "redis": "ok"}


def test_healthz_follows_redis_down_and_back(base_config, tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    app = make_app({**base_config, "redis": {"url": server.url}})
    client = app.test_client()
    try:
        assert client.get("/healthz").status_code == 200
        server.stop()
        down = client.get("/healthz")
        assert down.status_code == 503
        assert down.get_json() == {"status": "unavailable", "redis": "unreachable"}
        server.start()
        back = client.get("/healthz")
        assert back.status_code == 200
        assert back.get_json() == {"status": "ok", "redis": "ok"}
    finally:
        server.stop()
