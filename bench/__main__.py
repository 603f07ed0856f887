"""``make bench`` (``.venv/bin/python -m bench``): sign-ins and OIDC flows per second, against their ceilings.

``signin`` -- password sign-ins against argon2 alone:
(a) raw argon2id verifies/s with the default parameters, one process per core;
(b) password sign-ins/s through gunicorn + Redis (the load generator over bench.load.RawConnection), and
    the ratio to (a) (issue 14's goal: >= 0.90 on a quiet host, and >= 0.90 from CPU);
(c) latency of cheap requests while sign-ins burst: hashing must not starve them.

``oidc`` -- authorization-code flows of a signed-in person against ID-token signing (bench/oidc.py):
(d) raw ID-token signing/s (RS256, ES256) with the dev keys, one process per core;
(e), (f) authorize -> code -> token flows/s through gunicorn + Redis from 1 and 16 connections.

``saml`` -- SAML SSO responses/s against response signing, and 2,000-SP metadata (bench/saml.py).

``hospital`` -- 300 people sign in from one address with the example limits: none refused (bench/hospital.py).
``cutover`` -- ``gateway saml cutover-check`` on 100,000 identifiers, goal under 10 s (bench/cutover.py).

``python -m bench`` runs all; ``python -m bench signin`` or ``python -m bench oidc`` one of them.
``python -m bench.signing [seconds]``: signatures/s, the xmlsec1 program against the in-process binding.

``GATEWAY_WORKERS`` / ``GATEWAY_THREADS`` in the environment reach gunicorn, to compare settings.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gateway.config import PasswordSettings

from . import argon, cutover, hospital, load, oidc, saml, stack
from .meter import CORES, Meter, Usage, monitored, sent_and_scripted

#: sign-ins/s through the stack / raw argon2 verifies/s (issue 14: on a quiet host)
GOAL = 0.90
#: argon2 verify / whole sign-in, from CPU (steadier than (b) / (a) on a shared host)
CPU_GOAL = 0.90
#: p99 of the probes during a burst of sign-ins (c): a burst must not starve other requests.
PROBE_GOAL_MS = 50.0
PASSWORD = argon.PASSWORD
COMMAND = "make bench   (= .venv/bin/python -m bench; `-m bench signin` or `-m bench oidc` for one part)"
Probes = dict[str, dict[str, list[float]]]
T = TypeVar("T")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("part", nargs="?", default="all", choices=("all", "signin", "oidc", "saml", "hospital", "cutover"),
        help="what to measure (default: all)")
    add("--seconds", type=float, default=5.0, help="length of the measured sign-in burst (b)")
    add("--burst-seconds", type=float, default=3.0, help="length of the burst under probes (c)")
    add("--verify-seconds", type=float, default=3.0, help="length of the raw argon2 measure (a)")
    add("--concurrency", type=int, default=16, help="simulated browsers posting passwords")
    add("--accounts", type=int, default=64)
    add("--app", default=stack.APP, help="the WSGI app gunicorn serves (to try a variant)")
    oidc.add_arguments(parser)
    saml.add_arguments(parser)
    hospital.add_arguments(parser)
    cutover.add_arguments(parser)
    return parser.parse_args(argv)


def progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started, args.load_before = time.monotonic(), os.getloadavg()[0]
    if args.part in ("all", "signin"):
        sign_ins(args)
    if args.part in ("all", "oidc"):
        if args.part == "oidc":
            print(f"\n  command   {COMMAND}\n  host      {CORES} cores, load average {args.load_before:.2f} "
                  "before the run")
        oidc.main(args)
    if args.part in ("all", "saml"):  # bench/saml.py: SAML SSO/s, start-up and memory with 2,000 SPs
        saml.main(args)
    if args.part in ("all", "hospital"):  # bench/hospital.py: 300 people behind one address
        hospital.main(args)
    if args.part in ("all", "cutover"):
        cutover.main(args)
    print(f"\n  total time {time.monotonic() - started:.0f} s")
    return 0


def sign_ins(args: argparse.Namespace) -> None:
    """(a), (b), (c): password sign-ins."""
    progress(f"(a) raw argon2id verifies on {CORES} processes for {args.verify_seconds:g} s")
    with Meter() as raw_usage:
        raw = argon.verify_rate(args.verify_seconds)
    raw_usage.attribute_to_bench(raw.cpu_seconds)
    with tempfile.TemporaryDirectory(prefix="uness-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        with stack.private_redis(tmp) as redis_url, \
                stack.gunicorn(redis_url, tmp / "gunicorn.log", args.app, saml.bench_sp(tmp)) as gw:
            probes, burst, usage, during = run_stack(args, gw, redis_url, raw)
    report(args, gw, raw, raw_usage, burst, usage, during, probes)


def run_stack(args: argparse.Namespace, gw: stack.Gateway, redis_url: str,
              raw: argon.VerifyRate) -> tuple[Probes, load.Burst, Usage, load.Burst]:
    """(b) and (c) against the running gateway."""
    emails = stack.create_accounts(redis_url, args.accounts, PASSWORD)
    # enough for the fastest the host could go (every core verifying), with a margin
    ceiling = CORES * 1000 / raw.cpu_ms_per_verify
    needed = math.ceil(ceiling * (args.seconds + args.burst_seconds) * 1.3) + 1
    progress(f"preparing {needed} browsers at the password step (GET /login, POST /login)")
    pending = load.prepare(gw.host, gw.port, emails, needed, args.concurrency)
    conn = load.Connection(gw.host, gw.port)
    probe_cookie = load.post_password(conn, pending.popleft(), PASSWORD)
    with monitored(redis_url) as seen:  # one sign-in read with MONITOR
        load.post_password(conn, pending.popleft(), PASSWORD)
    args.one_sign_in = sent_and_scripted(seen)
    conn.close()
    if not probe_cookie:
        sys.exit(f"bench: a password sign-in failed; the gateway's log:\n{gw.log.read_text()[-3000:]}")

    progress(f"(b) password POSTs from {args.concurrency} connections for {args.seconds:g} s")
    with Meter(gw, redis_url) as usage:
        burst = load.sign_in_burst(gw.host, gw.port, pending, PASSWORD, args.seconds, args.concurrency)

    progress("(c) GET /healthz, GET /account and SAML SSO, idle then during a sign-in burst")
    idle, _ = probed(gw, probe_cookie, lambda: time.sleep(1.5))
    busy, during = probed(gw, probe_cookie, lambda: load.sign_in_burst(
        gw.host, gw.port, pending, PASSWORD, args.burst_seconds, args.concurrency))
    return {"idle": idle, "during the burst": busy}, burst, usage, during


def probed(gw: stack.Gateway, cookie: str, work: Callable[[], T]) -> tuple[dict[str, list[float]], T]:
    """Latencies of a cheap request, of a signed-in page and of a SAML SSO (a fresh AuthnRequest each
    time, answered with the signed Response), each in a loop, while ``work`` runs."""
    sso = saml.Requests(gw.url + "/saml/sso")
    with load.Probe(gw.host, gw.port, "/healthz") as health, \
            load.Probe(gw.host, gw.port, "/account", cookie) as account, \
            load.Probe(gw.host, gw.port, lambda: sso.next()[1], cookie) as single_sign_on:
        result = work()
    return {"GET /healthz": health.latencies, "GET /account (signed in)": account.latencies,
            "GET /saml/sso (signed in)": single_sign_on.latencies}, result


def row(name: str, value: str) -> None:
    print(f"  {name:<62} {value:>16}")


def ms(pair: tuple[float, float], digits: int = 1) -> str:
    return f"{pair[0]:.{digits}f} / {pair[1]:.{digits}f} ms"


def report(args: argparse.Namespace, gw: stack.Gateway, raw: argon.VerifyRate, raw_usage: Usage,
           burst: load.Burst, usage: Usage, during: load.Burst, probes: Probes) -> None:
    p = PasswordSettings()
    print(f"""
  command   {COMMAND}
  host      {CORES} cores, load average {args.load_before:.2f} before the run
  argon2id  time_cost={p.time_cost} memory_cost={p.memory_cost} KiB parallelism={p.parallelism} \
