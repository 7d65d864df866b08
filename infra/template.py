"""The merge template: what `chalice package --merge-template` lays over Chalice's own template.

Chalice writes the functions, the REST API and its permissions; this adds
the table (from `chalicelib.store.schema`, the schema the local stack uses),
the stream's event source mapping with its failure queue, a dead-letter
queue for the asynchronously invoked functions, one KMS key for what the
stack encrypts (logs, queues, environment), log groups, IAM limited to this
stack's own resources, API Gateway's access log, tracing and throttling, and
the alarms and dashboard of `observability.py`. Chalice merges it key by key
(dicts deep, lists replaced).

Every checkov check the template does not pass is skipped in the resource's
own `Metadata`, with its reason (`SKIPS`).
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.api.web import RETRY_AFTER_SECONDS  # the app's own 503 says the same
from chalicelib.secrets import PATH_VARIABLE, SECRET_NAMES
from chalicelib.store.schema import TTL_ATTRIBUTE, table_definition

from . import observability
from .functions import STREAM_CONSUMER, WEBHOOK, Function, by_name, functions_of
from .names import ASYNC_QUEUE, DASHBOARD, KEY, QUEUE, REST_API, TABLE
from .stages import limits_for

KEY_ALIAS = "ServiceKeyAlias"
MAPPING = "StreamConsumerEventSourceMapping"
DEFAULT_ROLE = "DefaultRole"  # Chalice's role: the API handler
STREAM_ROLE = "StreamConsumerRole"
WORKER_ROLE = "WorkerRole"  # the schedules and the other asynchronously invoked functions
ACCESS_LOG = "ApiAccessLogGroup"

LOG_RETENTION_DAYS = 30
FAILURE_RETENTION_SECONDS = 14 * 24 * 3600  # SQS maximum: time to look at what failed
# Bounded retries: a poison record is retried a few times (bisected down to itself),
# then reported to the queue and skipped instead of blocking its shard for 24 hours.
STREAM_MAPPING = {
    "StartingPosition": "TRIM_HORIZON",
    "BatchSize": 100,
    "MaximumBatchingWindowInSeconds": 1,
    "FunctionResponseTypes": ["ReportBatchItemFailures"],
    "BisectBatchOnFunctionError": True,
    "MaximumRetryAttempts": 5,
    "MaximumRecordAgeInSeconds": 6 * 3600,
}
# A schedule's tick that could not run (throttled, or failed) is not retried: the next
# tick, a minute later, does the same work. After 5 minutes a waiting tick is dropped
# into the dead-letter queue, so a slow schedule cannot pile up hours of ticks.
SCHEDULE_INVOKE = {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 300}

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
# Rotation (infra/README.md, "Rotating a secret"): the previous value stays accepted
# while clients move to the current one. Neither may be written in config.json.
ROTATED = ("ACCESS_SECRET", "MEMBER_HASH_SECRET")
PLAIN_FORBIDDEN = (*SECRET_NAMES, *(f"{name}_PREVIOUS" for name in SECRET_NAMES))

# checkov checks that do not fit this design, with the reason, per resource kind.
SKIPS: dict[str, dict[str, str]] = {
    "vpc": {
        "CKV_AWS_117": "No VPC by design: the functions reach DynamoDB, SSM and (deliver_webhook) the "
        "subscribers' HTTPS endpoints over AWS's public endpoints with IAM; a VPC would add NAT "
        "gateways and cold-start cost and protect nothing these functions hold.",
    },
    "sync": {
        "CKV_AWS_116": "Not invoked asynchronously, so a dead-letter queue never receives anything: the "
        "API handler answers every error to its caller, and the stream consumer's failed batches go "
        "to the event source mapping's on-failure destination (StreamFailureQueue).",
    },
    "api": {
        "CKV_AWS_120": "No API cache: every answer is per caller (session token, access key) and reads "
        "data that changes with each write; a cache would serve stale or another caller's data.",
    },
    "table": {
        "CKV_AWS_119": "Encrypted at rest with DynamoDB's AWS owned key (always on). A customer managed "
        "key would make every reader and the stream's poller depend on a key policy, and a disabled "
        "or deleted key would make this retained table unreadable; set SSESpecification in "
        "chalicelib/store/schema.py if a compliance regime requires key control.",
    },
}


def checkov_skips(*groups: str) -> dict[str, Any]:
    return {"checkov": {"skip": [{"id": i, "comment": c} for g in groups for i, c in SKIPS[g].items()]}}


def arn(resource: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, attribute]}


# stage settings ------------------------------------------------------------------------------


def stage_environment(config: dict[str, Any], stage: str) -> dict[str, str]:
    """The stage's environment variables as Chalice merges them (top level, then stage)."""
    if stage not in config.get("stages", {}):
        raise SystemExit(f"unknown stage {stage!r}; .chalice/config.json has: {', '.join(config.get('stages', {}))}")
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def refuse_plain_secrets(config: dict[str, Any]) -> None:
    """Credentials come from SSM on AWS; a plain value in config.json would land in the template."""
    scopes = [config, *config.get("stages", {}).values()]
    scopes += [f for scope in list(scopes) for f in scope.get("lambda_functions", {}).values()]
    for scope in scopes:
        leaked = sorted(set(scope.get("environment_variables", {})) & set(PLAIN_FORBIDDEN))
        if leaked:
            raise SystemExit(f".chalice/config.json sets {', '.join(leaked)}: keep them in SSM ({PATH_VARIABLE})")


