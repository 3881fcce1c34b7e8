"""The functions as Lambda runs them: their real handler modules, each in execution environments of
its own (processes with the function's environment and role credentials only, as many as its
invocations may overlap), invoked with a Lambda context.

The handler comes from the template (``Handler: app.lambda_handler`` of ``functions/<name>/``).
"""

from __future__ import annotations

import concurrent.futures
import importlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from emulator.gateway import Clock, run_on
from emulator.iam import FUNCTIONS
from emulator.lambda_events import LambdaContext
from emulator.template import Stack

Handler = Callable[[dict[str, Any], Any], Any]


def handler(stack: Stack, name: str) -> Handler:
    """The handler the template names for function ``name`` (``send``, ``poll`` …), imported now."""
    return _import(name, stack.function(FUNCTIONS[name])["Handler"])


def _import(name: str, spec: str) -> Handler:
    module_name, function_name = spec.rsplit(".", 1)
    return getattr(importlib.import_module(f"functions.{name}.{module_name}"), function_name)  # type: ignore[no-any-return]


class FunctionProcesses:
    """Execution environments for every function, ``overlap[name]`` processes each (default 1).

    ``environments`` holds each function's variables by logical id (template values and role
    credentials); ``log_file``, when given, takes the functions' output (their JSON logs and metrics)
    instead of this process's terminal. Every function runs on ``clock``."""

    def __init__(
        self,
        stack: Stack,
        environments: Mapping[str, dict[str, str]],
        clock: Clock,
        *,
        overlap: Mapping[str, int] | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.stack = stack
        self.invocations: dict[str, int] = dict.fromkeys(FUNCTIONS, 0)
        self._pools: dict[str, concurrent.futures.ProcessPoolExecutor] = {}
        for name, logical in FUNCTIONS.items():
            self._pools[name] = concurrent.futures.ProcessPoolExecutor(
                max_workers=(overlap or {}).get(name, 1),
                mp_context=multiprocessing.get_context("spawn"),  # nothing inherited but the environment
                initializer=_become,
                initargs=(name, stack.function(logical)["Handler"], environments[logical], clock, log_file),
            )
        for pool in self._pools.values():  # cold starts now, not on the first event
            pool.submit(os.getpid).result()

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """Invoke function ``name`` with ``event`` and wait for its result (its exception, as text)."""
        timeout = self.stack.function_timeout(FUNCTIONS[name])
        context = LambdaContext(function_name=f"{self.stack.name}-{name}", timeout_s=timeout)
        self.invocations[name] += 1
        return self._pools[name].submit(_invoke, event, context).result()

    def stop(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)


# -- inside a function's process -------------------------------------------------------------------------
_HANDLER: dict[str, Handler] = {}  # this process's function's handler


def _become(name: str, spec: str, environment: dict[str, str], clock: Clock, log_file: Path | None) -> None:
    """Become one function's execution environment: its variables and credentials, its handler."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the stack, which stops this process
    if log_file is not None:
        _write_output_to(log_file)
    os.environ.update(environment)
    run_on(clock)  # the whole local world runs on one clock
    _HANDLER["handler"] = _import(name, spec)


def _write_output_to(path: Path) -> None:
    """This process's stdout and stderr (the Lambda runtime's log stream) appended to ``path``."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]


def _invoke(event: dict[str, Any], context: LambdaContext) -> Any:
    try:
        return _HANDLER["handler"](event, context)
    except Exception as error:  # its traceback as text: not every exception survives pickling
        import traceback

        raise RuntimeError(f"the handler failed:\n{traceback.format_exc()}") from error
