"""The producer CLI against the stack's real queue (moto)."""

from __future__ import annotations

import json


def test_given_no_id_when_the_cli_sends_then_the_queued_body_carries_a_fresh_id(stack, capsys):
    from smsctl.__main__ import main

    queue_url = stack.stack.physical["SendQueue"]
    assert main(["--queue-url", queue_url, "send", "--to", "09121234567", "--text", "hi"]) == 0
    assert main(["--queue-url", queue_url, "send", "--to", "09121234567", "--text", "hi"]) == 0

    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    sqs = stack.client("sqs")
    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    ]
    ids = {body["id"] for body in bodies}
    assert len(ids) == 2  # a redrive of either keeps its id; two sends are two requests
    assert ids == {line["request_id"] for line in printed}
