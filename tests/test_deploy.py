"""deploy/: the systemd units, the nginx site, the Redis snippet and gunicorn's settings hold together.

The units name commands that exist, read secrets the configuration knows, and
run with the example configuration; gunicorn's settings load, take the client's
address from the proxy, and serve the real app; nginx's site passes ``nginx -t``
(when nginx is installed); redis-server accepts the Redis snippet.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
from gunicorn.config import Config

from gateway.config import Settings, _secret_values
from tests.conftest import Gunicorn, RedisServer, free_port
from tests.helpers.servers import gunicorn_environ

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
INSTALL_DIR = "/opt/uness-gateway"  # where the units expect the source tree
BIN = Path(sys.executable).parent
GOOD_SECRET = "prod-secret-0123456789abcdef0123456789abcdef"


# -- systemd units -------------------------------------------------------------------

def read_unit(name: str, *, commented: bool = False) -> dict[str, list[tuple[str, str]]]:
    """Sections -> (key, value) pairs, repeated keys kept. ``commented`` also reads ``#Key=value`` lines."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for number, raw in enumerate((UNITS / name).read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if commented and re.match(r"#[A-Z][A-Za-z]+=", line):
            line = line[1:]
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            assert current not in sections, f"{name}:{number}: section [{current}] twice"
            sections[current] = []
            continue
        key, sep, value = line.partition("=")
        assert current and sep and key and key == key.strip(), f"{name}:{number}: not Key=value: {raw!r}"
        # systemd has no inline comments: a " #" would become part of the value.
        assert " #" not in value, f"{name}:{number}: inline comment"
        sections[current].append((key, value))
    return sections


def values(unit: dict, key: str, section: str = "Service") -> list[str]:
    return [v for k, v in unit[section] if k == key]


def environment(unit: dict) -> dict[str, str]:
    return dict(v.split("=", 1) for v in values(unit, "Environment"))


def repo_path(path: str) -> Path:
    """An /opt/uness-gateway/... path of a unit -> the same file in this checkout."""
    assert path.startswith(INSTALL_DIR + "/"), path
    return ROOT / path.removeprefix(INSTALL_DIR + "/")


def secret_file_variables() -> set[str]:
    """GATEWAY_<KEY>_FILE for every secret setting (the variables config.load_settings reads)."""
    return {"GATEWAY_" + key.replace(".", "_").upper() + "_FILE" for key, _ in _secret_values(Settings())}


@pytest.mark.parametrize("name", ["uness-gateway.service", "uness-gateway-mail.service"])
def test_unit_runs_as_its_user_with_configuration_and_hardening(name):
    unit = read_unit(name)
    assert set(unit) == {"Unit", "Service", "Install"}
    assert values(unit, "User") == ["uness-gateway"]
    assert values(unit, "WorkingDirectory") == [INSTALL_DIR]
    assert environment(unit)["GATEWAY_CONFIG"] == "/etc/uness-gateway/gateway.toml"
    assert [v.lstrip("-") for v in values(unit, "EnvironmentFile")] == ["/etc/uness-gateway/env"]
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                       ("ProtectHome", "yes"), ("CapabilityBoundingSet", "")]:
        assert values(unit, key) == [value], key
    assert values(unit, "WantedBy", "Install") == ["multi-user.target"]


def test_web_unit_starts_gunicorn_with_the_deploy_settings_and_the_wsgi_app():
    unit = read_unit("uness-gateway.service")
    [exec_start] = values(unit, "ExecStart")
    program, *args = shlex.split(exec_start)
    assert program == f"{INSTALL_DIR}/.venv/bin/gunicorn"
    assert (BIN / "gunicorn").exists()
    assert args[:2] == ["-c", f"{INSTALL_DIR}/deploy/gunicorn.conf.py"]
    assert repo_path(args[1]).is_file()
    assert args[2:] == ["gateway.wsgi:app"]
    module, _, attribute = args[2].partition(":")
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    assert re.search(rf"^\s*{attribute} = ", Path(spec.origin).read_text(), re.MULTILINE)
    # gunicorn exits 4 on a configuration error (see below): not restarted in a loop.
    assert values(unit, "RestartPreventExitStatus") == ["4"]


