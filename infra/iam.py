"""IAM: one role per kind of function, each limited to this stack's own resources.

`DefaultRole` (Chalice's) is the API handler's; `StreamConsumerRole` the
stream consumer's; `WorkerRole` the schedules' and the other asynchronously
invoked functions' (deliver_webhook). No wildcard action, no `Scan`, every
resource named by reference.
"""

from __future__ import annotations

from typing import Any

from .functions import STREAM_CONSUMER, WEBHOOK, Function, by_name
from .names import ASYNC_QUEUE, DEFAULT_ROLE, KEY, QUEUE, STREAM_ROLE, TABLE, WORKER_ROLE, arn

TABLE_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
]  # TransactWriteItems is authorized through these; no Scan: no request path scans (DESIGN.md)
STREAM_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
XRAY_POLICY = {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"}


def role_of(function: Function) -> str:
    if function.kind == "api":
        return DEFAULT_ROLE
    if function.name == STREAM_CONSUMER:
        return STREAM_ROLE
    return WORKER_ROLE


def invokes_webhook(function: Function) -> bool:
    """The stream consumer and the schedules hand webhook messages to deliver_webhook (issue 14)."""
    return function.name == STREAM_CONSUMER or function.kind == "schedule"


def _policy(name: str, members: list[Function], ssm_path: str, webhook: Function | None) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [arn(f.log_group) for f in members],
        },
        {
            "Sid": "UseTable",
            "Effect": "Allow",
            "Action": TABLE_ACTIONS,
            "Resource": [arn(TABLE), {"Fn::Sub": f"${{{TABLE}.Arn}}/index/*"}],
        },
        {
            # ACCESS_KEY, ACCESS_SECRET, ..., and the *_PREVIOUS values kept during a rotation
            "Sid": "ReadSecrets",
            "Effect": "Allow",
            "Action": ["ssm:GetParameters"],
            "Resource": {
                "Fn::Sub": f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{ssm_path}*"
            },
        },
    ]
    sends_to = [QUEUE] if any(f.name == STREAM_CONSUMER for f in members) else []
    sends_to += [ASYNC_QUEUE] if any(f.invoked_async for f in members) else []
    # Decrypt: the function's environment (KmsKeyArn); GenerateDataKey: messages to the queues.
    key_actions = ["kms:Decrypt", *(["kms:GenerateDataKey"] if sends_to else [])]
    statements.append({"Sid": "UseServiceKey", "Effect": "Allow", "Action": key_actions, "Resource": arn(KEY)})
    if any(f.name == STREAM_CONSUMER for f in members):
        statements += [
            {"Sid": "ReadStream", "Effect": "Allow", "Action": STREAM_ACTIONS, "Resource": arn(TABLE, "StreamArn")},
            {
                "Sid": "ListStreams",
                "Effect": "Allow",
                "Action": ["dynamodb:ListStreams"],
                "Resource": {"Fn::Sub": f"${{{TABLE}.Arn}}/stream/*"},
            },
        ]
    if sends_to:
        statements.append(
            {
                "Sid": "ReportFailures",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": [arn(q) for q in sends_to],
            }
        )
    if webhook is not None and any(invokes_webhook(f) for f in members):
        statements.append(
            {
                "Sid": "InvokeWebhookDelivery",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": arn(webhook.logical_id),
            }
        )
    return {"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}


def _lambda_trust() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }


def roles(functions: list[Function], ssm_path: str) -> dict[str, Any]:
    webhook = by_name(functions, WEBHOOK)
    resources: dict[str, Any] = {}
    for role in (DEFAULT_ROLE, STREAM_ROLE, WORKER_ROLE):
        members = [f for f in functions if role_of(f) == role]
        if not members:
            continue
        properties = {
            "ManagedPolicyArns": [XRAY_POLICY],  # traces (Tracing: Active)
            "Policies": [_policy(f"{role}Policy", members, ssm_path, webhook)],
        }
        if role == DEFAULT_ROLE:  # Chalice's own: only its policies are replaced
            resources[role] = {"Properties": properties}
        else:
            resources[role] = {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": _lambda_trust(), **properties},
            }
    return resources
