"""``python -m bench oidc``: authorization-code flows per second for a signed-in person, against raw signing.

(d) the raw ID-token signing rate: the gateway's own signing call (``Keys.sign``,
    ``cryptography``) with the development keys of config/dev/oidc/keys, one process per
    core, RS256 (what the bench client asks for) and ES256;
(e) whole flows from one connection, then (f) from 16, through gunicorn and Redis::

        GET /oidc/authorize?response_type=code&...&code_challenge=...   (session cookie)
            -> 302 to the client's redirect URI with code, state, iss    (read, never followed)
        POST /oidc/token   (client_secret_basic, code, code_verifier)
            -> 200 JSON with access_token and id_token

Each simulated browser signs in once through the real pages (GET /login, POST
the address, POST the password); every flow after that is SSO. The client is
registered in a clients file of the bench's own (a confidential client, its
redirect URI on 127.0.0.1 that nobody serves). Should the gateway answer
authorize with its "continue" page (it does only right after a sign-in form
POST), the flow takes the URL from its ``Refresh`` header, as a browser would,
and the report counts it.
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import json
import multiprocessing
import secrets
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from gateway.oidc.credentials import hash_secret, new_secret
from gateway.oidc.keys import KeyStore
from gateway.oidc.settings import DEV_KEYS

from . import load, stack
from .meter import CORES, Meter, Usage, monitored, sent_and_scripted

GOAL = 700.0  # flows per second at 16 connections (issue 14: <= 2 ms of CPU per flow on 2 cores)
CPU_GOAL_MS = 2.0  # worker CPU per flow (issue 14)
COMMANDS_GOAL = 8  # Redis commands the gateway sends per flow (one script per step)
CLIENT_ID = "bench-rp"
REDIRECT_URI = "http://127.0.0.1:9/bench/callback"  # the discard port: nobody serves it, nobody goes there
SCOPE = "openid email profile"
PASSWORD = "bench password, not a real one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--oidc-seconds", type=float, default=5.0, help="length of the flows at full concurrency (f)")
    add("--oidc-serial-seconds", type=float, default=3.0, help="length of the flows on one connection (e)")
    add("--sign-seconds", type=float, default=1.5, help="length of each raw signing measure (d)")
    add("--oidc-concurrency", type=int, default=16, help="simulated signed-in browsers running flows (f)")
    add("--oidc-alg", default="RS256", choices=("RS256", "ES256"), help="the bench client's ID token alg")
    add("--oidc-httplib", action="store_true",
        help="flows over http.client (load.Connection) instead of load.RawConnection, to compare")


def progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


# -- (d) raw signing -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SignRate:
    alg: str
    processes: int
    seconds: float
    signatures: int
    rate: float  # signatures per second, all processes together
    cpu_seconds: float

    @property
    def cpu_ms_per_signature(self) -> float:
        return 1000 * self.cpu_seconds / self.signatures


def id_token_claims(now: int) -> dict[str, Any]:
    """What the gateway puts in an ID token of the bench client (grants.id_token_claims + at_hash)."""
    return {"iss": "http://127.0.0.1:8000", "sub": "bench-0000", "aud": CLIENT_ID, "iat": now,
            "exp": now + 600, "auth_time": now - 30, "sid": secrets.token_urlsafe(24), "amr": ["pwd"],
            "nonce": secrets.token_urlsafe(16), "at_hash": secrets.token_urlsafe(16)}


def _sign_for(job: tuple[str, float]) -> tuple[int, float, float]:
    alg, seconds = job
    keys = KeyStore(DEV_KEYS).current()
    claims = id_token_claims(int(time.time()))
    keys.sign(claims, alg)  # warm: key objects, imports
    done, start, cpu = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        keys.sign(claims, alg)
        done += 1
    return done, elapsed, time.process_time() - cpu


def sign_rate(alg: str, seconds: float) -> SignRate:
    """``Keys.sign`` with the dev key in one process per core for ``seconds``; the sum of their rates."""
    with multiprocessing.get_context("fork").Pool(CORES) as pool:
        results = pool.map(_sign_for, [(alg, seconds)] * CORES)
    return SignRate(alg, CORES, seconds, sum(r[0] for r in results), sum(n / t for n, t, _ in results),
                    sum(r[2] for r in results))


# -- (e), (f) flows ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class BenchClient:
    client_id: str
    secret: str
    alg: str

    @property
    def authorization(self) -> str:
        # both URL-safe already: nothing to form-encode first (RFC 6749 §2.3.1)
        raw = f"{self.client_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def toml(self) -> str:
        return "\n".join([
            "[[clients]]", f'client_id = "{self.client_id}"', 'client_name = "make bench"',
            f'secret_hash = "{hash_secret(self.secret)}"', f'redirect_uris = ["{REDIRECT_URI}"]',
            'scopes = ["openid", "profile", "email"]', 'token_endpoint_auth_method = "client_secret_basic"',
            f'id_token_signed_response_alg = "{self.alg}"', ""])


class FlowError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Flow:
    id_token: str
    nonce: str
    continued: bool  # authorize answered with the continue page, not a 302
    authorize: float  # seconds
    token: float


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode("ascii")


def flow(conn: load.Connection | load.RawConnection, cookie: str, client: BenchClient) -> Flow:
    """One authorization-code flow of a signed-in browser and its relying party. Raises FlowError."""
    verifier, state, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    query = urlencode({"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT_URI,
                       "scope": SCOPE, "state": state, "nonce": nonce, "code_challenge": s256(verifier),
                       "code_challenge_method": "S256"}, quote_via=quote)  # scope with %20, not +
    sent = time.perf_counter()
    reply = conn.request("GET", f"/oidc/authorize?{query}", cookie)
    authorized = time.perf_counter()
    continued = reply.status == 200 and "url=" in reply.refresh
    location = reply.refresh.partition("url=")[2] if continued else reply.location
    if not (reply.status == 302 or continued) or not location.startswith(REDIRECT_URI + "?"):
        raise FlowError(f"authorize answered {reply.status} {location or reply.body[:200]!r}")
    params = parse_qs(urlsplit(location).query)
    if params.get("state") != [state] or "code" not in params:
        raise FlowError(f"authorize redirected without a code or with another state: {location!r}")
    answer = conn.request("POST", "/oidc/token", form={
        "grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier}, headers={"Authorization": client.authorization})
    done = time.perf_counter()
    if answer.status != 200:
        raise FlowError(f"token answered {answer.status} {answer.body[:200]!r}")
    id_token = json.loads(answer.body).get("id_token")
    if not id_token:
        raise FlowError(f"token answered without an id_token: {answer.body[:200]!r}")
    return Flow(id_token, nonce, continued, authorized - sent, done - authorized)


def check_id_token(gw: stack.Gateway, found: Flow, client: BenchClient) -> None:
    """The ID token verifies against /oidc/jwks and says what it must (outside the measures)."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    conn = load.Connection(gw.host, gw.port)
    try:
        keys = KeySet.import_key_set(json.loads(conn.request("GET", "/oidc/jwks").body))
    finally:
        conn.close()
    claims = jwt.decode(found.id_token, keys, algorithms=[client.alg]).claims
    expected = {"iss": gw.url, "aud": client.client_id, "nonce": found.nonce}
    wrong = {k: claims.get(k) for k, v in expected.items() if claims.get(k) != v}
    if wrong:
        raise FlowError(f"the ID token says {wrong}, expected {expected}")


