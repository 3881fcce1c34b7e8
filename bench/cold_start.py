"""4. Cold start: import time of each handler module in a fresh interpreter, and peak memory.

Each measurement is a new interpreter (:mod:`bench.lambda_child`) laid out like a Lambda execution
environment: ``sys.path`` holds the function's code, a view of the layer (symlinks to exactly the
distributions ``layers/shared/requirements.txt`` lists, plus ``asanak`` and ``sms_gateway``) and the
standard library; the environment is the function's from template.yaml plus what Lambda's runtime
sets (``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_*``, a trace header, the X-Ray daemon address), so
Powertools and the X-Ray SDK take their Lambda code paths (``Tracing: Active``: the tracer is on and
patches botocore; its segments go by UDP to a local port nobody reads).

Import time is the median over fresh interpreters of the time to import the handler module, next to
``import boto3`` in the same layout, measured in turn in the same run; the ratio is the median of the
ratios within each round (boto3 and the three handlers imported back to back). Peak memory is the
interpreter's peak resident size (``VmHWM``) after importing the handler and invoking it once against
moto and the sandbox, next to that of an interpreter that imported boto3 and nothing else. (Lambda's
"Max Memory Used" also counts the runtime's own process, a few MB.)
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import Row
from bench.scale import Scale
from bench.world import REGION, SCHEDULED_EVENT, World, number, sqs_event

ROOT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).resolve().parent / "lambda_child.py"
LAYER = ROOT / "layers" / "shared"
FUNCTIONS = {
    "send": "SendFunction",
    "poll": "PollFunction",
    "receive": "ReceiveFunction",
    "publish": "PublishFunction",
}
IMPORT_TARGET = 1.5
MEMORY_LIMIT_MB = 128
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def layer_distributions() -> list[str]:
    names = []
    for line in (LAYER / "requirements.txt").read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            names.append(re.split(r"[\[=<>!~;\s]", requirement, maxsplit=1)[0])
    return names


def build_layer_view(target: Path) -> Path:
    """A directory like the layer's ``/opt/python``: symlinks to the installed distributions it lists."""
    target.mkdir(parents=True)
    for name in layer_distributions():
        distribution = importlib.metadata.distribution(name)
        tops = {
            file.parts[0]
            for file in distribution.files or ()
            if not file.parts[0].endswith((".dist-info", ".data"))
            and file.parts[0] not in ("..", "__pycache__")
        }
        for top in tops:
            source = Path(str(distribution.locate_file(top)))
            if not (target / top).exists():
                (target / top).symlink_to(source)
    for package in ("asanak", "sms_gateway"):
        (target / package).symlink_to(LAYER / package)
    return target


def lambda_env(world: World, function: str) -> dict[str, str]:
    """What a Lambda execution environment of ``function`` sees (the template's variables included)."""
    logical = FUNCTIONS[function]
    globals_fn = world.stack.template.get("Globals", {}).get("Function", {})
    memory = str(world.stack.function(logical).get("MemorySize", globals_fn.get("MemorySize", 128)))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / function),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": world.stack.function(logical)["Handler"],
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": f"bench-{function}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory,
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/bench-{function}",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "AWS_ENDPOINT_URL": world.endpoint,
    }
    env.update(world.stack.function_env(logical))
    return env


