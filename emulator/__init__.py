"""AWS on one machine for the gateway: moto, the stack from ``template.yaml``, and Lambda's side.

Shared by the local stack (``make run``), the tests and the benchmarks, so each does these once:

- :mod:`~emulator.moto_server`: moto's server (a process of its own, or a thread of this one);
- :mod:`~emulator.deploy` (with :mod:`~emulator.template` and :mod:`~emulator.iam`): the template's
  resources provisioned, each function's environment and its own role's credentials (moto checks IAM);
- :mod:`~emulator.functions`: the real handlers in execution environments of their own;
- :mod:`~emulator.triggers`: SQS, schedule, HTTP API and stream, each played as Lambda plays it;
- :mod:`~emulator.tap`: what the bus publishes, as a consumer sees it;
- :mod:`~emulator.gateway`: the one place that sets the gateway's clock and forgets its services.
"""
