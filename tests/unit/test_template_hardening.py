"""template.yaml, read as data: least privilege by resource, transport, encryption, retention, poll's
schedule and alarms, and a reason for every scanner suppression."""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Any

import pytest
from sms_gateway.settings import DLQ_RETENTION_HOURS

from emulator.iam import FUNCTIONS, template_actions
from emulator.template import Stack, load_template, parameter_values

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
VPC_ACTIONS = {"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface"}


def statements(logical: str) -> list[dict[str, Any]]:
    """Every statement of a function's policies, both branches of every condition."""
    found = []
    for policy in RESOURCES[logical]["Properties"]["Policies"]:
        branches = policy["Fn::If"][1:] if "Fn::If" in policy else [policy]
        for branch in branches:
            if isinstance(branch, dict) and "Statement" in branch:
                found.extend(branch["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def references(value: Any) -> str:
    return json.dumps(value)


def env(logical: str) -> dict[str, Any]:
    return RESOURCES[logical]["Properties"]["Environment"]["Variables"]


# -- least privilege ---------------------------------------------------------------------------------
def test_given_the_receive_role_then_it_reads_only_the_inbound_secret_and_never_the_asanak_credentials():
    receive = references(statements("ReceiveFunction"))

    assert "AsanakSecret" not in receive
    assert "InboundSecret" in receive
    assert env("ReceiveFunction")["INBOUND_SECRET_ID"] == {"Ref": "InboundSecret"}
    assert "SECRET_ID" not in env("ReceiveFunction")
    assert "SECRET_ID" not in TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]


@pytest.mark.parametrize("logical", ["SendFunction", "PollFunction"])
def test_given_send_or_poll_then_they_read_the_asanak_secret_and_not_the_inbound_token(logical):
    policy = references(statements(logical))

    assert "AsanakSecret" in policy
    assert "InboundSecret" not in policy
    assert env(logical)["SECRET_ID"] == {"Ref": "AsanakSecret"}


def test_given_the_receive_role_then_it_cannot_delete_table_items():
    assert not any(
        action.startswith("dynamodb:Delete") for action in template_actions(TEMPLATE, "ReceiveFunction")
    )


@pytest.mark.parametrize("logical", list(FUNCTIONS.values()))
def test_given_any_function_role_then_only_the_vpc_network_actions_are_on_every_resource(logical):
    for statement in statements(logical):
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= VPC_ACTIONS, statement
        assert not any("*" in action for action in as_list(statement["Action"])), statement


def test_given_the_inbound_url_command_when_run_then_it_prints_the_url_with_the_token_of_the_inbound_secret(
    tmp_path, monkeypatch
):
    stack = Stack(
        "asanak-sms", "eu-central-1", TEMPLATE, parameter_values(TEMPLATE, {"DefaultSender": "98300"})
    )
    stack.physical.update(InboundApi="abc123", InboundSecret="arn:inbound", AsanakSecret="arn:asanak")
    # A stand-in for the AWS CLI: answers only for the inbound secret, as the receive role could.
    fake_aws = tmp_path / "aws"
    fake_aws.write_text(
        "#!/bin/sh\n"
        'case "$*" in *"--secret-id arn:inbound "*) echo \'{"inbound_token": "Tok3n"}\' ;;\n'
        "  *) exit 3 ;;\nesac\n"
    )
    fake_aws.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")

    command = stack.resolve(TEMPLATE["Outputs"]["InboundUrlCommand"]["Value"])
    printed = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout

    assert printed.strip() == "https://abc123.execute-api.eu-central-1.amazonaws.com/inbound/Tok3n"
    assert (
        RESOURCES["InboundSecret"]["Properties"]["GenerateSecretString"]["GenerateStringKey"]
        == "inbound_token"
    )


# -- transport ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://panel.asanak.com/webservice/v1rest", True),
        ("https://asanak.example:8443/api", True),
        ("http://panel.asanak.com/webservice/v1rest", False),
        ("http://127.0.0.1:8080", False),  # loopback is for the local stack, never a deployed function
        ("https://panel.asanak.com/webservice/v1rest/", False),
        ("ftp://panel.asanak.com", False),
        ("https://", False),
    ],
)
def test_given_an_asanak_base_url_when_deployed_then_only_https_passes_the_template(url, allowed):
    pattern = PARAMETERS["AsanakBaseUrl"]["AllowedPattern"]

    assert bool(re.fullmatch(pattern, url)) is allowed
    assert re.fullmatch(pattern, PARAMETERS["AsanakBaseUrl"]["Default"])


