"""``hyperlight-js`` / ``python -m hyperlight_js``: run one handler from the
shell.

    hyperlight-js run handler.js '{"name": "world"}' --wall-clock 500ms --cpu-time 100ms

    hyperlight-js doctor

The result (JSON) goes to stdout, the guest's console output to stderr.
Exit status: 0 success, 1 the handler failed (exception, load error, bad
result), 2 usage error, 3 a limit ended the handler, 4 any other sandbox error.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from .errors import ExecutionCancelled, GuestError, HyperlightError, InvalidEventError, ResultNotSerializableError
from .monitor import CpuTimeMonitor, Monitor, WallClockMonitor
from . import doctor
from .sandbox import SandboxBuilder, Script

EXIT_OK, EXIT_HANDLER_FAILED, EXIT_USAGE, EXIT_LIMIT, EXIT_SANDBOX = 0, 1, 2, 3, 4

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s|m)?\s*$")


def parse_duration(text: str) -> float:
    """``500ms``, ``2s``, ``1.5`` (seconds), ``250us``, ``1m``."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a positive duration: {text!r} (use e.g. 500ms, 2s, 1.5)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hyperlight-js", description="Run JavaScript handlers in a sandbox.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a handler script once and print its result")
    run.add_argument("script", help="an ES module defining `function handler(event)`")
    run.add_argument("event", nargs="?", default="{}", help="the event as JSON text (default: {})")
    run.add_argument("--wall-clock", type=parse_duration, metavar="DURATION", help="wall-clock limit, e.g. 500ms")
    run.add_argument("--cpu-time", type=parse_duration, metavar="DURATION", help="CPU-time limit, e.g. 100ms")
    run.add_argument("--heap-size", type=int, metavar="BYTES", help="guest heap limit in bytes")
    run.add_argument("--root", metavar="DIR", help="directory relative imports may not leave (default: the script's)")
    run.add_argument(
        "--backend",
        metavar="NAME",
        help="which engine runs the handler: a backend `doctor` lists, or auto (the default)",
    )
    commands.add_parser("doctor", help="what this machine and build support: backends, hypervisors, CPU clocks")
    return parser


def _run(args: argparse.Namespace) -> int:
    builder = SandboxBuilder().with_host_print_fn(lambda text: print(text, end="", file=sys.stderr))
    if args.backend is not None:
        builder = builder.with_backend(args.backend)
    if args.heap_size is not None:
        builder = builder.with_guest_heap_size(args.heap_size)
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("handler", Script.from_file(args.script, args.root))
    monitors: list[Monitor] = []
    if args.wall_clock is not None:
        monitors.append(WallClockMonitor(args.wall_clock))
    if args.cpu_time is not None:
        monitors.append(CpuTimeMonitor(args.cpu_time))
    # The limits bound the script's top-level code as well as the handler.
    limits = tuple(monitors) if monitors else None
    loaded = sandbox.get_loaded_sandbox(monitor=limits)
    if limits is not None:
        result = loaded.handle_event_with_monitor("handler", args.event, limits)
    else:
        result = loaded.handle_event("handler", args.event)
    print(result)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "doctor":
        print("\n".join(doctor.report()))
        return EXIT_OK
    try:
        return _run(args)
    except ExecutionCancelled as exc:
        limit = {"wall-clock": "the wall-clock limit", "cpu-time": "the CPU-time limit"}.get(exc.monitor or "")
        print(f"hyperlight-js: terminated by {limit or 'an interrupt'} ({exc.monitor or 'no monitor'})", file=sys.stderr)
        return EXIT_LIMIT
    except (GuestError, ResultNotSerializableError) as exc:
        print(f"hyperlight-js: the handler failed: {exc}", file=sys.stderr)
        if isinstance(exc, GuestError) and exc.stack:
            print(exc.stack.rstrip(), file=sys.stderr)
        return EXIT_HANDLER_FAILED
    except (InvalidEventError, ValueError, TypeError) as exc:
        print(f"hyperlight-js: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HyperlightError as exc:
        print(f"hyperlight-js: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_SANDBOX


if __name__ == "__main__":
    sys.exit(main())
