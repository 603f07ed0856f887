"""Settings: file, environment, secret files, and every problem reported on its own line."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import create_app
from gateway.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent
GOOD_SECRET = "prod-secret-0123456789abcdef0123456789abcdef"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def problems(environ: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(environ)
    return info.value.problems


def test_dev_config_loads():
    settings = load_settings({"GATEWAY_CONFIG": str(ROOT / "config/dev/gateway.toml")})
    assert settings.mode == "development"
    assert settings.redis.url == "redis://127.0.0.1:6390/0"
    assert settings.scim.tokens == {"cockpit": "dev-only-scim-token-cockpit"}


def test_environment_overrides_file(tmp_path):
    path = write(tmp_path, 'mode = "development"\nsecret_key = "%s"\n[redis]\nurl = "redis://a:1/0"\n' % GOOD_SECRET)
    settings = load_settings({
        "GATEWAY_CONFIG": path, "GATEWAY_REDIS_URL": "redis://b:2/3", "GATEWAY_REDIS_SOCKET_TIMEOUT": "0.25",
        "GATEWAY_REDIS_SENTINELS": "s1:26379, s2:26379", "GATEWAY_SCIM_TOKENS": '{"cockpit": "t"}',
        "GATEWAY_INSECURE_HTTP": "yes",
    })
    assert settings.redis.url == "redis://b:2/3"
    assert settings.redis.socket_timeout == 0.25
    assert settings.redis.sentinels == ("s1:26379", "s2:26379")
    assert settings.scim.tokens == {"cockpit": "t"}
    assert settings.insecure_http is True


def test_plain_redis_url_is_honoured_below_gateway_redis_url():
    env = {"GATEWAY_MODE": "development", "GATEWAY_SECRET_KEY": GOOD_SECRET, "REDIS_URL": "redis://paas:6379/0"}
    assert load_settings(env).redis.url == "redis://paas:6379/0"
    assert load_settings({**env, "GATEWAY_REDIS_URL": "redis://mine:1/0"}).redis.url == "redis://mine:1/0"


def test_secrets_from_files(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(GOOD_SECRET + "\n")
    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"cockpit": "from-file-%s"}' % ("x" * 32))
    path = write(tmp_path, f'public_url = "https://connexion.uness.fr"\nsecret_key_file = "{key_file}"\n')
    settings = load_settings({"GATEWAY_CONFIG": path, "GATEWAY_SCIM_TOKENS_FILE": str(tokens)})
    assert settings.secret_key == GOOD_SECRET
    assert settings.scim.tokens == {"cockpit": "from-file-" + "x" * 32}


def test_every_problem_listed_once_per_line(tmp_path):
    path = write(tmp_path, 'colour = "blue"\npublic_url = "ftp://x"\n[redis]\nport = 1\nsocket_timeout = "slow"\n'
                           '[passwords]\ntime_cost = 0\n')
    found = problems({"GATEWAY_CONFIG": path, "GATEWAY_MODE": "production", "GATEWAY_REDIS_MAX_CONNECTIONS": "many"})
    assert "colour: unknown key" in found
    assert "redis.port: unknown key" in found
    assert "redis.socket_timeout: expected a number, got 'slow' (from config file)" in found
    assert "redis.max_connections: expected an integer, got 'many' (from GATEWAY_REDIS_MAX_CONNECTIONS)" in found
    assert "secret_key: missing (set GATEWAY_SECRET_KEY or secret_key_file)" in found
    assert "passwords.time_cost: must be at least 1" in found
    assert any(p.startswith("public_url: must be an http(s) URL") for p in found)


def test_each_protocols_checks_run_with_the_others_in_one_error(tmp_path):
    """saml/settings.py and oidc/settings.py own their sections' checks; load_settings runs them with the
    rest, once: one ConfigError, each problem on one line, wrong types and bad values of every section."""
    path = write(tmp_path, '[saml]\nclock_skew = 3600\nunknown = 1\n[oidc]\ncode_seconds = 900\n'
                           'issuer = "https://x.fr/"\n')
    found = problems({"GATEWAY_CONFIG": path, "GATEWAY_MODE": "development", "GATEWAY_SECRET_KEY": "short",
                      "GATEWAY_OIDC_ACCESS_TOKEN_SECONDS": "soon"})
    assert sorted(found) == sorted([
        "oidc.access_token_seconds: expected an integer, got 'soon' (from GATEWAY_OIDC_ACCESS_TOKEN_SECONDS)",
        "saml.unknown: unknown key",
        "secret_key: too short (at least 32 characters)",
        "saml.clock_skew: between 0 and 600 seconds",
        "oidc.code_seconds: at most 600 (RFC 6749 §4.1.2)",
        "oidc.issuer: an URL without trailing slash, query or fragment",
    ])


def test_development_secrets_refused_in_production(tmp_path):
    found = problems({
        "GATEWAY_CONFIG": str(ROOT / "config/dev/gateway.toml"), "GATEWAY_MODE": "production",
        "GATEWAY_PUBLIC_URL": "https://connexion.uness.fr", "GATEWAY_INSECURE_HTTP": "false",
    })
    assert "secret_key: a development secret in production mode" in found
    assert "scim.tokens: a development secret in production mode" in found


def test_secret_file_from_dev_folder_refused_in_production(tmp_path):
    dev_file = ROOT / "config" / "dev" / "gateway.toml"  # any file under config/dev
    found = problems({"GATEWAY_MODE": "production", "GATEWAY_PUBLIC_URL": "https://x.fr",
                      "GATEWAY_SECRET_KEY_FILE": str(dev_file)})
    assert any("a development file, in production mode" in p for p in found)


def test_missing_file_and_bad_toml(tmp_path):
    assert problems({"GATEWAY_CONFIG": str(tmp_path / "nope.toml")})[0].startswith("GATEWAY_CONFIG: no such file")
    bad = write(tmp_path, "mode = \n")
    assert "not valid TOML" in problems({"GATEWAY_CONFIG": bad})[0]


def test_production_needs_https():
    found = problems({"GATEWAY_SECRET_KEY": GOOD_SECRET, "GATEWAY_PUBLIC_URL": "http://connexion.uness.fr"})
    assert found == ["public_url: must be https in production mode"]


def test_app_refuses_to_start_with_invalid_configuration():
    with pytest.raises(ConfigError):
        create_app(environ={"GATEWAY_MODE": "production"})


def run_gateway(*args: str, env: dict) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("gateway")
    # PYTHONPATH kept: the command must run the code under test (a worktree), not the installed one
    path = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
    return subprocess.run([str(exe), *args], env={"PATH": "/usr/bin:/bin", **path, **env},
                          capture_output=True, text=True, timeout=60)


def test_check_config_command(tmp_path):
    ok = run_gateway("check-config", env={"GATEWAY_CONFIG": str(ROOT / "config/dev/gateway.toml")})
    assert ok.returncode == 0 and "configuration ok" in ok.stdout
    path = write(tmp_path, 'colour = "blue"\n')
    bad = run_gateway("check-config", env={"GATEWAY_CONFIG": path})
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert "gateway: configuration error: colour: unknown key" in lines
    assert all(line.startswith("gateway: configuration error: ") for line in lines)
    assert "Traceback" not in bad.stderr


def test_check_config_get():
    out = run_gateway("check-config", "--get", "redis.url",
                      env={"GATEWAY_CONFIG": str(ROOT / "config/dev/gateway.toml")})
    assert out.stdout.strip() == "redis://127.0.0.1:6390/0"


def test_wsgi_module_exits_with_the_same_message():
    result = subprocess.run([sys.executable, "-c", "import gateway.wsgi"], env={"GATEWAY_MODE": "production"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 4
    assert "gateway: configuration error: secret_key: missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_a_short_scim_token_in_check_config_and_at_start(tmp_path):
    """A guessable SCIM token is a configuration error in production: check-config exits 1, the app won't start."""
    path = write(tmp_path, f'public_url = "https://connexion.uness.fr"\nsecret_key = "{GOOD_SECRET}"\n'
                           '[scim]\ntokens = { cockpit = "short-token-0123456789" }\n')
    bad = run_gateway("check-config", env={"GATEWAY_CONFIG": path})
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("gateway: configuration error: scim.tokens.cockpit: too short (at least 32")
    assert "short-token" not in bad.stderr  # the token itself is never printed
    with pytest.raises(ConfigError):
        create_app(environ={"GATEWAY_CONFIG": path})
    long_enough = {"GATEWAY_CONFIG": path, "GATEWAY_SCIM_TOKENS": '{"cockpit": "%s"}' % ("k" * 32)}
    assert run_gateway("check-config", env=long_enough).returncode == 0


