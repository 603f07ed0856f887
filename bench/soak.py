"""``make soak`` (``python -m bench.soak``): mixed traffic at a steady rate, for long, on the real stack.

The stack is the bench's (bench/stack.py): a private redis-server, gunicorn with
``deploy/gunicorn.conf.py`` and the production limits, the job worker
(``gateway mail-worker``) and an SMTP sink, all on loopback. The traffic, at
``--rate`` operations per second from a pool of browsers and services:

* ``signin``  -- ``GET /login``, the address, the password: a new signed-in session;
* ``sso``     -- SAML SSO of a signed-in person (HTTP-Redirect AuthnRequest -> auto-POST page);
* ``oidc``    -- an authorization-code flow (authorize -> code -> token) of a signed-in person;
* ``account`` -- ``GET /account`` of a signed-in person;
* ``scim``    -- SCIM writes: ``POST /scim/v2/Users``, then ``PATCH`` of its displayName.

It prints, per minute: requests, errors by kind, latency p50/p95/p99 of each
operation, the gunicorn workers' memory; then the Rss of the master, of each
worker and of the job worker at start and end, and Redis ``used_memory``. It
exits 1 on any error, or when worker memory or a p95 grew beyond the
thresholds (from the end of the first minute, once warm, to the end).

``SOAK_MINUTES`` (30 by default) or ``SOAK_SECONDS`` set the length, ``SOAK_RATE`` the rate.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import json
import os
import queue
import random
import re
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import redis

from gateway.mail.sink import SmtpServer

from . import argon, load, oidc, saml, stack
from .meter import CORES

KINDS = ("signin", "sso", "oidc", "account", "scim")
#: One cycle of the traffic: SSO, OIDC and account pages outnumber sign-ins, SCIM writes are rarer.
MIX = ("sso", "account", "oidc", "signin", "sso", "account", "oidc", "scim",
       "sso", "account", "oidc", "signin")
PASSWORD = argon.PASSWORD
SCIM_CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
SCIM_PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_ADDRESS = re.compile(r"\S+@\S+")


def parse(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ
    minutes = float(env.get("SOAK_MINUTES", 30))
    seconds = float(env["SOAK_SECONDS"]) if env.get("SOAK_SECONDS") else 60 * minutes
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--seconds", type=float, default=seconds, help="length of the soak (SOAK_MINUTES, SOAK_SECONDS)")
    add("--rate", type=float, default=float(env.get("SOAK_RATE", 20)),
        help="operations per second (SOAK_RATE)")
    add("--row-seconds", type=float, default=60.0, help="length of a report row (a minute)")
    add("--browsers", type=int, default=32, help="accounts, and signed-in browsers kept")
    add("--threads", type=int, default=8, help="load generator threads (operations in flight at most)")
    add("--max-memory-growth", type=float, default=0.20,
        help="largest growth of a worker's Rss from the end of the first row to the end (0.20 = 20 %%)")
    add("--max-latency-growth", type=float, default=2.0,
        help="largest ratio of an operation's p95, last row over first row (and at least 50 ms more)")
    add("--no-growth-check", action="store_true", help="report growth, never fail on it (short runs)")
    add("--app", default=stack.APP, help="the WSGI app gunicorn serves")
    return parser.parse_args(argv)


def progress(text: str) -> None:
    print(f"soak: {text}", file=sys.stderr, flush=True)


# -- what is measured ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Row:
    requests: int = 0
    operations: int = 0
    errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    latencies: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: {kind: [] for kind in KINDS})
    worker_rss: float = 0.0  # MiB, all workers, when the row ended


class Recorder:
    """Operations and errors by row (``row_seconds`` each since ``start``); thread-safe."""

    def __init__(self, start: float, row_seconds: float, rows: int) -> None:
        self.start, self.row_seconds = start, row_seconds
        self.rows = [Row() for _ in range(rows)]
        self._lock = threading.Lock()

    def row(self, when: float) -> Row:
        return self.rows[min(len(self.rows) - 1, max(0, int((when - self.start) // self.row_seconds)))]

    def record(self, kind: str, began: float, requests: int, error: str | None) -> None:
        ended = time.perf_counter()
        with self._lock:
            row = self.row(began)
            row.requests += requests
            row.operations += 1
            if error:
                row.errors[f"{kind}: {error}"] += 1
            else:
                row.latencies[kind].append(ended - began)


class Counting(load.Connection):
    """A browser's keep-alive connection that counts its requests."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.count = 0

    def request(self, *args: object, **kwargs: object) -> load.Reply:
        self.count += 1
        return super().request(*args, **kwargs)  # type: ignore[arg-type]

    def taken(self) -> int:
        count, self.count = self.count, 0
        return count


