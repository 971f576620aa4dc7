"""Call capacity of one call worker, measured with SIPp over loopback.

1. Sustained set-up rate: short calls (answer, prompt, caller hangs up after
   ~2.5 s) at a fixed rate for DURATION seconds; the highest rate with no
   failed call is reported.
2. Concurrency: N calls through the whole menu (~10 s each) started at 50/s;
   the largest N with no failed call is reported.

Prints one line per step and a summary. Run: ``make bench`` (or
``python bench/call_rate.py --duration 60``).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.service import start_service  # noqa: E402
from support.sipp import run_sipp  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=60, help="seconds per rate step")
    parser.add_argument("--rates", default="10,20,30,40,60", help="calls per second to try")
    parser.add_argument("--concurrency", default="100,150,200,250", help="concurrent calls to try")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    service = start_service(work / "service", env={"IVR_LOG_LEVEL": "WARNING"})
    best_rate = best_concurrent = 0
    try:
        for index, rate in enumerate(int(r) for r in args.rates.split(",")):
            calls = rate * args.duration
            started = time.monotonic()
            result = run_sipp(
                "hangup_during_prompt.xml",
                service.sip_uri_host,
                f"1{index}",
                calls=calls,
                rate=rate,
                concurrent=calls,
                workdir=work / f"rate{rate}",
                timeout=args.duration + 120,
            )
            elapsed = time.monotonic() - started
            ok = result.returncode == 0
            print(
                f"rate {rate:>3}/s for {args.duration} s: {calls} calls, "
                f"{'no failures' if ok else f'FAILURES (sipp exit {result.returncode})'}, "
                f"{elapsed:.0f} s wall",
                flush=True,
            )
            if not ok:
                break
            best_rate = rate
        for index, count in enumerate(int(c) for c in args.concurrency.split(",")):
            result = run_sipp(
                "menu_key1_rfc2833.xml",
                service.sip_uri_host,
                f"2{index}",
                calls=count,
                rate=50,
                concurrent=count,
                workdir=work / f"conc{count}",
                timeout=180,
            )
            ok = result.returncode == 0
            print(
                f"{count:>3} concurrent calls through the menu: "
                f"{'no failures' if ok else f'FAILURES (sipp exit {result.returncode})'}",
                flush=True,
            )
            if not ok:
                break
            best_concurrent = count
    finally:
        service.stop()
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"summary: sustained set-up rate {best_rate} calls/s for {args.duration} s with no "
        f"failures; {best_concurrent} concurrent calls in the menu with no failures; "
        f"CPU of service+SIPp {child.ru_utime + child.ru_stime:.0f} s, "
        f"peak child RSS {child.ru_maxrss / 1024:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