@dataclasses.dataclass
class FlowBurst:
    connections: int
    ok: int = 0
    failed: int = 0
    continued: int = 0
    elapsed: float = 0.0
    latencies: list[float] = dataclasses.field(default_factory=list)
    authorize: list[float] = dataclasses.field(default_factory=list)
    token: list[float] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


def flow_burst(gw: stack.Gateway, cookies: list[str], client: BenchClient, seconds: float,
               concurrency: int, httplib: bool = False) -> FlowBurst:
    """Flows from ``concurrency`` connections (one signed-in browser each) for ``seconds``."""
    burst = FlowBurst(concurrency)
    browsers = deque(cookies[:concurrency])
    lock = threading.Lock()
    finished = [0.0]
    start = time.perf_counter()
    deadline = start + seconds

    def work(conn: load.Connection | load.RawConnection) -> None:
        with lock:
            cookie = browsers.popleft()
        while time.perf_counter() < deadline:
            try:
                done = flow(conn, cookie, client)
            except (FlowError, OSError, ValueError) as exc:
                with lock:
                    burst.failed += 1
                    if len(burst.errors) < 3:
                        burst.errors.append(str(exc))
                continue
            with lock:
                burst.ok += 1
                burst.continued += done.continued
                burst.latencies.append(done.authorize + done.token)
                burst.authorize.append(done.authorize)
                burst.token.append(done.token)
                finished[0] = max(finished[0], time.perf_counter())

    load._in_threads(concurrency, gw.host, gw.port, work, load.Connection if httplib else load.RawConnection)
    burst.elapsed = finished[0] - start if finished[0] else 0.0
    return burst