# -- retention ---------------------------------------------------------------------------------------
def test_given_the_smallest_retention_the_template_accepts_then_it_covers_the_dlq_and_the_default_horizon():
    dlq_seconds = RESOURCES["SendDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    assert dlq_seconds == DLQ_RETENTION_HOURS * 3600
    assert RESOURCES["SendQueue"]["Properties"]["MessageRetentionPeriod"] <= dlq_seconds

    minimum_hours = PARAMETERS["RetentionDays"]["MinValue"] * 24

    assert minimum_hours >= DLQ_RETENTION_HOURS + PARAMETERS["TrackingHours"]["Default"]
    assert minimum_hours >= DLQ_RETENTION_HOURS + PARAMETERS["TrackingHours"]["MinValue"]
    assert (
        PARAMETERS["RetentionDays"]["Default"] * 24
        >= DLQ_RETENTION_HOURS + PARAMETERS["TrackingHours"]["Default"]
    )


# -- encryption --------------------------------------------------------------------------------------
KMS_SWITCH = {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}]}
ENCRYPTED_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::Logs::LogGroup",
    "AWS::SecretsManager::Secret",
}


def switched_to_the_customer_key(value: Any) -> bool:
    if isinstance(value, dict):
        if "Fn::If" in value and value["Fn::If"][:2] == KMS_SWITCH["Fn::If"]:
            return True
        return any(switched_to_the_customer_key(v) for v in value.values())
    if isinstance(value, list):
        return any(switched_to_the_customer_key(v) for v in value)
    return False


@pytest.mark.parametrize(
    "logical", sorted(name for name, res in RESOURCES.items() if res["Type"] in ENCRYPTED_TYPES)
)
def test_given_a_kms_key_arn_then_every_stateful_resource_switches_to_it(logical):
    assert switched_to_the_customer_key(RESOURCES[logical]["Properties"])


@pytest.mark.parametrize(
    "logical", sorted(name for name, res in RESOURCES.items() if res["Type"] == "AWS::SQS::Queue")
)
def test_given_no_kms_key_then_every_queue_is_still_encrypted_by_sqs(logical):
    assert RESOURCES[logical]["Properties"]["SqsManagedSseEnabled"] == {
        "Fn::If": ["HasKmsKey", {"Ref": "AWS::NoValue"}, True]
    }


def test_given_no_kms_key_then_the_alarm_topic_uses_a_rotated_key_cloudwatch_may_use():
    topic_key = RESOURCES["AlarmTopic"]["Properties"]["KmsMasterKeyId"]
    key = RESOURCES["AlarmTopicKey"]

    assert topic_key == {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AlarmTopicKey"}]}
    assert key["Condition"] == "NoKmsKey"
    assert key["Properties"]["EnableKeyRotation"] is True
    principals = [s["Principal"] for s in key["Properties"]["KeyPolicy"]["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals
    assert "*" not in principals


def test_every_scanner_suppression_names_its_check_and_says_why():
    skips = [
        (logical, skip)
        for logical, res in RESOURCES.items()
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]

    assert skips  # the six of the report
    for logical, skip in skips:
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), logical
        assert len(skip.get("comment", "")) > 30, logical


# -- poll: stale ticks and throttles ---------------------------------------------------------------------
def test_given_a_tick_throttled_behind_a_running_poll_then_it_is_dropped_after_a_minute_not_replayed():
    poll = RESOURCES["PollFunction"]["Properties"]
    retry = poll["Events"]["Tick"]["Properties"]["RetryPolicy"]

    assert poll["EventInvokeConfig"]["MaximumEventAgeInSeconds"] == 60
    assert poll["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    assert (retry["MaximumEventAgeInSeconds"], retry["MaximumRetryAttempts"]) == (60, 0)
    assert poll["ReservedConcurrentExecutions"] == 1


def test_given_poll_throttled_by_its_single_run_design_then_no_alarm_fires_on_a_single_throttle():
    def alarm_metrics(logical: str) -> list[tuple[str, str]]:
        props = RESOURCES[logical]["Properties"]
        if "MetricName" in props:
            return [(props["MetricName"], references(props["Dimensions"]))]
        return [
            (q["MetricStat"]["Metric"]["MetricName"], references(q["MetricStat"]["Metric"]["Dimensions"]))
            for q in props["Metrics"]
            if "MetricStat" in q
        ]

    poll_throttles = [
        (logical, res["Properties"])
        for logical, res in RESOURCES.items()
        if res["Type"] == "AWS::CloudWatch::Alarm"
        and any(name == "Throttles" and "PollFunction" in dims for name, dims in alarm_metrics(logical))
    ]

    [(logical, alarm)] = poll_throttles
    assert logical == "PollThrottleAlarm"
    assert alarm["Threshold"] > 0 and alarm["DatapointsToAlarm"] >= 3
    # A dropped tick lands in PollFailureQueue too: the failed-run alarm counts Lambda errors instead.
    assert alarm_metrics("PollFailureAlarm") == [
        ("Errors", references([{"Name": "FunctionName", "Value": {"Ref": "PollFunction"}}]))
    ]