# the table ---------------------------------------------------------------------------------


def table_resource(table_name: str) -> dict[str, Any]:
    """AWS::DynamoDB::Table from the CreateTable arguments the local stack uses, plus PITR and TTL."""
    definition = dict(table_definition(table_name))
    properties: dict[str, Any] = {}
    for key in (
        "TableName",
        "BillingMode",
        "AttributeDefinitions",
        "KeySchema",
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "ProvisionedThroughput",
        "TableClass",
        "DeletionProtectionEnabled",
        "Tags",
    ):
        if key in definition:
            properties[key] = definition.pop(key)
    stream = definition.pop("StreamSpecification", None)
    if stream and stream.get("StreamEnabled"):
        properties["StreamSpecification"] = {"StreamViewType": stream["StreamViewType"]}
    if "SSESpecification" in definition:
        sse = definition.pop("SSESpecification")
        properties["SSESpecification"] = {
            k: v for k, v in sse.items() if k in {"SSEEnabled", "SSEType", "KMSMasterKeyId"}
        }
    if definition:
        raise SystemExit(f"table_definition() has keys infra/ cannot render yet: {sorted(definition)}")
    properties["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    properties["TimeToLiveSpecification"] = {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    properties.setdefault("DeletionProtectionEnabled", True)
    # The data outlives the stack: deleting or replacing the stack leaves the table.
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Metadata": checkov_skips("table"),
        "Properties": properties,
    }


def index_names() -> list[str]:
    return [g["IndexName"] for g in table_definition().get("GlobalSecondaryIndexes", [])]


# encryption and queues -----------------------------------------------------------------------


def service_key(prefix: str, functions: list[Function]) -> dict[str, Any]:
    """One customer managed key for the stack's logs, queues and function environments.

    The account administers it (key policy → IAM); CloudWatch Logs may use it
    only for this stack's log groups. Nothing retained depends on it (the
    table uses DynamoDB's own key), so it goes with the stack.
    """
    log_groups = [f"/aws/lambda/{f.function_name}" for f in functions] + [access_log_name(prefix)]
    return {
        "Type": "AWS::KMS::Key",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {
            "Description": f"{prefix}: logs, failure queues and function environments",
            "EnableKeyRotation": True,
            "PendingWindowInDays": 30,
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AccountAdministersThroughIam",
                        "Effect": "Allow",
                        "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        "Sid": "CloudWatchLogsForThisStacksLogGroups",
                        "Effect": "Allow",
                        "Principal": {"Service": {"Fn::Sub": "logs.${AWS::Region}.${AWS::URLSuffix}"}},
                        "Action": [
                            "kms:Encrypt*",
                            "kms:Decrypt*",
                            "kms:ReEncrypt*",
                            "kms:GenerateDataKey*",
                            "kms:Describe*",
                        ],
                        "Resource": "*",
                        "Condition": {
                            "ArnLike": {
                                "kms:EncryptionContext:aws:logs:arn": [
                                    {
                                        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}"
                                        f":log-group:{name}"
                                    }
                                    for name in log_groups
                                ]
                            }
                        },
                    },
                ],
            },
        },
    }


def queue(description: str) -> dict[str, Any]:
    return {
        "Type": "AWS::SQS::Queue",
        "DeletionPolicy": "Delete",  # pointers into the stream (24 h) or failed invocations, not data
        "UpdateReplacePolicy": "Delete",
        "Metadata": {"Purpose": description},
        "Properties": {
            "MessageRetentionPeriod": FAILURE_RETENTION_SECONDS,
            "KmsMasterKeyId": {"Ref": KEY},
            "KmsDataKeyReusePeriodSeconds": 3600,  # failures are rare: one KMS call an hour at most
        },
    }


def log_group(name: str, retention: int = LOG_RETENTION_DAYS) -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {"LogGroupName": name, "RetentionInDays": retention, "KmsKeyId": arn(KEY)},
    }