class Child:
    def __init__(self, world: World, layer: Path, tmp: Path) -> None:
        self.world = world
        self.layer = layer
        self.tmp = tmp

    def run(self, function: str, module: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
        out = self.tmp / "result.json"
        command = [
            sys.executable,
            "-I",
            str(CHILD),
            "--task",
            str(ROOT / "functions" / function),
            "--layer",
            str(self.layer),
            "--module",
            module,
            "--out",
            str(out),
            "--function-name",
            f"bench-{function}",
        ]
        if event is not None:
            event_file = self.tmp / "event.json"
            event_file.write_text(json.dumps(event, ensure_ascii=False), encoding="utf-8")
            command += ["--event", str(event_file)]
        env = lambda_env(self.world, function)
        done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{function}/{module} failed in a fresh interpreter:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        result["log_lines"] = len(done.stdout.splitlines())
        return result


def receive_event(world: World) -> dict[str, Any]:
    text = (ROOT / "events" / "receive-good.json").read_text(encoding="utf-8")
    text = text.replace(
        "EXAMPLE0inbound0token0replace0me0000000000", world.stack.secret_value["inbound_token"]
    )
    event: dict[str, Any] = json.loads(text)
    return event


def poll_event(world: World) -> dict[str, Any]:
    """The scheduled event, once every message in flight is due (so the invocation has work to do)."""
    dynamodb = world.client("dynamodb")
    now = int(datetime.now(UTC).timestamp()) - 1
    items = dynamodb.scan(TableName=world.table_name, FilterExpression="attribute_exists(track_shard)")[
        "Items"
    ]
    for item in items:
        dynamodb.update_item(
            TableName=world.table_name,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET next_check = :now",
            ExpressionAttributeValues={":now": {"N": str(now)}},
        )
    return SCHEDULED_EVENT


def run(scale: Scale, log: Callable[[str], None], notes: list[str]) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp, World() as world:
        child = Child(world, build_layer_view(Path(tmp) / "python"), Path(tmp))
        rows, boto3_mb = _imports(child, scale, log)
        log("cold start: one invocation per handler in a fresh interpreter")
        invoked, first = _first_invocations(child, world, boto3_mb)
        notes.append(
            "Cold start, import plus first invocation (clients built, secret read; against moto on this "
            "machine): " + "; ".join(first) + "."
        )
    return rows + invoked


def _imports(child: Child, scale: Scale, log: Callable[[str], None]) -> tuple[list[Row], float]:
    """Each handler's import time against a bare ``import boto3``, round by round; and boto3's memory."""
    targets = [("send", "boto3"), *((function, "app") for function in FUNCTIONS)]
    seconds: dict[tuple[str, str], list[float]] = {target: [] for target in targets}
    memory: dict[tuple[str, str], list[float]] = {target: [] for target in targets}
    log(f"cold start: {scale.cold_runs} fresh interpreters per module")
    for _ in range(scale.cold_runs):
        for target in targets:  # in turn, so a busy moment of the machine hits all of them alike
            result = child.run(*target)
            seconds[target].append(result["import_s"])
            memory[target].append(result["maxrss_mb"])
    baseline = seconds[("send", "boto3")]
    boto3_ms = statistics.median(baseline) * 1000
    rows = []
    for function in FUNCTIONS:
        ours = seconds[(function, "app")]
        rows.append(
            Row(
                f"cold start: import of the {function} handler (baseline: bare `import boto3`), "
                f"median of {scale.cold_runs}",
                statistics.median(ours) * 1000,
                boto3_ms,
                "ms",
                target=f"≤ {IMPORT_TARGET:g}× import boto3",
                check=lambda row: (row.ratio or 99) <= IMPORT_TARGET,
                ratio_as_share=True,
                # each round imports boto3 and every handler back to back: compare within a round,
                # so a busy moment of the machine weighs on both sides of a ratio alike
                paired_ratio=statistics.median(o / b for o, b in zip(ours, baseline, strict=True)),
            )
        )
    return rows, statistics.median(memory[("send", "boto3")])


def _first_invocations(child: Child, world: World, boto3_mb: float) -> tuple[list[Row], list[str]]:
    """Each handler imported and invoked once in a fresh interpreter: its peak memory and time."""
    events = {
        "send": lambda: sqs_event(
            [{"to": number(i, "0938"), "text": f"Your code is {1000 + i}"} for i in range(10)]
        ),
        "poll": lambda: poll_event(world),
        "receive": lambda: receive_event(world),
        "publish": lambda: json.loads(
            (ROOT / "events" / "publish-accepted.json").read_text(encoding="utf-8")
        ),
    }
    rows: list[Row] = []
    first: list[str] = []
    for function, event in events.items():
        result = child.run(function, "app", event())
        rows.append(
            Row(
                f"peak memory: {function} handler, imported and invoked once "
                "(baseline: interpreter that imported boto3)",
                result["maxrss_mb"],
                boto3_mb,
                "MB",
                target=f"≤ {MEMORY_LIMIT_MB} MB",
                check=lambda row: row.ours <= MEMORY_LIMIT_MB,
                ratio_as_share=True,
            )
        )
        first.append(
            f"{function} {(result['import_s'] + result['invoke_s']) * 1000:.0f} ms "
            f"(import {result['import_s'] * 1000:.0f} + first invocation {result['invoke_s'] * 1000:.0f})"
        )
    return rows, first