def sign_in_browsers(gw: stack.Gateway, redis_url: str, count: int) -> list[str]:
    """``count`` browsers signed in through the real pages, one account each; their session cookies."""
    emails = stack.create_accounts(redis_url, count, PASSWORD)
    pending = load.prepare(gw.host, gw.port, emails, count, min(count, 8))
    conn = load.Connection(gw.host, gw.port)
    try:
        cookies = [load.post_password(conn, p, PASSWORD) for p in pending]
    finally:
        conn.close()
    if not all(cookies):
        sys.exit(f"bench: a password sign-in failed; the gateway's log:\n{gw.log.read_text()[-3000:]}")
    return [c for c in cookies if c]


@dataclasses.dataclass
class Results:
    signing: dict[str, SignRate]
    serial: FlowBurst
    serial_usage: Usage
    full: FlowBurst
    full_usage: Usage
    gw: stack.Gateway
    client: BenchClient
    #: one flow read with MONITOR: the commands the gateway sent, those its scripts ran
    one_flow: tuple[list[str], list[str]]


def run(args: argparse.Namespace) -> Results:
    signing = {}
    for alg in ("RS256", "ES256"):
        progress(f"(d) raw ID-token signing, {alg} dev key, {CORES} processes for {args.sign_seconds:g} s")
        signing[alg] = sign_rate(alg, args.sign_seconds)
    client = BenchClient(CLIENT_ID, new_secret(), args.oidc_alg)
    with tempfile.TemporaryDirectory(prefix="uness-bench-oidc-") as tmp_dir:
        tmp = Path(tmp_dir)
        clients_file = tmp / "oidc-clients.toml"
        clients_file.write_text(client.toml(), encoding="utf-8")
        extra = {"GATEWAY_OIDC_CLIENTS_FILE": str(clients_file)}
        with stack.private_redis(tmp) as redis_url, \
                stack.gunicorn(redis_url, tmp / "gunicorn.log", args.app, extra) as gw:
            progress(f"signing in {args.oidc_concurrency} browsers "
                     "(GET /login, POST /login, POST /login/password)")
            cookies = sign_in_browsers(gw, redis_url, args.oidc_concurrency)
            conn = load.RawConnection(gw.host, gw.port)
            try:
                check_id_token(gw, flow(conn, cookies[0], client), client)
            except FlowError as exc:
                sys.exit(f"bench: an OIDC flow failed: {exc}\n"
                         f"the gateway's log:\n{gw.log.read_text()[-3000:]}")
            finally:
                conn.close()
            progress("warming up the workers (1 s of flows)")
            flow_burst(gw, cookies, client, 1.0, args.oidc_concurrency, args.oidc_httplib)
            progress(f"(e) flows from 1 connection for {args.oidc_serial_seconds:g} s")
            with Meter(gw, redis_url) as serial_usage:
                serial = flow_burst(gw, cookies, client, args.oidc_serial_seconds, 1, args.oidc_httplib)
            progress(f"(f) flows from {args.oidc_concurrency} connections for {args.oidc_seconds:g} s")
            with Meter(gw, redis_url) as full_usage:
                full = flow_burst(gw, cookies, client, args.oidc_seconds, args.oidc_concurrency,
                                  args.oidc_httplib)
            conn = load.RawConnection(gw.host, gw.port)
            try:
                with monitored(redis_url) as seen:
                    flow(conn, cookies[0], client)
            finally:
                conn.close()
    return Results(signing, serial, serial_usage, full, full_usage, gw, client, sent_and_scripted(seen))


# -- the report -------------------------------------------------------------------------------