# IAM ---------------------------------------------------------------------------------------


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


# functions ---------------------------------------------------------------------------------


def function_properties(function: Function, functions: list[Function], stage: str) -> dict[str, Any]:
    webhook = by_name(functions, WEBHOOK)
    variables: dict[str, Any] = {"TABLE_NAME": {"Ref": TABLE}, **observability.POWERTOOLS_ENVIRONMENT}
    if webhook is not None and invokes_webhook(function):
        variables["WEBHOOK_FUNCTION_NAME"] = {"Ref": webhook.logical_id}
    properties: dict[str, Any] = {
        "FunctionName": function.function_name,
        "Environment": {"Variables": variables},
        "KmsKeyArn": arn(KEY),
        "Tracing": "Active",
        "ReservedConcurrentExecutions": limits_for(stage).reserved_concurrency(function.name, function.kind),
        "Role": arn(role_of(function)),
    }
    if function.invoked_async:
        properties["DeadLetterQueue"] = {"Type": "SQS", "TargetArn": arn(ASYNC_QUEUE)}
    if function.kind == "schedule":
        properties["EventInvokeConfig"] = dict(SCHEDULE_INVOKE)
    return properties


def function_resources(functions: list[Function], stage: str) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for function in functions:
        resources[function.log_group] = log_group(f"/aws/lambda/{function.function_name}")
        resources[function.logical_id] = {
            "DependsOn": [function.log_group],
            "Metadata": checkov_skips("vpc", *([] if function.invoked_async else ["sync"])),
            "Properties": function_properties(function, functions, stage),
        }
    return resources


def stream_mapping(consumer: Function) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::EventSourceMapping",
        "DependsOn": [STREAM_ROLE],  # the role must allow reading the stream before the mapping is created
        "Properties": {
            "EventSourceArn": arn(TABLE, "StreamArn"),
            "FunctionName": {"Ref": consumer.logical_id},
            "Enabled": True,
            **STREAM_MAPPING,
            "DestinationConfig": {"OnFailure": {"Destination": arn(QUEUE)}},
        },
    }


# API Gateway -------------------------------------------------------------------------------

# API Gateway's own answers (unknown route, body too large, throttling, ...) in the
# contract's error shape: {"error": {"code", "message"}}. Throttling (the stage's
# limits, infra/stages.py) is the contract's busy answer: 503 `unavailable` with
# `Retry-After`, which clients (the SDK) retry. They carry no CORS headers: a gateway
# response applies to every route, Open API ones included, and cannot pick the
# caller's origin from ALLOWED_ORIGINS (infra/README.md, "CORS").
GATEWAY_RESPONSES: dict[str, tuple[str, str | None, str, str, bool]] = {
    # logical id: (response type, status or None to keep the gateway's, code, message, Retry-After)
    "MissingRouteResponse": ("MISSING_AUTHENTICATION_TOKEN", "404", "not_found", "no such route", False),
    "TooLargeResponse": ("REQUEST_TOO_LARGE", "413", "payload_too_large", "$context.error.messageString", False),
    "ThrottledResponse": ("THROTTLED", "503", "unavailable", "the service is busy; try again", True),
    "Default4xxResponse": ("DEFAULT_4XX", None, "invalid_request", "$context.error.messageString", False),
    "Default5xxResponse": ("DEFAULT_5XX", None, "unavailable", "$context.error.messageString", True),
}

# One JSON line per request: what happened, never who (no source IP, user agent,
# path parameters or query: resourcePath is the route's template).
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "time": "$context.requestTimeEpoch",
    "method": "$context.httpMethod",
    "route": "$context.resourcePath",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "errorType": "$context.error.responseType",
    "responseLength": "$context.responseLength",
    "xrayTraceId": "$context.xrayTraceId",
}


def access_log_name(prefix: str) -> str:
    return f"/aws/apigateway/{prefix}/access"