def test_mail_unit_runs_the_mail_worker_command():
    unit = read_unit("uness-gateway-mail.service")
    [exec_start] = values(unit, "ExecStart")
    program, *args = shlex.split(exec_start)
    assert program == f"{INSTALL_DIR}/.venv/bin/gateway"
    assert args == ["mail-worker"]
    [entry_point] = [ep for ep in importlib.metadata.entry_points(group="console_scripts")
                     if ep.name == "gateway"]
    assert entry_point.value == "gateway.cli:main"
    result = subprocess.run([str(BIN / "gateway"), *args, "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Deliver queued mail" in result.stdout


#: The secrets every deployment may need; the units offer each (commented out when optional).
CORE_SECRETS = {"GATEWAY_SECRET_KEY_FILE", "GATEWAY_REDIS_URL_FILE", "GATEWAY_REDIS_SENTINEL_PASSWORD_FILE",
                "GATEWAY_SCIM_TOKENS_FILE", "GATEWAY_MAIL_PASSWORD_FILE"}


def test_units_read_secrets_from_credentials():
    known = secret_file_variables()
    assert CORE_SECRETS <= known
    web = read_unit("uness-gateway.service", commented=True)
    mail = read_unit("uness-gateway-mail.service", commented=True)
    for unit in (web, mail):
        credentials = dict(v.split(":", 1) for v in values(unit, "LoadCredential"))
        files = {k: v for k, v in environment(unit).items() if k.endswith("_FILE")}
        assert CORE_SECRETS <= set(files) <= known  # no variable the configuration would ignore
        for variable, path in files.items():
            name = path.removeprefix("%d/")
            assert path == f"%d/{name}" and name in credentials, variable
            assert credentials[name] == f"/etc/uness-gateway/credentials/{name}"
    # The mail worker loads the same configuration: the same secrets, uncommented alike.
    assert values(read_unit("uness-gateway.service"), "LoadCredential") == \
        values(read_unit("uness-gateway-mail.service"), "LoadCredential")
    assert environment(read_unit("uness-gateway.service"))["GATEWAY_SECRET_KEY_FILE"] == "%d/secret_key"


def test_example_configuration_with_the_units_credentials_is_a_valid_production_configuration(tmp_path):
    """What the units give the gateway: GATEWAY_CONFIG and GATEWAY_*_FILE in $CREDENTIALS_DIRECTORY."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "secret_key").write_text(GOOD_SECRET + "\n")
    (credentials / "scim_tokens").write_text('{"cockpit": "prod-token-0123456789abcdefghijklmnopqrstuv"}\n')
    (credentials / "mail_password").write_text("smtp password\n")
    env = {"PATH": os.environ["PATH"], "GATEWAY_CONFIG": str(ROOT / "config/gateway.example.toml")}
    if "PYTHONPATH" in os.environ:  # a worktree's code checks its own example file
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    for variable, path in environment(read_unit("uness-gateway.service", commented=True)).items():
        if variable.endswith("_FILE") and (credentials / path.removeprefix("%d/")).exists():
            env[variable] = str(credentials / path.removeprefix("%d/"))
    gateway = str(BIN / "gateway")
    check = subprocess.run([gateway, "check-config"], env=env, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert "mode production" in check.stdout
    got = subprocess.run([gateway, "check-config", "--get", "mail.password"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert got.stdout.strip() == "smtp password"


def test_units_pass_systemd_analyze_verify(tmp_path):
    """``systemd-analyze verify`` on copies pointing at this checkout (skipped without systemd-analyze)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the units are checked by the tests above only")
    copies = []
    for unit in sorted(UNITS.glob("*.service")):
        copy = tmp_path / unit.name
        text = unit.read_text().replace(f"{INSTALL_DIR}/.venv/bin", str(BIN))
        copy.write_text(text.replace(INSTALL_DIR, str(ROOT)))
        copies.append(str(copy))
    result = subprocess.run([analyze, "verify", "--man=no", *copies],
                            capture_output=True, text=True, timeout=120)
    ours = [line for line in result.stderr.splitlines()
            if "uness-gateway" in line and "Failed to parse system call" not in line]  # libseccomp vs systemd
    assert result.returncode == 0 and not ours, result.stderr


def test_example_configuration_documents_every_key():
    """Each key of config/gateway.example.toml's sections appears there, set or commented out."""
    import dataclasses

    text = (ROOT / "config/gateway.example.toml").read_text(encoding="utf-8")
    parts = re.split(r"^\[(\w+)\]\s*$", text, flags=re.MULTILINE)
    sections = {"": parts[0], **dict(zip(parts[1::2], parts[2::2]))}
    missing = []
    for f in dataclasses.fields(Settings):
        if f.metadata.get("internal"):
            continue
        if dataclasses.is_dataclass(f.type) or f.name in sections:
            keys = [(f.name, g.name) for g in dataclasses.fields(getattr(Settings(), f.name))]
        else:
            keys = [("", f.name)]
        for section, key in keys:
            if not re.search(rf"^#? ?{key}(_file)? = ", sections.get(section, ""), re.MULTILINE):
                missing.append(f"{section}.{key}" if section else key)
    assert missing == []


# -- gunicorn ----------------------------------------------------------------------------

def load_gunicorn_conf() -> dict:
    namespace: dict = {"__file__": str(DEPLOY / "gunicorn.conf.py"), "__name__": "__config__"}
    path = DEPLOY / "gunicorn.conf.py"
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


def exchange(path: str, agent: str = "rp/1.0") -> tuple:
    """(response, request, environ, request_time) as gunicorn hands them to its access logger."""
    environ = {"REMOTE_ADDR": "198.51.100.7", "REQUEST_METHOD": "POST", "PATH_INFO": path,
               "RAW_URI": path + "?code=123456", "QUERY_STRING": "code=123456", "SERVER_PROTOCOL": "HTTP/1.1",
               "HTTP_USER_AGENT": agent, "HTTP_AUTHORIZATION": "Basic cnAtYmFzaWM6c2VjcmV0"}
    request = types.SimpleNamespace(headers=[("USER-AGENT", agent), ("AUTHORIZATION", "Basic x")])
    response = types.SimpleNamespace(status="200 OK", sent=1234,
                                     headers=[("Content-Type", "application/json")])
    return response, request, environ, datetime.timedelta(seconds=0, microseconds=2345)


@pytest.mark.parametrize("path", ["/oidc/token", "/reset/secret-reset-token-0123456789"])
def test_the_access_line_is_the_one_gunicorns_own_atoms_give(path):
    """deploy/gunicorn.conf.py computes only the atoms of its format: the line is unchanged (but
    for the reset token, redacted), including for a client authenticating with HTTP Basic."""
    from gunicorn.glogging import Logger, SafeAtoms

    conf = load_gunicorn_conf()
    cfg = Config()
    cfg.set("access_log_format", conf["access_log_format"])
    logger = conf["AccessLog"](cfg)
    response, request, environ, took = exchange(path)
    ours = cfg.access_log_format % SafeAtoms(logger.atoms(response, request, environ, took))
    theirs = cfg.access_log_format % SafeAtoms(Logger.atoms(logger, response, request, environ, took))
    assert ours == theirs.replace("/reset/secret-reset-token-0123456789", "/reset/[redacted]")
    assert ours.startswith(f'198.51.100.7 "POST {path.split("/secret")[0]}')
    assert '" 200 1234 0.002345s "rp/1.0"' in ours


@pytest.mark.parametrize("path", ["/oidc/token", "/reset/secret-reset-token-0123456789"])
def test_the_access_line_written_directly_is_gunicorns(tmp_path, path):
    """With gunicorn's handler alone on the access logger, as in production, the line is written without a
    LogRecord; it is the line logging writes when another handler listens (quotes escaped, token redacted)."""
    conf = load_gunicorn_conf()
    cfg = Config()
    cfg.set("access_log_format", conf["access_log_format"])
    cfg.set("accesslog", str(tmp_path / "access.log"))
    access = logging.getLogger("gunicorn.access")
    others = [h for h in access.handlers if not getattr(h, "_gunicorn", False)]  # pytest's, for this phase
    for handler in others:
        access.removeHandler(handler)
    factory, made = logging.getLogRecordFactory(), []
    logging.setLogRecordFactory(lambda *a, **k: made.append(1) or factory(*a, **k))
    try:
        logger = conf["AccessLog"](cfg)
        logger.access(*exchange(path, agent='rp "1.0"'))
        assert made == []  # written directly
        listener = logging.NullHandler()
        access.addHandler(listener)
        logger.access(*exchange(path, agent='rp "1.0"'))
        access.removeHandler(listener)
        assert made == [1]  # through logging
    finally:
        logging.setLogRecordFactory(factory)
        for handler in [h for h in access.handlers if getattr(h, "_gunicorn", False)]:
            access.removeHandler(handler)
            handler.close()
        for handler in others:
            access.addHandler(handler)
    direct, through_logging = (tmp_path / "access.log").read_text().splitlines()
    assert direct == through_logging
    assert direct.startswith(f'198.51.100.7 "POST {path.split("/secret")[0]}')
    assert direct.endswith('" 200 1234 0.002345s "rp \\"1.0\\""') and "secret-reset-token" not in direct


def test_gunicorn_conf_loads_with_bind_from_the_environment(monkeypatch):
    monkeypatch.setenv("GATEWAY_BIND", "127.0.0.1:18123")
    monkeypatch.setenv("GATEWAY_WORKERS", "3")
    monkeypatch.setenv("GATEWAY_WORKER_CONNECTIONS", "400")
    conf = load_gunicorn_conf()
    assert (conf["bind"], conf["workers"], conf["worker_connections"]) == ("127.0.0.1:18123", 3, 400)
    assert conf["worker_class"] == "gevent" and conf["preload_app"] is True
    monkeypatch.setenv("GATEWAY_WORKER_CLASS", "gthread")
    monkeypatch.setenv("GATEWAY_THREADS", "4")
    assert (load_gunicorn_conf()["worker_class"], load_gunicorn_conf()["threads"]) == ("gthread", 4)
    assert "%(q)s" not in conf["access_log_format"]  # query strings carry codes and tokens
    # every setting is one gunicorn knows
    settings = Config().settings
    unknown = [k for k, v in conf.items() if not k.startswith("_") and not k.isupper() and k not in settings
               and not isinstance(v, (type, types.ModuleType))]
    assert unknown == []


def test_gunicorn_conf_defaults_to_the_address_nginx_proxies_to(monkeypatch):
    for name in ("GATEWAY_BIND", "GATEWAY_FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    conf = load_gunicorn_conf()
    assert conf["bind"] == "127.0.0.1:8000"
    assert conf["forwarded_allow_ips"] == "127.0.0.1"
    assert "proxy_pass http://uness_gateway;" in NGINX.read_text()
    assert re.search(r"upstream uness_gateway \{\s*server 127\.0\.0\.1:8000;", NGINX.read_text())


def _wrapped(trusted: str):
    """``call(peer, x_forwarded_for)`` -> the REMOTE_ADDR the app sees behind the worker hook."""
    conf = load_gunicorn_conf()
    config = Config()
    config.set("forwarded_allow_ips", trusted)
    seen = {}

    def app(environ, start_response):
        seen["addr"] = environ["REMOTE_ADDR"]
        return []

    worker = types.SimpleNamespace(wsgi=app, cfg=config)
    conf["post_worker_init"](worker)

    def call(peer, forwarded=None):
        environ = {"REMOTE_ADDR": peer}
        if forwarded:
            environ["HTTP_X_FORWARDED_FOR"] = forwarded
        worker.wsgi(environ, None)
        return seen["addr"]

    return call


def test_client_address_is_taken_from_a_trusted_proxy_only():
    call = _wrapped("127.0.0.1,10.0.0.0/8")
    assert call("127.0.0.1", "198.51.100.7") == "198.51.100.7"
    assert call("10.1.2.3", "2001:db8::1") == "2001:db8::1"
    # what a client wrote before the proxy's own value is ignored
    assert call("127.0.0.1", "203.0.113.66, 198.51.100.7") == "198.51.100.7"
    assert call("127.0.0.1") == "127.0.0.1"
    assert call("127.0.0.1", "not-an-address") == "127.0.0.1"
    # a direct client cannot choose its address
    assert call("192.0.2.10", "198.51.100.7") == "192.0.2.10"


def _one_answer(sock: socket.socket) -> bytes:
    """One HTTP answer read from ``sock`` (headers, then Content-Length bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    assert body[length:] == b"", "one answer at a time"
    return head


def test_under_gevent_a_connection_with_requests_queued_does_not_hold_back_another(gunicorn):
    """One gevent worker; connection A sends 40 requests at once (pipelined), and once its first
    answer is back, connection B sends one: B is answered while A's are still being answered, not after
    the 40 (each request gives the worker's event loop one pass, ``pre_request``; without it the worker
    ran A's queue to its end, none of its requests having to wait for anything)."""
    server = gunicorn()
    request = b"GET /oidc/jwks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"  # no Redis: nothing to wait for
    a, b = (socket.create_connection(("127.0.0.1", server.port), timeout=20) for _ in range(2))
    with a, b:
        for sock in (a, b):  # both accepted, served once, idle
            sock.sendall(request)
            assert _one_answer(sock).startswith(b"HTTP/1.1 200")
        a.sendall(request * 40)
        assert _one_answer(a).startswith(b"HTTP/1.1 200")  # the worker is on A's queue now
        b.sendall(request)
        assert _one_answer(b).startswith(b"HTTP/1.1 200")
        a.setblocking(False)
        written = b""
        try:
            while chunk := a.recv(1 << 20):
                written += chunk
        except BlockingIOError:
            pass
        assert written.count(b"HTTP/1.1 200") < 39  # A's answers written before B's (after the first)


def test_client_address_verdicts_stay_the_same_once_remembered():
    """Each peer's verdict and each forwarded address are remembered (behind nginx every request asks):
    asked again, in any order, and past the peers remembered, each gets the same answer."""
    call = _wrapped("127.0.0.1")
    for _ in range(3):
        assert call("192.0.2.10", "198.51.100.7") == "192.0.2.10"
        assert call("127.0.0.1", "198.51.100.7") == "198.51.100.7"
        assert call("127.0.0.1", "not-an-address") == "127.0.0.1"
    for host in range(1, 101):  # more direct clients than the peers remembered
        assert call(f"203.0.113.{host}", "198.51.100.7") == f"203.0.113.{host}"
    assert call("127.0.0.1", "2001:DB8::0:1") == "2001:db8::1"
    assert call("203.0.113.100", "198.51.100.7") == "203.0.113.100"


def test_gunicorn_serves_the_app_and_logs_the_client_behind_the_proxy(redis_server: RedisServer, tmp_path):
    env = {"GATEWAY_SECRET_KEY": GOOD_SECRET, "GATEWAY_THREADS": "2",
           "XDG_RUNTIME_DIR": str(tmp_path)}  # where a control socket would go
    with Gunicorn(redis_server.url, tmp_path / "gunicorn.log", env) as server:
        request = urllib.request.Request(f"{server.url}/healthz", headers={"X-Forwarded-For": "198.51.100.7"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.read() == b'{"redis":"ok","status":"ok"}\n'
        reset = f"{server.url}/reset/secret-reset-token-0123456789?code=123456"
        with pytest.raises(urllib.error.HTTPError):  # 410: no such token
            urllib.request.urlopen(reset, timeout=5)
    log = server.output()
    access = [line for line in log.splitlines() if '"GET /healthz' in line]
    assert access[0].startswith('127.0.0.1 "GET /healthz HTTP/1.1" 200'), log  # the launcher's probe: direct
    assert access[-1].startswith('198.51.100.7 "GET /healthz HTTP/1.1" 200'), log  # behind the proxy
    assert [line for line in log.splitlines() if '"GET /reset/[redacted] HTTP/1.1" 410' in line]
    assert "secret-reset-token" not in log and "123456" not in log
    # gunicorn logs "Control socket listening at <path>" when it opens one (gunicornc: scale, reload, stop)
    assert "Control socket" not in log and not (tmp_path / "gunicorn.ctl").exists()


def test_gunicorn_control_socket_is_off():
    """gunicorn >= 25.1 opens a control socket (gunicornc: scale, reload, stop) unless told not to."""
    conf = load_gunicorn_conf()
    config = Config()
    for name, value in conf.items():
        if name in config.settings:
            config.set(name, value)
    assert config.control_socket_disable is True


def test_gunicorn_stops_with_status_4_on_a_configuration_error(tmp_path):
    env = gunicorn_environ(GATEWAY_BIND=f"127.0.0.1:{free_port()}", GATEWAY_MODE="production",
                           GATEWAY_WORKERS="1", GATEWAY_THREADS="2", XDG_RUNTIME_DIR=str(tmp_path))
    result = subprocess.run([str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "gateway.wsgi:app"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 4
    assert "gateway: configuration error: secret_key: missing" in result.stderr
    assert "Traceback" not in result.stderr


# -- nginx ----------------------------------------------------------------------------------

NGINX = DEPLOY / "nginx" / "uness-gateway.conf"


def nginx_directives() -> list[str]:
    """The file's statements, comments removed, whitespace collapsed."""
    text = "\n".join(line.split("#", 1)[0] for line in NGINX.read_text().splitlines())
    return [" ".join(s.split()) for s in re.split(r"[;{}]", text) if s.strip()]


def test_nginx_site_sets_what_gunicorn_and_the_gateway_rely_on():
    text = "\n".join(line.split("#", 1)[0] for line in NGINX.read_text().splitlines())
    assert text.count("{") == text.count("}")
    directives = nginx_directives()
    assert "proxy_set_header X-Forwarded-For $remote_addr" in directives
    assert "proxy_set_header X-Forwarded-Proto $scheme" in directives
    assert "client_max_body_size 1m" in directives
    assert not [d for d in directives if "strict-transport-security" in d.lower()]  # the gateway sets HSTS
    assert re.search(r"location = /healthz \{\s*access_log off;", text)
    # the log line: no query string ($request, $request_uri, $args), no reset token (/reset/<token>)
    log_format = text.split("log_format", 1)[1].split(";", 1)[0]
    assert not re.search(r"\$(request|request_uri|args|query_string|uri|http_referer)\b", log_format)
    assert "$uness_gateway_logged_path" in log_format
    assert re.search(r"map \$uri \$uness_gateway_logged_path \{\s*~\^/reset/\s+/reset/\[redacted\];", text)


NGINX_NODES = DEPLOY / "nginx" / "uness-gateway-nodes.conf"
UPSTREAM = re.compile(r"^upstream uness_gateway \{.*?^\}\n", re.S | re.M)


def site_with_nodes() -> str:
    """The site with its upstream replaced by the two-node one, as uness-gateway-nodes.conf says."""
    site = NGINX.read_text()
    assert len(UPSTREAM.findall(site)) == 1 and len(UPSTREAM.findall(NGINX_NODES.read_text())) == 1
    return UPSTREAM.sub(lambda _: UPSTREAM.search(NGINX_NODES.read_text()).group(0), site)


def test_nginx_upstream_for_two_nodes_balances_without_stickiness():
    """Several nodes (README): two servers, no affinity (every node answers every step), and a POST is
    never retried on another node (proxy_next_upstream left at its default)."""
    text = "\n".join(line.split("#", 1)[0] for line in site_with_nodes().splitlines())
    block = UPSTREAM.search(text + "\n").group(0)
    servers = re.findall(r"^\s*server (\S+)", block, re.M)
    assert servers == ["10.0.0.11:8000", "10.0.0.12:8000"]
    assert not re.search(r"\b(ip_hash|hash|sticky)\b", block)
    assert "proxy_next_upstream" not in text and "proxy_pass http://uness_gateway;" in text
    assert text.count("{") == text.count("}")


@pytest.mark.parametrize("nodes", ["one node", "two nodes"])
def test_nginx_accepts_the_site(tmp_path, nodes):
    """``nginx -t`` on the site with a throw-away certificate (`make test` installs nginx; skipped without it)."""
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if nginx is None:
        pytest.skip("nginx is not installed (`make test` installs it, as root): `nginx -t` syntax check skipped")
    cert, key = _self_signed_certificate(tmp_path)
    site = NGINX.read_text() if nodes == "one node" else site_with_nodes()
    site = re.sub(r"/etc/letsencrypt/live/[^;]*/fullchain\.pem", str(cert), site)
    site = re.sub(r"/etc/letsencrypt/live/[^;]*/privkey\.pem", str(key), site)
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connexion.uness.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


# -- Redis ------------------------------------------------------------------------------------

def test_redis_snippet_is_accepted_by_redis_server(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run `make test`, which installs it")
    port = free_port()
    process = subprocess.Popen(
        [binary, str(DEPLOY / "redis" / "redis-gateway.conf"), "--port", str(port), "--dir", str(tmp_path),
         "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, decode_responses=True)
    try:
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert process.poll() is None, "redis-server refused deploy/redis/redis-gateway.conf"
                time.sleep(0.02)
        config = {k: v for name in ("appendonly", "appendfsync", "maxmemory-policy")
                  for k, v in client.config_get(name).items()}
        assert config == {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}
    finally:
        client.close()
        process.terminate()
        process.wait(10)