def row(name: str, value: str) -> None:
    print(f"  {name:<62} {value:>16}")


def report(args: argparse.Namespace, r: Results) -> None:
    signer = r.signing[r.client.alg]
    print(f"""
  OpenID Connect: authorization-code flows of a signed-in person (authorize -> code -> token)
  client    {r.client.client_id}: confidential, client_secret_basic, PKCE S256, scope "{SCOPE}", \
{r.client.alg} ID tokens
  gunicorn  deploy/gunicorn.conf.py: {r.gw.model}, \
GATEWAY_LIMITS_ENABLED=false
  load      {args.oidc_concurrency} browsers signed in once, then flows over keep-alive connections \
({'http.client' if args.oidc_httplib else 'bench.load.RawConnection'})
""")
    row("measure", "value")
    row("-" * 62, "-" * 16)
    for alg, rate in r.signing.items():
        row(f"(d) raw ID-token signing, {alg} dev key, {rate.processes} processes, {rate.seconds:g} s",
            f"{rate.rate:.0f} /s")
        row("    CPU per signature", f"{rate.cpu_ms_per_signature:.2f} ms")
    for label, burst, usage in (("(e)", r.serial, r.serial_usage), ("(f)", r.full, r.full_usage)):
        ok = burst.ok or 1
        connections = f"{burst.connections} connection{'s' if burst.connections > 1 else ''}"
        row(f"{label} flows, {connections}, {burst.elapsed:.1f} s", f"{burst.rate:.1f} /s")
        if burst is r.full:
            ratio = burst.rate / signer.rate
            row(f"    ratio flows / raw {signer.alg} signing", f"{ratio:.3f}")
            row(f"    goal >= {GOAL:g} flows/s", "OK" if burst.rate >= GOAL else "LOW")
        row("    succeeded / failed", f"{burst.ok} / {burst.failed}")
        row("    authorize answered: 302 / continue page (followed)", f"{burst.ok - burst.continued} / "
            f"{burst.continued}")
        row("    whole flow latency p50 / p99", _ms(load.percentiles(burst.latencies)))
        row("    authorize / token latency p50", f"{load.percentiles(burst.authorize)[0]:.1f} / "
            f"{load.percentiles(burst.token)[0]:.1f} ms")
        row("    per flow: CPU of gunicorn workers", f"{1000 * usage.workers / ok:.2f} ms")
        row("    per flow: CPU of load generator / Redis",
            f"{1000 * usage.bench / ok:.2f} / {1000 * usage.redis / ok:.2f} ms")
        row("    per flow: Redis commands", f"{usage.redis_commands / ok:.1f}")
        shares = (usage.share(usage.workers), usage.share(usage.bench + usage.redis),
                  usage.share(usage.others))
        row("    cores used: workers / load generator + Redis / others", " / ".join(shares))
        for error in burst.errors:
            print(f"    failure: {error}")
    usage, ok = r.full_usage, r.full.ok or 1
    per_flow = 1000 * (usage.workers + usage.bench + usage.redis) / ok
    row("    ratio from CPU: signature / whole flow (idle-host ratio)",
        f"{signer.cpu_ms_per_signature / per_flow:.2f} ({signer.cpu_ms_per_signature:.2f}/{per_flow:.2f})")
    row("    flows/s the cores allow at that CPU per flow", f"{CORES * 1000 / per_flow:.0f} /s")
    row("    goal: worker CPU per flow <= 2 ms", "OK" if 1000 * usage.workers / ok <= CPU_GOAL_MS else "HIGH")
    sent, scripted = r.one_flow
    row("    one flow under MONITOR: commands sent / run by scripts", f"{len(sent)} / {len(scripted)}")
    row(f"    goal: <= {COMMANDS_GOAL} commands sent per flow",
        "OK" if len(sent) <= COMMANDS_GOAL else "HIGH")
    print(f"    sent: {' '.join(sent)}")
    if usage.others / usage.wall / CORES > 0.05:
        print(f"\n  warning: other processes used {usage.share(usage.others)} of the cores during (f):\n"
              "  the measured rate is lower than this host can do alone; the CPU per flow much less so.")


def _ms(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.1f} / {pair[1]:.1f} ms"


def main(args: argparse.Namespace) -> None:
    report(args, run(args))
