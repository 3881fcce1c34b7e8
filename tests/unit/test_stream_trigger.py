"""The local stack's DynamoDB stream mapping behaves as Lambda's where the publish function relies on it."""

from __future__ import annotations

from emulator.triggers.stream import StreamTrigger


class Reader:
    def __init__(self, records: list[dict]) -> None:
        self.records = records

    def read(self, limit: int = 1000) -> list[dict]:
        taken, self.records = self.records[:limit], self.records[limit:]
        return taken


def record(sequence: str) -> dict:
    return {"dynamodb": {"SequenceNumber": sequence}}


def test_given_a_failure_identifier_that_is_no_record_of_the_batch_then_the_whole_batch_comes_again():
    seen: list[list[str]] = []
    answers = iter([{"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}, {"batchItemFailures": []}])

    def handler(event: dict) -> dict:
        seen.append([r["dynamodb"]["SequenceNumber"] for r in event["Records"]])
        return next(answers)

    trigger = StreamTrigger(Reader([record("1"), record("2")]), handler)

    assert trigger.pump() == 0  # nothing checkpointed: the shard waits for Lambda's retry
    assert trigger.pump() == 2
    assert seen == [["1", "2"], ["1", "2"]]


def test_given_a_record_failing_every_retry_then_it_goes_to_the_failure_destination_and_the_rest_goes_on():
    parked: list[dict] = []

    def handler(event: dict) -> dict:
        return (
            {"batchItemFailures": [{"itemIdentifier": "2"}]}
            if event["Records"][0]["dynamodb"]["SequenceNumber"] == "2"
            else {"batchItemFailures": []}
        )

    trigger = StreamTrigger(
        Reader([record("1"), record("2"), record("3")]),
        handler,
        batch_size=1,
        max_retries=2,
        on_failure=parked.append,
    )

    done = sum(trigger.pump() for _ in range(5))

    assert done == 3
    assert parked == [{"records": ["2"]}]