(PasswordSettings defaults)
  gunicorn  deploy/gunicorn.conf.py: {gw.model}, \
GATEWAY_LIMITS_ENABLED=false{'' if args.app == stack.APP else f', app {args.app}'}
""")
    row("measure", "value")
    row("-" * 62, "-" * 16)
    ok, ratio = burst.ok or 1, burst.rate / raw.rate
    per_sign_in = 1000 * (usage.workers + usage.bench + usage.redis) / ok
    row(f"(a) raw argon2id verify, {raw.processes} processes, {raw.seconds:g} s", f"{raw.rate:.1f} /s")
    row("    CPU per verify", f"{raw.cpu_ms_per_verify:.1f} ms")
    row(f"(b) password sign-ins, {args.concurrency} connections, {burst.elapsed:.1f} s",
        f"{burst.rate:.1f} /s")
    row("    ratio (b) / (a), on a quiet host",
        f"{ratio:.2f} {'OK' if ratio >= GOAL else 'LOW'} (>= {GOAL:.2f})")
    row(f"    succeeded / failed{' (ran out of prepared sessions)' if burst.ran_out else ''}",
        f"{burst.ok} / {burst.failed}")
    row("    POST /login/password latency p50 / p99", ms(load.percentiles(burst.latencies), 0))
    row("    per sign-in: CPU of gunicorn workers", f"{1000 * usage.workers / ok:.1f} ms")
    row("    of which: argon2 threads (in place) / the rest",
        f"{1000 * usage.hashing / ok:.1f} / {1000 * (usage.workers - usage.hashing) / ok:.1f} ms")
    # both parts from the same sign-ins at the same moment: steadier than (a) against (b) on a shared host
    row("    ratio in place: argon2 threads / whole sign-in",
        f"{usage.hashing / (usage.workers + usage.bench + usage.redis or 1):.2f}")
    row("    per sign-in: CPU of load generator / Redis",
        f"{1000 * usage.bench / ok:.1f} / {1000 * usage.redis / ok:.1f} ms")
    row("    per sign-in: Redis commands", f"{usage.redis_commands / ok:.1f}")
    sent, scripted = args.one_sign_in
    row("    one sign-in under MONITOR: commands sent / run by scripts", f"{len(sent)} / {len(scripted)}")
    cpu_ratio = raw.cpu_ms_per_verify / per_sign_in
    row("    ratio from CPU: verify / whole sign-in (idle-host ratio)",
        f"{cpu_ratio:.2f} ({raw.cpu_ms_per_verify:.1f}/{per_sign_in:.1f})")
    row(f"    goal: ratio from CPU >= {CPU_GOAL:.2f}", "OK" if cpu_ratio >= CPU_GOAL else "LOW")
    shares = (usage.share(usage.workers), usage.share(usage.bench + usage.redis), usage.share(usage.others))
    row("    cores used: workers / load generator + Redis / others", " / ".join(shares))
    row(f"(c) latency p50 / p99, burst of {args.concurrency} connections ({during.rate:.1f} sign-ins/s)", "")
    for path in probes["idle"]:
        for phase, found in probes.items():
            p50_p99 = load.percentiles(found[path])
            verdict = "" if phase == "idle" else (" OK" if p50_p99[1] < PROBE_GOAL_MS else " HIGH")
            row(f"    {path}, {phase} ({len(found[path])} requests)", ms(p50_p99) + verdict)
    row(f"    goal: p99 < {PROBE_GOAL_MS:g} ms for each during the burst", "")
    if max(raw_usage.others / raw_usage.wall, usage.others / usage.wall) / CORES > 0.05:
        print(f"\n  warning: other processes used {raw_usage.share(raw_usage.others)} / "
              f"{usage.share(usage.others)} of the cores during (a) / (b):\n"
              "  the measured ratio is unreliable; the ratio from CPU much less so.")


if __name__ == "__main__":
    sys.exit(main())
