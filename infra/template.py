"""The merge template: what `chalice package --merge-template` lays over Chalice's own template.

Chalice writes the functions, the REST API and its permissions; this adds
the table (from `chalicelib.store.schema`, the schema the local stack uses),
the stream's event source mapping with its failure queue, a dead-letter
queue for the asynchronously invoked functions, one KMS key for what the
stack encrypts (logs, queues, environment), log groups, IAM limited to this
stack's own resources, API Gateway's access log, tracing and throttling, and
the alarms and dashboard of `observability.py`. Chalice merges it key by key
(dicts deep, lists replaced).

Parts: `iam.py` (roles), `api.py` (API Gateway), `observability.py`
(alarms, dashboard), `stages.py` (per-stage limits), `skips.py` (the
checkov checks that do not fit, with their reasons).
"""

from __future__ import annotations

from typing import Any

from chalicelib.secrets import PATH_VARIABLE, SECRET_NAMES
from chalicelib.store.schema import TTL_ATTRIBUTE, table_definition

from . import observability
from .api import access_log_name, gateway_responses, rest_api
from .functions import STREAM_CONSUMER, WEBHOOK, Function, by_name, functions_of
from .iam import invokes_webhook, role_of, roles
from .names import ACCESS_LOG, ASYNC_QUEUE, DASHBOARD, KEY, QUEUE, REST_API, STREAM_ROLE, TABLE, arn
from .skips import checkov_skips
from .stages import limits_for

KEY_ALIAS = "ServiceKeyAlias"
MAPPING = "StreamConsumerEventSourceMapping"

LOG_RETENTION_DAYS = 30
FAILURE_RETENTION_SECONDS = 14 * 24 * 3600  # SQS maximum: time to look at what failed
# Bounded retries: a poison record is retried a few times (bisected down to itself),
# then reported to the queue and skipped instead of blocking its shard for 24 hours.
STREAM_MAPPING = {
    "StartingPosition": "TRIM_HORIZON",
    "BatchSize": 100,
    "MaximumBatchingWindowInSeconds": 1,
    "ParallelizationFactor": 10,  # batches per shard at once, each partition key in order (issue 10.14)
    "FunctionResponseTypes": ["ReportBatchItemFailures"],
    "BisectBatchOnFunctionError": True,
    "MaximumRetryAttempts": 5,
    "MaximumRecordAgeInSeconds": 6 * 3600,
}
# A schedule's tick that could not run (throttled, or failed) is not retried: the next
# tick, a minute later, does the same work. After 5 minutes a waiting tick is dropped
# into the dead-letter queue, so a slow schedule cannot pile up hours of ticks.
SCHEDULE_INVOKE = {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 300}

# During a rotation the previous value stays accepted beside the current one
# (infra/README.md, "Rotating a secret"). Neither may be written in config.json.
PLAIN_FORBIDDEN = (*SECRET_NAMES, *(f"{name}_PREVIOUS" for name in SECRET_NAMES))

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
