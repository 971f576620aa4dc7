"""``ivr call [URI]``: its options, and the process around one call."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from ivr.phone.keys import DTMF_MODES, parse_keys

DESCRIPTION = """\
Call the service from this terminal, on its own SIP stack: what you hear plays on
the speakers (when aplay and a sound card are there) and is written to a WAV;
keys typed and Enter are sent; the prompts' texts show as the plan plays them;
the call's ticket is printed at hang-up. Ctrl-D or Ctrl-C hangs up.

Prompts and ticket are shown for the configured service (not another URI): from
its API with $IVR_API_TOKEN set, else straight from its Redis and ticket store
(as `make run` runs it, with no token configured)."""


def add_call_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "uri",
        nargs="?",
        help="whom to call: a SIP URI, or a number at the service "
        "(default: sip:4357@<sip.listen> of the config)",
    )
    parser.add_argument("--config", help="config file (default: $IVR_CONFIG or ./ivr.yaml)")
    parser.add_argument(
        "--keys",
        help='press these keys instead of reading the terminal: 0-9 * # A-D, "w" waits '
        '1 s, commas separate; they start with the first sound heard (e.g. "w,w,1")',
    )
    parser.add_argument(
        "--say",
        type=Path,
        metavar="FILE",
        help="speak this recording into the call (any audio ffmpeg reads; converted "
        "to 8 kHz mono): after --keys, else once the first sound is heard",
    )
    parser.add_argument(
        "--wav",
        type=Path,
        metavar="PATH",
        help="write what you hear here (default: var/calls/<date>-<time>.wav)",
    )
    parser.add_argument(
        "--dtmf",
        choices=sorted(DTMF_MODES),
        default="rfc4733",
        help="how keys travel: RTP telephone events (rfc4733, default) or SIP INFO (info)",
    )
    parser.add_argument(
        "--max-seconds", type=float, metavar="S", help="hang up S seconds after the answer"
    )
    parser.add_argument(
        "--no-speaker", action="store_true", help="do not play what you hear, only write it"
    )


def run_call(args: argparse.Namespace, config_path: Path | None) -> int:
    """Run ``ivr call`` to its end; exits the process (see below)."""
    from ivr.config import load_config
    from ivr.config_table import API_TOKEN_ENV
    from ivr.exceptions import IvrError
    from ivr.phone.phone import PhoneOptions, run_phone
    from ivr.phone.service_view import choose_view

    try:
        config = load_config(config_path)
        keys = parse_keys(args.keys) if args.keys is not None else None
    except (IvrError, ValueError) as exc:
        print(f"ivr call: {exc}", file=sys.stderr)
        return 2
    if args.max_seconds is not None and args.max_seconds <= 0:
        print("ivr call: --max-seconds must be above 0", file=sys.stderr)
        return 2
    # The SIP stack logs every call's media statistics; a phone shows only trouble.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = PhoneOptions(
        uri=args.uri,
        keys=keys,
        say=args.say,
        wav=args.wav,
        dtmf=args.dtmf,
        max_seconds=args.max_seconds,
        speaker=not args.no_speaker,
    )
    # Prompts and the ticket are the configured service's: not shown for another URI.
    to_service = args.uri is None or ("@" not in args.uri and ":" not in args.uri)
    view = choose_view(config, os.environ.get(API_TOKEN_ENV)) if to_service else None
    code = asyncio.run(run_phone(config, options, view))
    # Skip interpreter teardown: the SIP stack's native teardown is unsafe (see
    # BaresipTelephony.close); the call is over and the WAV closed by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