class Failure(RuntimeError):
    """An operation got an answer it should not have."""


# -- the traffic --------------------------------------------------------------------------------------

@dataclasses.dataclass
class Traffic:
    emails: list[str]
    sso: saml.Requests
    client: oidc.BenchClient
    scim_token: str
    cookies: collections.deque[str] = dataclasses.field(default_factory=collections.deque)
    serial: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def cookie(self) -> str:
        return random.choice(self.cookies)

    def signin(self, conn: Counting) -> None:
        with self.lock:  # the accounts in turn: each signs in as seldom as the traffic allows
            self.serial["signin"] += 1
            email = self.emails[self.serial["signin"] % len(self.emails)]
        pending = load.start_sign_in(conn, email)
        cookie = load.post_password(conn, pending, PASSWORD)
        if cookie is None:
            raise Failure("the password step did not sign in")
        self.cookies.append(cookie)  # a bounded deque: the oldest browser goes

    def sso_once(self, conn: Counting) -> None:
        _, path = self.sso.next()
        reply = conn.request("GET", path, self.cookie())
        if reply.status != 200 or "SAMLResponse" not in reply.body:
            raise Failure(f"GET /saml/sso answered {reply.status} without a SAMLResponse")

    def oidc_once(self, conn: Counting) -> None:
        oidc.flow(conn, self.cookie(), self.client)

    def account(self, conn: Counting) -> None:
        reply = conn.request("GET", "/account", self.cookie())
        if reply.status != 200:
            raise Failure(f"GET /account answered {reply.status}")

    def scim(self, conn: Counting) -> None:
        auth = {"Authorization": f"Bearer {self.scim_token}", "Content-Type": "application/scim+json"}
        address = f"soak-{secrets.token_hex(8)}@soak.uness.fr"
        created = _scim(conn, "POST", "/scim/v2/Users", auth, {
            "schemas": [SCIM_CORE], "userName": address, "emails": [{"value": address, "type": "work"}]})
        if created.status != 201:
            raise Failure(f"SCIM POST answered {created.status}")
        patched = _scim(conn, "PATCH", f"/scim/v2/Users/{json.loads(created.body)['id']}", auth, {
            "schemas": [SCIM_PATCH],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Soak"}]})
        if patched.status != 200:
            raise Failure(f"SCIM PATCH answered {patched.status}")

    def operation(self, kind: str) -> Callable[[Counting], None]:
        return {"signin": self.signin, "sso": self.sso_once, "oidc": self.oidc_once,
                "account": self.account, "scim": self.scim}[kind]


def _scim(conn: Counting, method: str, path: str, headers: dict[str, str], body: object) -> load.Reply:
    return conn.request(method, path, headers=headers, json_body=body)


def error_kind(exc: BaseException) -> str:
    """A short name for what went wrong, without addresses (the same failure counts once per kind)."""
    return _ADDRESS.sub("<address>", f"{type(exc).__name__}: {exc}")[:100]


def generate(args: argparse.Namespace, gw: stack.Gateway, traffic: Traffic, recorder: Recorder,
             sample: Callable[[], None]) -> None:
    """Release operations at ``args.rate`` per second until the end; ``sample`` at each row's end."""
    work: queue.Queue[tuple[str, float] | None] = queue.Queue(maxsize=4 * args.threads)

    def run(conn: Counting) -> None:
        while (item := work.get()) is not None:
            kind, _ = item
            began, error = time.perf_counter(), None
            try:
                traffic.operation(kind)(conn)
            except (Failure, RuntimeError, OSError, ValueError, KeyError) as exc:
                error = error_kind(exc)
                conn.close()  # a half-read reply must not poison the next request
            recorder.record(kind, began, conn.taken(), error)

    threads = [threading.Thread(target=_with_connection, args=(gw, run), daemon=True)
               for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    interval, start = 1 / args.rate, recorder.start
    end, next_row = start + args.seconds, start + args.row_seconds
    for n in range(int(args.seconds * args.rate)):  # bounded: stops by itself
        due = start + n * interval
        while (now := time.perf_counter()) < due:
            time.sleep(min(due - now, max(0.0, next_row - now)) or 0.001)
            if time.perf_counter() >= next_row:
                sample()
                next_row += args.row_seconds
        try:
            work.put_nowait((MIX[n % len(MIX)], due))
        except queue.Full:
            recorder.record("generator", due, 0, "behind schedule: operation skipped")
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join(120)
    while (now := time.perf_counter()) < end:
        time.sleep(min(0.2, end - now))
        if next_row < end <= next_row + args.row_seconds and time.perf_counter() >= next_row:
            sample()
            next_row += args.row_seconds
    sample()


def _with_connection(gw: stack.Gateway, run: Callable[[Counting], None]) -> None:
    conn = Counting(gw.host, gw.port)
    try:
        run(conn)
    finally:
        conn.close()


# -- memory -------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Memory:
    master: float  # Rss, MiB
    workers: dict[int, float]
    job_worker: float
    redis_used: float  # MiB

    @property
    def workers_total(self) -> float:
        return sum(self.workers.values())


def memory(gw: stack.Gateway, job_worker: int, redis_url: str) -> Memory:
    client = redis.Redis.from_url(redis_url)
    try:
        used = int(client.info("memory")["used_memory"]) / 2**20
    finally:
        client.close()
    return Memory(saml.rollup(gw.pid)[1], {pid: saml.rollup(pid)[1] for pid in saml.worker_pids(gw)},
                  _rss(job_worker), used)


def _rss(pid: int) -> float:
    with contextlib.suppress(OSError):
        return saml.rollup(pid)[1]
    return float("nan")


# -- the stack ----------------------------------------------------------------------------------------

@contextlib.contextmanager
def smtp_sink(delivered: list[EmailMessage]) -> Iterator[int]:
    """An SMTP sink on a free loopback port that keeps what it receives; yields the port."""
    server = SmtpServer(delivered.append, "127.0.0.1", stack.free_port())
    server.start()
    try:
        yield server.port
    finally:
        server.stop()


def settings_files(tmp: Path, client: oidc.BenchClient, scim_token: str, smtp_port: int) -> dict[str, str]:
    """The soak's SP, RP, SCIM service and SMTP server, as gateway settings."""
    sp_dir = tmp / "sp"
    sp_dir.mkdir()
    _, _, sp_cert = saml.make_cert(tmp, "soak-sp")
    (sp_dir / "soak-sp.xml").write_text(
        f'<md:EntitiesDescriptor xmlns:md="{saml.MD_NS}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
        + saml.sp_entity(saml.SP_ID, "https://bench-sp.example.org", sp_cert) + "</md:EntitiesDescriptor>",
        encoding="utf-8")
    clients = tmp / "oidc-clients.toml"
    clients.write_text(client.toml(), encoding="utf-8")
    return {"GATEWAY_SAML_SP_METADATA_DIR": str(sp_dir), "GATEWAY_OIDC_CLIENTS_FILE": str(clients),
            "GATEWAY_SCIM_TOKENS": json.dumps({"soak": scim_token}), "GATEWAY_LIMITS_ENABLED": "true",
            "GATEWAY_MAIL_SERVER": "127.0.0.1", "GATEWAY_MAIL_PORT": str(smtp_port),
            "GATEWAY_MAIL_SECURITY": "none"}


@dataclasses.dataclass
class Run:
    recorder: Recorder
    before: Memory
    warm: Memory | None
    after: Memory
    mails: int
    tracebacks: int
    gw: stack.Gateway


def soak(args: argparse.Namespace) -> Run:
    client = oidc.BenchClient(oidc.CLIENT_ID, oidc.new_secret(), "RS256")
    scim_token, delivered = secrets.token_urlsafe(32), []  # type: ignore[var-annotated]
    with tempfile.TemporaryDirectory(prefix="uness-soak-") as tmp_dir, smtp_sink(delivered) as smtp_port:
        tmp = Path(tmp_dir)
        extra = settings_files(tmp, client, scim_token, smtp_port)
        with stack.private_redis(tmp) as redis_url, \
                stack.mail_worker(redis_url, tmp / "worker.log", extra) as job_worker, \
                stack.gunicorn(redis_url, tmp / "gunicorn.log", args.app, extra) as gw:
            traffic = Traffic(stack.create_accounts(redis_url, accounts_needed(args), PASSWORD),
                              saml.Requests(gw.url + "/saml/sso"), client, scim_token,
                              collections.deque(maxlen=args.browsers))
            progress(f"signing in {args.browsers} browsers")
            warm_up(gw, traffic, args.browsers)
            rows = max(1, -int(-args.seconds // args.row_seconds))
            recorder = Recorder(time.perf_counter(), args.row_seconds, rows)
            before, samples = memory(gw, job_worker.pid, redis_url), []

            def sample() -> None:
                found = memory(gw, job_worker.pid, redis_url)
                samples.append(found)
                recorder.row(time.perf_counter() - args.row_seconds / 2).worker_rss = found.workers_total
                done = sum(r.operations for r in recorder.rows)
                progress(f"{len(samples)} of {rows} rows: {done} operations, "
                         f"{sum(sum(r.errors.values()) for r in recorder.rows)} errors")

            progress(f"{args.seconds:g} s of traffic at {args.rate:g} operations/s")
            generate(args, gw, traffic, recorder, sample)
            time.sleep(1)  # mails the last SCIM writes queued
            log = gw.log.read_text(errors="replace") + (tmp / "worker.log").read_text(errors="replace")
            return Run(recorder, before, samples[0] if len(samples) > 1 else None, samples[-1],
                       len(delivered), log.count("Traceback"), gw)


def accounts_needed(args: argparse.Namespace) -> int:
    """Enough accounts, signed in in turn, for each to stay at half its per-(address, client) limits.

    Every browser comes from 127.0.0.1: one account signing in more than 10 times a minute or 60
    an hour from there is what ``limits.address_per_address_client`` refuses, rightly.
    """
    per_hour = 3600 * args.rate * MIX.count("signin") / len(MIX)
    return max(args.browsers, int(per_hour / 30) + 1)


def warm_up(gw: stack.Gateway, traffic: Traffic, count: int) -> None:
    """Every account signed in once (the browsers SSO, OIDC and account pages use); exits on a failure."""
    conn = Counting(gw.host, gw.port)
    try:
        for _ in range(count):
            traffic.signin(conn)
        traffic.sso_once(conn)
        oidc.check_id_token(gw, oidc.flow(conn, traffic.cookie(), traffic.client), traffic.client)
        traffic.scim(conn)
    except (Failure, RuntimeError, OSError) as exc:
        sys.exit(f"soak: the stack does not work: {exc}\nthe gateway's log:\n{gw.log.read_text()[-3000:]}")
    finally:
        conn.close()


# -- the report ---------------------------------------------------------------------------------------

def p3(latencies: list[float]) -> str:
    if not latencies:
        return "-"
    cuts = quantiles(latencies)
    return "/".join(f"{1000 * c:.0f}" for c in cuts)


def quantiles(latencies: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 in seconds."""
    ordered = sorted(latencies)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return pick(0.50), pick(0.95), pick(0.99)


def report(args: argparse.Namespace, run: Run, load_before: float) -> list[str]:
    """Print the table; the reasons to fail (empty when the run is clean)."""
    rows, r = run.recorder.rows, run.recorder
    print(f"""
  command   make soak   (= .venv/bin/python -m bench.soak; SOAK_MINUTES={args.seconds / 60:g}, \
SOAK_RATE={args.rate:g})
  host      {CORES} cores, load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after
  gunicorn  deploy/gunicorn.conf.py: {run.gw.model}, \
limits on (defaults = config/gateway.example.toml)
  traffic   {args.rate:g} operations/s from {args.threads} connections, mix {dict(collections.Counter(MIX))}
  latency   per operation in ms, p50/p95/p99; an operation is 1 request (sso, account), \
2 (oidc, scim) or 3 (signin)
""")
    print(f"  {'minute':>6} {'requests':>8} {'errors':>6} " + " ".join(f"{k:>14}" for k in KINDS)
          + f" {'workers MiB':>11}")
    for n, row in enumerate(rows, 1):
        print(f"  {n:>6} {row.requests:>8} {sum(row.errors.values()):>6} "
              + " ".join(f"{p3(row.latencies[k]):>14}" for k in KINDS) + f" {row.worker_rss:>11.1f}")
        for kind, count in sorted(row.errors.items()):
            print(f"  {'':>6} {count:>8} x {kind}")
    total = collections.Counter[str]()
    for row in rows:
        total.update(row.errors)
    requests = sum(row.requests for row in rows)
    print(f"\n  all    {requests} requests, {sum(row.operations for row in rows)} operations, "
          f"{sum(total.values())} errors, {run.tracebacks} tracebacks in the logs, "
          f"{run.mails} mails delivered")
    for kind in KINDS:
        found = [x for row in rows for x in row.latencies[kind]]
        print(f"  {kind:<8} {len(found):>6} ok, p50/p95/p99 {p3(found)} ms")
    print_memory(run)
    return reasons(args, run, total, r)


def print_memory(run: Run) -> None:
    b, a = run.before, run.after
    print("\n  memory (Rss, MiB)       start      end")
    print(f"  gunicorn master      {b.master:>8.1f} {a.master:>8.1f}")
    for pid in sorted(set(b.workers) | set(a.workers)):
        start, end = b.workers.get(pid, float('nan')), a.workers.get(pid, float('nan'))
        print(f"  worker {pid:<13} {start:>8.1f} {end:>8.1f}")
    print(f"  job worker           {b.job_worker:>8.1f} {a.job_worker:>8.1f}")
    print(f"  Redis used_memory    {b.redis_used:>8.1f} {a.redis_used:>8.1f}   "
          "(sessions and SCIM accounts kept: "
          "they live until their TTL or for good)")


def reasons(args: argparse.Namespace, run: Run, errors: collections.Counter[str], r: Recorder) -> list[str]:
    found = [f"{sum(errors.values())} errors"] if errors else []
    if run.tracebacks:
        found.append(f"{run.tracebacks} tracebacks in the gateway's logs")
    if set(run.before.workers) != set(run.after.workers):
        found.append("a gunicorn worker was replaced during the run")
    if args.no_growth_check or run.warm is None:
        return found
    for pid, end in run.after.workers.items():
        start = run.warm.workers.get(pid)
        if start and end > start * (1 + args.max_memory_growth):
            found.append(f"worker {pid} Rss grew {start:.1f} -> {end:.1f} MiB "
                         f"(more than {100 * args.max_memory_growth:.0f} %)")
    first, last = r.rows[0], r.rows[-1]
    for kind in KINDS:
        if first.latencies[kind] and last.latencies[kind]:
            p95a, p95b = quantiles(first.latencies[kind])[1], quantiles(last.latencies[kind])[1]
            if p95b > p95a * args.max_latency_growth and p95b - p95a > 0.050:
                found.append(f"{kind} p95 grew {1000 * p95a:.0f} -> {1000 * p95b:.0f} ms "
                             f"(more than x{args.max_latency_growth:g})")
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    load_before = os.getloadavg()[0]
    failed = report(args, soak(args), load_before)
    if failed:
        print("\n  FAILED: " + "; ".join(failed))
        return 1
    print("\n  OK: no errors" + ("" if args.no_growth_check else
                                 f", memory within +{100 * args.max_memory_growth:.0f} % and p95 within "
                                 f"x{args.max_latency_growth:g} from the first minute to the last"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
