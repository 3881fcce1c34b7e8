"""Read ``template.yaml`` and create its stateful resources on an AWS emulation (moto's server).

The local stack and the integration tests both provision from the real template, so what runs on one
machine cannot drift from what ``sam deploy`` creates: the table with its keys, index and TTL; the
queues with their redrive policy and visibility timeout; the secrets (the Asanak credentials, and
the inbound secret with a generated token); the bus. Function settings (environment, timeout, batch
size, schedule) are read from it too.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
ACCOUNT = "123456789012"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that understands CloudFormation's short-form tags."""


def _tag(name: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _short, _long in {
    "Ref": "Ref",
    "GetAtt": "Fn::GetAtt",
    "Sub": "Fn::Sub",
    "If": "Fn::If",
    "Not": "Fn::Not",
    "Equals": "Fn::Equals",
    "Join": "Fn::Join",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "FindInMap": "Fn::FindInMap",
    "GetAZs": "Fn::GetAZs",
    "ImportValue": "Fn::ImportValue",
    "Condition": "Condition",
}.items():
    _CfnLoader.add_constructor(f"!{_short}", _tag(_long))


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)


@dataclass
class Stack:
    """What was provisioned: physical ids by logical id, and resolved parameters."""

    name: str
    region: str
    template: dict[str, Any]
    parameters: dict[str, str]
    physical: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    secret_values: dict[str, dict[str, str]] = field(default_factory=dict)  # by the secret's logical id

    @property
    def secret_value(self) -> dict[str, str]:
        """Every secret's keys in one mapping (``inbound_token`` from InboundSecret, ``username``… from
        AsanakSecret): keys are distinct across the template's secrets."""
        merged: dict[str, str] = {}
        for logical in sorted(self.secret_values, key=lambda name: name == "InboundSecret"):
            merged.update(self.secret_values[logical])
        return merged

    # -- resolution of intrinsic functions --------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            intrinsic = self._intrinsics.get(key)
            if intrinsic is not None:
                return intrinsic(arg)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    @property
    def _intrinsics(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": lambda arg: self._getatt(*arg),
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
        }

    def _join(self, arg: Any) -> str:
        sep, items = arg
        items = self.resolve(items)
        if isinstance(items, str):  # a CommaDelimitedList parameter
            items = items.split(",") if items else []
        return str(sep).join(str(self.resolve(item)) for item in items)

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::StackName": self.name,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::Partition": "aws",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        return name

    def _getatt(self, logical: str, attribute: str) -> str:
        if attribute == "Arn" and logical in self.arns:
            return self.arns[logical]
        return f"{logical}.{attribute}"

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name:
                logical, attribute = name.split(".", 1)
                return self._getatt(logical, attribute)
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def condition(self, name: str) -> bool:
        """The value of one of the template's ``Conditions`` for this stack's parameters."""
        return self._evaluate(self.template.get("Conditions", {})[name])

    def _evaluate(self, expression: Any) -> bool:
        ((key, arg),) = expression.items()
        if key == "Fn::Not":
            return not self._evaluate(arg[0])
        if key == "Fn::And":
            return all(self._evaluate(item) for item in arg)
        if key == "Fn::Or":
            return any(self._evaluate(item) for item in arg)
        if key == "Fn::Equals":
            left, right = (self.resolve(item) for item in arg)
            return bool(left == right)
        if key == "Condition":
            return self.condition(arg)
        raise ValueError(f"cannot evaluate the condition {expression!r}")

    # -- function settings ------------------------------------------------------------------------
    def function(self, logical: str) -> dict[str, Any]:
        return self.template["Resources"][logical]["Properties"]

    def function_env(self, logical: str) -> dict[str, str]:
        """The function's environment as Lambda would see it (Globals merged with its own)."""
        merged: dict[str, Any] = {}
        globals_env = self.template.get("Globals", {}).get("Function", {}).get("Environment", {})
        merged.update(globals_env.get("Variables", {}))
        merged.update(self.function(logical).get("Environment", {}).get("Variables", {}))
        return {name: str(self.resolve(value)) for name, value in merged.items()}

    def function_timeout(self, logical: str) -> int:
        globals_fn = self.template.get("Globals", {}).get("Function", {})
        return int(self.function(logical).get("Timeout", globals_fn.get("Timeout", 3)))

    def event_of_type(self, logical: str, event_type: str) -> dict[str, Any]:
        for event in self.function(logical).get("Events", {}).values():
            if event["Type"] == event_type:
                return self.resolve(event["Properties"])
        raise KeyError(f"{logical} has no {event_type} event")


def parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in overrides:
            values[name] = str(overrides[name])
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            raise ValueError(f"template parameter {name} has no default: give a value")
    return values


def _queue_order(resources: dict[str, Any]) -> list[str]:
    queues = [name for name, res in resources.items() if res["Type"] == "AWS::SQS::Queue"]
    return sorted(queues, key=lambda name: "RedrivePolicy" in resources[name].get("Properties", {}))


def provision(
    session: Any,
    *,
    stack_name: str,
    overrides: dict[str, str],
    endpoint_url: str | None = None,
    template: dict[str, Any] | None = None,
) -> Stack:
    """Create the template's table, queues, secret and bus through ``session`` (a boto3 Session)."""
    template = template or load_template()
    stack = Stack(stack_name, session.region_name, template, parameter_values(template, overrides))
    resources = template["Resources"]

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)

    creators = {
        "AWS::DynamoDB::Table": lambda logical, props: _create_table(
            stack, client("dynamodb"), logical, props
        ),
        "AWS::Events::EventBus": lambda logical, props: _create_bus(stack, client("events"), logical, props),
        "AWS::SecretsManager::Secret": lambda logical, props: _create_secret(
            stack, client("secretsmanager"), logical, props, overrides.get(f"{logical}.value")
        ),
    }
    for logical, res in resources.items():
        if res["Type"] in creators:
            creators[res["Type"]](logical, stack.resolve(res.get("Properties", {})))
    sqs = client("sqs")
    for logical in _queue_order(resources):
        _create_queue(stack, sqs, logical, stack.resolve(resources[logical].get("Properties", {})))
    return stack


def _create_table(stack: Stack, ddb: Any, logical: str, props: dict[str, Any]) -> None:
    name = f"{stack.name}-{logical}"
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("StreamSpecification"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    ddb.create_table(**kwargs)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    stack.physical[logical] = name
    stack.arns[logical] = f"arn:aws:dynamodb:{stack.region}:{ACCOUNT}:table/{name}"


def _create_bus(stack: Stack, events: Any, logical: str, props: dict[str, Any]) -> None:
    name = props["Name"]
    stack.physical[logical] = name
    stack.arns[logical] = events.create_event_bus(Name=name)["EventBusArn"]


def _create_secret(
    stack: Stack, secretsmanager: Any, logical: str, props: dict[str, Any], override: str | None
) -> None:
    """The secret's value: generated as the template says, then ``override`` (JSON) merged in."""
    generate = props.get("GenerateSecretString", {})
    value = json.loads(generate.get("SecretStringTemplate", "{}"))
    if generate.get("GenerateStringKey"):
        value[generate["GenerateStringKey"]] = secrets.token_urlsafe(30)
    if override:
        value.update(json.loads(override))
    arn = secretsmanager.create_secret(Name=f"{stack.name}-{logical}", SecretString=json.dumps(value))["ARN"]
    stack.physical[logical] = arn
    stack.arns[logical] = arn
    stack.secret_values[logical] = value


_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
)


def _create_queue(stack: Stack, sqs: Any, logical: str, props: dict[str, Any]) -> None:
    attributes = {key: str(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    url = sqs.create_queue(QueueName=f"{stack.name}-{logical}", Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.physical[logical] = url
    stack.arns[logical] = arn
