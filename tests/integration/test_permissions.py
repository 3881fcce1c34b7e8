"""Each function runs with its template role only: a call outside it is denied, as on AWS."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.iam import template_actions
from emulator.template import load_template
from tests.integration.test_receive_function import with_sample_token


def role_without(logical: str, action: str) -> dict[str, Any]:
    actions = sorted(template_actions(load_template(), logical) - {action})
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}


def test_given_the_receive_role_when_it_reads_the_table_then_access_denied_but_it_may_put_an_item(stack):
    receive = boto3.Session(region_name=stack.stack.region)
    credentials = stack.function_credentials["ReceiveFunction"]
    dynamodb = receive.client(
        "dynamodb",
        endpoint_url=stack.endpoint,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )
    key = {"pk": {"S": "OPTOUT#989120000000"}, "sk": {"S": "#OPTOUT"}}

    dynamodb.put_item(TableName=stack.table_name, Item={**key, "number": {"S": "989120000000"}})
    with pytest.raises(ClientError) as denied:
        dynamodb.query(
            TableName=stack.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "REQ#anything"}},
        )

    assert "AccessDenied" in str(denied.value)
    assert "not authorized to perform: dynamodb:Query" in str(denied.value)


class TestARoleMissingAnActionItsCodeCalls:
    @pytest.fixture
    def roles(self) -> dict[str, dict[str, Any]]:
        return {"ReceiveFunction": role_without("ReceiveFunction", "dynamodb:PutItem")}

    def test_given_receive_without_putitem_when_a_push_arrives_then_it_fails_and_nothing_is_stored(
        self, stack, lambda_context
    ):
        from functions.receive import app

        response = app.lambda_handler(with_sample_token(stack, "receive-good"), lambda_context)

        assert response["statusCode"] == 503
        assert stack.items("IN#") == []
        assert stack.events() == []
