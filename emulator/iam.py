"""Production's permissions on the emulation: moto's IAM access control, one role per function.

With access control on, moto accepts only requests SigV4-signed by a known principal and checks each
request's **action** against that principal's policies (toolchain.md, "Checked 2026-12-01"). moto
authorises non-S3 requests against resource ``*``, so the emulated role keeps each statement's actions
and widens its ``Resource`` to ``*`` (and drops ``Condition``): a call the template role does not
allow fails with ``AccessDenied``, as it would on AWS; a wrong resource ARN is not caught here.

- :func:`enforce` switches access control on and returns an administrator's credentials (the local
  stack's and the tests' own calls: provisioning, the event source mappings, the event tap).
- :func:`function_credentials` creates each function's role from ``template.yaml`` and returns the
  credentials ``sts:AssumeRole`` gives for it — what Lambda puts in the function's environment.
- :func:`unused_permissions` compares the actions a function was seen calling with its template role.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from emulator.template import ACCOUNT, Stack

FUNCTIONS = {
    "send": "SendFunction",
    "poll": "PollFunction",
    "receive": "ReceiveFunction",
    "publish": "PublishFunction",
}

ADMIN_USER = "emulation-admin"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# Requests moto serves without a signature before enforcement starts: create the admin user, give it
# its policy, create its access key.
_BOOTSTRAP_REQUESTS = 3

# Actions a role grants that no code of the function calls: AWS uses them on the function's behalf.
USED_BY_LAMBDA = {
    "ec2:CreateNetworkInterface": "Lambda itself attaches the function to the VPC (SubnetIds set)",
    "ec2:DescribeNetworkInterfaces": "Lambda itself attaches the function to the VPC (SubnetIds set)",
    "ec2:DeleteNetworkInterface": "Lambda itself attaches the function to the VPC (SubnetIds set)",
    "kms:Decrypt": "with KmsKeyArn set, Secrets Manager and SQS decrypt under that key with the function's "
    "credentials (never called by our code; the emulation runs without KmsKeyArn)",
}
USED_BY_LAMBDA_FOR = {
    "PublishFunction": {
        "sqs:SendMessage": "Lambda's stream event source mapping sends a batch that failed every retry to "
        "the OnFailure destination (PublishFailureQueue) with the function's role",
        "kms:GenerateDataKey": "with KmsKeyArn set, that delivery to the encrypted PublishFailureQueue makes "
        "a data key with the function's role",
    },
    "PollFunction": {
        "sqs:SendMessage": "Lambda's asynchronous invocation delivers a failed run to the OnFailure "
        "destination (PollFailureQueue) with the function's role",
        "kms:GenerateDataKey": "with KmsKeyArn set, that delivery to the encrypted PollFailureQueue makes "
        "SQS generate a data key with the function's role",
    },
}

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# -- the template's roles ------------------------------------------------------------------------------
def _statements(policy: Any, stack: Stack | None) -> list[dict[str, Any]]:
    """The statements of one ``Policies`` entry. With ``stack``, ``Fn::If`` takes the branch its
    condition selects for that stack's parameters; without, both branches (all it may ever grant)."""
    if isinstance(policy, dict) and set(policy) == {"Fn::If"}:
        condition, if_true, if_false = policy["Fn::If"]
        if stack is None:
            branches = [if_true, if_false]
        else:
            branches = [if_true if stack.condition(condition) else if_false]
        return [s for branch in branches for s in _statements(branch, stack)]
    if isinstance(policy, dict) and set(policy) == {"Ref"} and policy["Ref"] == "AWS::NoValue":
        return []
    if isinstance(policy, dict) and "Statement" in policy:
        statements = policy["Statement"]
        return list(statements if isinstance(statements, list) else [statements])
    # A managed policy name or a SAM policy template (e.g. DynamoDBCrudPolicy): not emulated yet.
    # Refuse rather than run the function with a role that differs from production's.
    raise NotImplementedError(
        f"the emulated roles cannot read the policy {policy!r}: write it as a statement, or teach "
        "emulator/iam.py the actions it grants"
    )


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return list(actions if isinstance(actions, list) else [actions])


