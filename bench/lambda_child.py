"""One fresh interpreter laid out as Lambda lays one out: run by :mod:`bench.cold_start`, never imported.

``python -I bench/lambda_child.py --task DIR --layer DIR --module NAME --out FILE [--event FILE]``

``sys.path`` is the function's code (``--task``, Lambda's ``/var/task``), the layer (``--layer``,
``/opt/python``: only the packages the layer ships) and the standard library — nothing else of the
development virtualenv is importable, so libraries present only for the tests (``requests``, moto…)
cannot be picked up by, say, the X-Ray SDK's patching. Only the standard library is used before the
path is set. The result goes to ``--out`` as JSON (stdout is the function's log, as in Lambda).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid


class Context:
    """The Lambda context object, as the runtime passes it."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/11/24/[$LATEST]bench"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def peak_rss_mb() -> float:
    """Peak resident memory of this process (``VmHWM``).

    Not ``ru_maxrss``: Linux carries the parent's peak over ``fork``/``exec`` into it, so a child of a
    big process would report the parent's size.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", required=True)
    parser.add_argument("--layer", required=True)
    parser.add_argument("--module", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--event")
    parser.add_argument("--function-name", default="bench")
    parser.add_argument("--memory", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    sys.path[:] = [args.task, args.layer, *(p for p in sys.path if p and "site-packages" not in p)]

    started = time.perf_counter()
    module = __import__(args.module)
    result: dict[str, object] = {"import_s": time.perf_counter() - started}
    if args.event:
        with open(args.event, encoding="utf-8") as file:
            event = json.load(file)
        context = Context(args.function_name, args.memory, args.timeout)
        started = time.perf_counter()
        response = module.lambda_handler(event, context)
        result["invoke_s"] = time.perf_counter() - started
        result["response"] = response
    result["maxrss_mb"] = peak_rss_mb()
    result["modules"] = len(sys.modules)
    with open(args.out, "w", encoding="utf-8") as file:
        json.dump(result, file, default=str)


if __name__ == "__main__":
    main()
