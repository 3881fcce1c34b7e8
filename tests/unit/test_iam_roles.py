"""The emulated roles come from template.yaml, and a permission no function uses is named."""

from __future__ import annotations

import copy

import pytest

from emulator.iam import FUNCTIONS, role_policy, template_actions, unused_permissions
from emulator.template import Stack, load_template, parameter_values

TEMPLATE = load_template()


def stack_with(**parameters: str) -> Stack:
    overrides = {"DefaultSender": "982164063188", **parameters}
    return Stack("t", "eu-west-1", TEMPLATE, parameter_values(TEMPLATE, overrides))


def granted(policy: dict) -> set[str]:
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def everything_used() -> dict[str, set[str]]:
    return {logical: template_actions(TEMPLATE, logical) for logical in FUNCTIONS.values()}


def test_given_the_template_when_roles_are_emulated_then_statements_are_on_any_resource_without_condition():
    policy = role_policy(stack_with(), "SendFunction")

    assert {statement["Resource"] for statement in policy["Statement"]} == {"*"}
    assert all("Condition" not in statement for statement in policy["Statement"])
    assert {"dynamodb:Query", "secretsmanager:GetSecretValue"} <= granted(policy)
    assert "events:PutEvents" not in granted(policy)  # only the publish function talks to the bus
    assert "events:PutEvents" in granted(role_policy(stack_with(), "PublishFunction"))


def test_given_no_subnets_when_roles_are_emulated_then_the_vpc_statement_is_left_out_and_with_subnets_kept():
    outside = granted(role_policy(stack_with(), "PollFunction"))
    inside = granted(role_policy(stack_with(SubnetIds="subnet-1", SecurityGroupIds="sg-1"), "PollFunction"))

    assert "ec2:CreateNetworkInterface" not in outside
    assert inside - outside == {
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
    }


def test_given_every_action_used_when_checked_then_nothing_is_reported():
    assert unused_permissions(TEMPLATE, everything_used()) == []


def test_given_an_action_no_function_called_when_checked_then_the_function_and_action_are_named():
    used = everything_used()
    used["SendFunction"] = used["SendFunction"] - {"dynamodb:Query"}

    [problem] = unused_permissions(TEMPLATE, used)

    assert problem.startswith("SendFunction: its role in template.yaml allows dynamodb:Query")


def test_given_actions_aws_uses_for_the_function_when_never_called_then_they_are_not_reported():
    used = everything_used()
    used["PollFunction"] = used["PollFunction"] - {"sqs:SendMessage", "ec2:DeleteNetworkInterface"}

    assert unused_permissions(TEMPLATE, used) == []


def test_given_a_sam_policy_template_when_roles_are_emulated_then_it_is_refused_not_ignored():
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["ReceiveFunction"]["Properties"]["Policies"].append(
        {"DynamoDBCrudPolicy": {"TableName": {"Ref": "MessagesTable"}}}
    )

    with pytest.raises(NotImplementedError, match="DynamoDBCrudPolicy"):
        template_actions(template, "ReceiveFunction")
