"""Where a running local stack serves (``endpoints.json``): for producers, SDKs and its tests."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from smsctl.producer import Target


@dataclass
class Endpoints:
    aws: str
    region: str
    queue_url: str
    dlq_url: str
    bus_name: str
    table_name: str
    secret_arn: str
    api: str
    inbound_url: str
    asanak: str
    sandbox: bool
    access_key_id: str  # an administrator of the emulation (moto checks IAM)
    secret_access_key: str

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)

    @classmethod
    def read(cls, path: Path) -> Endpoints:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    @property
    def target(self) -> Target:
        """Where producers send: the queue, table and bus on this stack's AWS endpoint."""
        return Target(
            self.queue_url,
            self.table_name,
            self.bus_name,
            self.aws,
            self.region,
            credentials=(self.access_key_id, self.secret_access_key),
        )

    @property
    def sandbox_url(self) -> str:
        """The sandbox's ``scheme://host:port``: its control plane is under ``/_sandbox/`` there."""
        parts = urllib.parse.urlsplit(self.asanak)
        return f"{parts.scheme}://{parts.netloc}"
