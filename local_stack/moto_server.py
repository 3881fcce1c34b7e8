"""moto's server, with DynamoDB's per-request atomicity restored (``python -m local_stack.moto_server``).

moto checks a write's condition and then applies it without a lock, and numbers a stream record before
appending it: two concurrent writes could both pass their conditions, or share a stream sequence
number (a stream reader resuming after it would be handed one record again and again). DynamoDB has
neither problem; one lock around every write gives the emulation the same guarantees (toolchain.md).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def serialize_dynamodb_writes() -> None:
    """Make every DynamoDB write of this process's moto backend atomic (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_writes_serialized", False):
        return

    lock = threading.RLock()
    for name in _WRITES:
        write = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, _write: Any = write, **kwargs: Any) -> Any:
            with lock:
                return _write(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)
    DynamoDBBackend._writes_serialized = True  # type: ignore[attr-defined]


if __name__ == "__main__":
    serialize_dynamodb_writes()
    from moto.server import main

    main(sys.argv[1:])