def gateway_responses() -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for logical_id, (response_type, status, code, message, retry) in GATEWAY_RESPONSES.items():
        body = json.dumps({"error": {"code": code, "message": message}})
        properties: dict[str, Any] = {
            "RestApiId": {"Ref": REST_API},
            "ResponseType": response_type,
            "ResponseTemplates": {"application/json": body},
        }
        if status is not None:
            properties["StatusCode"] = status
        if retry:
            properties["ResponseParameters"] = {"gatewayresponse.header.Retry-After": f"'{RETRY_AFTER_SECONDS}'"}
        resources[logical_id] = {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": properties}
    return resources


def method_path(path: str) -> str:
    """A route as MethodSettings names it: `/v1/imports` → `/~1v1~1imports`."""
    return "/" + path.replace("/", "~1")


def method_settings(stage: str, routes: dict[str, Any]) -> list[dict[str, Any]]:
    limits = limits_for(stage)
    settings = [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": limits.api.rate,
            "ThrottlingBurstLimit": limits.api.burst,
            "MetricsEnabled": False,  # per-route metrics are billed as custom metrics; the stage's are free
            "DataTraceEnabled": False,  # would log request and response bodies: personal data
        }
    ]
    for (path, method), throttle in sorted(limits.routes.items()):
        if method not in routes.get(path, {}):
            continue  # API Gateway refuses settings for a method it does not have (a test checks app.py)
        settings.append(
            {
                "ResourcePath": method_path(path),
                "HttpMethod": method,
                "ThrottlingRateLimit": throttle.rate,
                "ThrottlingBurstLimit": throttle.burst,
            }
        )
    return settings


def rest_api(stage: str, prefix: str, routes: dict[str, Any]) -> dict[str, Any]:
    """Name, tracing, access log and throttling of Chalice's REST API.

    CORS (API.md): the customer-side routes take OPTIONS in app.py, so their
    preflight reaches the app through the same proxy integration as every
    other method; Open API routes have no OPTIONS method at all.
    """
    return {
        "Metadata": checkov_skips("api"),
        "Properties": {
            "Name": prefix,  # the ApiName of its CloudWatch metrics: one per stage
            "DefinitionBody": {"info": {"title": prefix}},
            "TracingEnabled": True,
            "AccessLogSetting": {
                "DestinationArn": {
                    "Fn::Sub": f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}"
                    f":log-group:${{{ACCESS_LOG}}}"
                },
                "Format": json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":")),
            },
            "MethodSettings": method_settings(stage, routes),
        },
    }


# the whole template --------------------------------------------------------------------------


def merge_template(app: Any, config: dict[str, Any], stage: str) -> dict[str, Any]:
    """What `chalice package --merge-template` lays over Chalice's own template."""
    refuse_plain_secrets(config)
    env = stage_environment(config, stage)
    raw_path = env.get(PATH_VARIABLE, "")
    if not raw_path.strip():
        raise SystemExit(f"stage {stage!r} sets no {PATH_VARIABLE} in .chalice/config.json")
    ssm_path = "/" + raw_path.strip().strip("/") + "/"
    prefix = f"{app.app_name}-{stage}"
    functions = functions_of(app, stage)
    consumer = by_name(functions, STREAM_CONSUMER)
    assert consumer is not None  # functions_of refuses an app without one

    resources: dict[str, Any] = {
        TABLE: table_resource(env.get("TABLE_NAME") or prefix),
        KEY: service_key(prefix, functions),
        KEY_ALIAS: {
            "Type": "AWS::KMS::Alias",
            "Properties": {"AliasName": f"alias/{prefix}", "TargetKeyId": {"Ref": KEY}},
        },
        QUEUE: queue("stream batches the consumer gave up on: shard and sequence-number range (make replay-failures)"),
        ASYNC_QUEUE: queue("asynchronous invocations that failed (schedules, deliver_webhook): the event and error"),
        MAPPING: stream_mapping(consumer),
        ACCESS_LOG: log_group(access_log_name(prefix)),
        **roles(functions, ssm_path),
        **function_resources(functions, stage),
        **gateway_responses(),
    }
    if app.routes:
        resources[REST_API] = rest_api(stage, prefix, app.routes)
    resources.update(observability.resources(functions, prefix, index_names(), has_api=bool(app.routes)))

    return {
        "Description": f"{app.app_name} ({stage}): API, stream consumer, schedules and their DynamoDB table",
        "Parameters": {
            "AlarmTopicArn": {
                "Type": "String",
                "Default": "",
                "Description": "SNS topic every alarm notifies, on alarm and on recovery (empty: none)",
            }
        },
        "Conditions": {"HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}},
        "Resources": resources,
        "Outputs": {
            "TableName": {"Value": {"Ref": TABLE}},
            "TableStreamArn": {"Value": arn(TABLE, "StreamArn")},
            "StreamFailureQueueUrl": {"Value": {"Ref": QUEUE}},
            "AsyncFailureQueueUrl": {"Value": {"Ref": ASYNC_QUEUE}},
            "StreamConsumerName": {"Value": {"Ref": consumer.logical_id}},
            "DashboardName": {"Value": {"Ref": DASHBOARD}},
            "SecretsParameterPath": {"Value": ssm_path},
        },
    }


def load_app() -> Any:
    """The Chalice app object (`import app` needs no AWS and no variables)."""
    import app as module

    return module.app
