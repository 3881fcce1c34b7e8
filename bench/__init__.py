"""Benchmarks of the gateway against naive baselines, measured in the same run (``make bench``).

Each figure is ours next to a small, honest naive implementation of the same job on the same Asanak
client, sandbox and moto server (:mod:`bench.naive`):

1. :mod:`bench.provider_calls` — ``sendsms`` calls per 1,000 recipients of one text.
2. :mod:`bench.send_cost` — send handler time per message, SQS batches of 10, provider at 150 ms.
3. :mod:`bench.poll_cost` — msgstatus calls, DynamoDB items read and run time of one poll run.
4. :mod:`bench.cold_start` — handler import time in fresh interpreters, peak memory of one invocation.
5. :mod:`bench.throughput` — recipients per second through the local stack (``python -m local_stack``).

Nothing here asserts a time: the table says which targets are met on this machine.
"""
