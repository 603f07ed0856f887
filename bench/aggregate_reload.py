"""``python -m bench.aggregate_reload [--sps 2000] [--runs 3]``: how long a gevent worker's event loop is
held while it reloads a changed signed aggregate (issue 14).

In one process patched as gunicorn's gevent worker patches it: a local HTTP server serves a signed
aggregate of ``--sps`` SPs (``bench.saml.write_aggregate``, 10 MB for 2,000); :class:`Aggregates` loads it,
then for each run the aggregate changes (one SP more), its cache is made stale, and a greenlet that
sleeps 1 ms in a loop records the gaps between its wake-ups while a background thread (a greenlet, as
:meth:`Aggregates.tick` starts it) runs :meth:`Aggregates.check`. The longest gap is the longest stretch
the worker could answer nobody.
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from saml2.attribute_converter import ac_factory  # noqa: E402
from saml2.mdstore import MetadataStore  # noqa: E402

from gateway.saml.sp.aggregates import Aggregate, Aggregates  # noqa: E402

from .saml import make_cert, serve_file, write_aggregate  # noqa: E402


def gaps_during(work: threading.Thread) -> list[float]:
    """The gaps (seconds) between the wake-ups of a greenlet sleeping 1 ms in a loop, while ``work`` runs."""
    gaps: list[float] = []

    def ticker() -> None:
        last = time.perf_counter()
        while work.is_alive():
            gevent.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    work.start()
    gevent.spawn(ticker).join()
    work.join()
    return sorted(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.aggregate_reload")
    parser.add_argument("--sps", type=int, default=2000, help="SP entities of the aggregate")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="uness-bench-reload-") as folder:
        tmp = Path(folder)
        key, cert, cert_b64 = make_cert(tmp, "federation")
        document = tmp / "aggregate.xml"
        size = write_aggregate(document, args.sps, key, [cert_b64])
        with serve_file(document) as url:
            aggregate = Aggregate(url, str(cert), str(tmp / "cache"), 3600)
            aggregates = Aggregates([aggregate], MetadataStore(ac_factory(), None), ())
            aggregates.load_at_start()
            print(f"aggregate of {args.sps:,} SPs, {size:,} bytes; load average {os.getloadavg()[0]:.1f}")
            for run in range(args.runs):
                write_aggregate(document, args.sps + run + 1, key, [cert_b64])
                stale = time.time() - 2 * aggregate.refresh_seconds
                os.utime(aggregate.cache_file, (stale, stale))
                started, cpu = time.perf_counter(), time.process_time()
                gaps = gaps_during(threading.Thread(target=aggregates.check))
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                sps = len(aggregates.entity_ids())
                print(f"run {run}: reload {wall:.2f} s ({cpu:.2f} s of process CPU), {sps:,} SPs after; "
                      f"the loop woke {len(gaps)} times, longest gap {gaps[-1] * 1000:.0f} ms, "
                      f"median {gaps[len(gaps) // 2] * 1000:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