def template_actions(template: Mapping[str, Any], logical: str) -> set[str]:
    """Every action the function's template role may allow (both branches of every condition)."""
    policies = template["Resources"][logical]["Properties"].get("Policies", [])
    actions: set[str] = set()
    for policy in policies if isinstance(policies, list) else [policies]:
        for statement in _statements(policy, None):
            if statement.get("Effect", "Allow") == "Allow":
                actions.update(_actions(statement))
    return actions


def role_policy(stack: Stack, logical: str) -> dict[str, Any]:
    """The function's role as moto can check it: the template's statements for this stack's
    parameters, with ``Resource: "*"`` and no ``Condition``."""
    policies = stack.function(logical).get("Policies", [])
    statements = [
        {"Effect": statement.get("Effect", "Allow"), "Action": _actions(statement), "Resource": "*"}
        for policy in (policies if isinstance(policies, list) else [policies])
        for statement in _statements(policy, stack)
    ]
    return {"Version": "2012-10-17", "Statement": statements}


# -- switching access control on --------------------------------------------------------------------------
def enforce(session: Any, endpoint: str) -> dict[str, str]:
    """Switch moto's access control on (on a server whose state was just reset) and create an
    administrator; its credentials as ``aws_access_key_id`` / ``aws_secret_access_key``."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=str(_BOOTSTRAP_REQUESTS).encode(),
        headers={"Content-Type": "text/plain"},  # moto reads the raw body, not a form
        method="POST",
    )
    with _OPENER.open(request, timeout=10) as response:
        response.read()
    iam = session.client(
        "iam", endpoint_url=endpoint, aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap"
    )
    iam.create_user(UserName=ADMIN_USER)
    iam.put_user_policy(UserName=ADMIN_USER, PolicyName="admin", PolicyDocument=json.dumps(ADMIN_POLICY))
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def function_credentials(
    admin: Any, stack: Stack, endpoint: str, *, roles: Mapping[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, str]]:
    """Create each function's role (``roles`` overrides a role's policy, by logical id) and assume it
    with ``admin`` (a boto3 Session); the environment Lambda gives each function, by logical id."""
    iam = admin.client("iam", endpoint_url=endpoint)
    sts = admin.client("sts", endpoint_url=endpoint)
    # On AWS the trust policy names lambda.amazonaws.com; here the administrator assumes the role on
    # Lambda's behalf (moto 5.2 cannot check a Service principal).
    admin_arn = f"arn:aws:iam::{ACCOUNT}:user/{ADMIN_USER}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": admin_arn}, "Action": "sts:AssumeRole"}],
    }
    environments: dict[str, dict[str, str]] = {}
    for logical in FUNCTIONS.values():
        policy = (roles or {}).get(logical) or role_policy(stack, logical)
        name = f"{stack.name}-{logical}Role"
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="function", PolicyDocument=json.dumps(policy))
        credentials = sts.assume_role(RoleArn=arn, RoleSessionName=logical)["Credentials"]
        environments[logical] = {
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }
    return environments


# -- least privilege -------------------------------------------------------------------------------------
def unused_permissions(template: Mapping[str, Any], used: Mapping[str, Iterable[str]]) -> list[str]:
    """One line per action a function's template role allows but the function was never seen calling
    (``used``: actions by logical id), except those AWS uses on the function's behalf."""
    problems = []
    for logical in FUNCTIONS.values():
        seen = set(used.get(logical, ()))
        exempt = set(USED_BY_LAMBDA) | set(USED_BY_LAMBDA_FOR.get(logical, {}))
        for action in sorted(template_actions(template, logical) - seen - exempt):
            problems.append(
                f"{logical}: its role in template.yaml allows {action}, which the function never called "
                "in this run; remove it from the role (or, if AWS uses it on the function's behalf, "
                "list it with the reason in emulator/iam.py)"
            )
    return problems