def test_scim_reach_is_checked_against_tokens_and_configured_scopes():
    env = {"GATEWAY_MODE": "development", "GATEWAY_SECRET_KEY": GOOD_SECRET,
           "GATEWAY_SCIM_TOKENS": '{"cockpit": "t"}', "GATEWAY_SAML_EXTRA_SCOPES": '["univ-lille.fr"]',
           "GATEWAY_SCIM_REACH": '{"cockpit": {"addresses": ["*"], "scopes": ["univ-lille.fr", "univ-paris.fr"]},'
                                 ' "ghost": {"addresses": "x"}}'}
    assert problems(env) == [
        "scim.reach.cockpit.scopes: univ-paris.fr not in saml.scope or saml.extra_scopes",
        "scim.reach.ghost: no token in scim.tokens for this service",
        "scim.reach.ghost.addresses: a list of strings",
    ]
    env["GATEWAY_SCIM_REACH"] = '{"cockpit": {"addresses": ["*.univ-lille.fr"], "scopes": ["univ-lille.fr"]}}'
    assert load_settings(env).saml.scopes == ("uness.fr", "univ-lille.fr")


def test_reading_the_settings_loads_no_protocol_nor_flask():
    """config imports the protocols' settings like any module: in a fresh interpreter, ``import gateway.config``
    (and a settings load) brings in neither the SAML IdP nor the OIDC provider, pysaml2, authlib nor Flask."""
    heavy = ("flask", "saml2", "authlib", "gateway.saml.app", "gateway.saml.views", "gateway.oidc.app",
             "gateway.oidc.provider", "gateway.services", "gateway.jobs")
    code = ("import sys\nfrom gateway.config import load_settings\n"
            "s = load_settings({'GATEWAY_MODE': 'development', 'GATEWAY_SECRET_KEY': 'x' * 40})\n"
            f"print(s.saml.scope, s.oidc.code_seconds, [m for m in {heavy!r} if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["uness.fr", "60", "[]"]
