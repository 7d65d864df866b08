"""Alarms and the dashboard (issue 16.3): what an operator watches, and what wakes them.

The service's own metrics are Powertools' embedded metric format in the
functions' logs: namespace `Unification`, default dimension
`service=unification` (`METRICS` below). The AWS metrics are those of the
functions, the API stage, the table and its indexes, and the two failure
queues. Every alarm notifies the optional `AlarmTopicArn` when it fires and
when it recovers; what each means and what to do is in infra/README.md,
"Operating it" (the alarm's description says which entry).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .functions import STREAM_CONSUMER, WEBHOOK, Function
from .names import API_STAGE, ASYNC_QUEUE, DASHBOARD, QUEUE, TABLE

NAMESPACE = "Unification"
SERVICE = "unification"
SERVICE_DIMENSION = {"Name": "service", "Value": SERVICE}
# Powertools reads these when the code names neither; the template and the code agree.
POWERTOOLS_ENVIRONMENT = {"POWERTOOLS_SERVICE_NAME": SERVICE, "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE}


@dataclass(frozen=True)
class Metric:
    """One of the service's own metrics, as Powertools publishes it."""

    name: str
    stat: str  # how the dashboard shows it
    meaning: str
    dimension: str | None = None  # the metric's own dimension, beside `service`
    values: tuple[str, ...] = ()  # its known values; none: found with SEARCH


METRICS = (
    Metric("UnificationsCommitted", "Sum", "unifications committed, by trigger", "trigger"),
    Metric(
        "UnificationsEnded",
        "Sum",
        "unifications ended, by final status",
        "status",
        ("completed", "cancelled", "rejected"),
    ),
    Metric("MoveLag", "p90", "milliseconds from commit to completed (history moved)"),
    Metric("DeferredWaiting", "Maximum", "deferred unifications waiting for their member's login (gauge)"),
    Metric("StreamRecordFailures", "Sum", "stream records the consumer reported as failed"),
    Metric("RetriesExhausted", "Sum", "store calls that gave up after their retry budget (answered 503)"),
    Metric("WebhookAttemptsFailed", "Sum", "webhook POSTs that failed (each is retried)"),
    Metric("WebhookDeliveriesFailed", "Sum", "webhook messages given up after 24 hours of retries"),
    Metric("Answers", "Sum", "HTTP answers, by status class", "statusClass", ("2xx", "4xx", "5xx")),
)

# Thresholds (infra/README.md, "Alarms"): every one is "something is wrong now", not a trend.
PERIOD = 300
ITERATOR_AGE_MS = 120_000  # the consumer is 2 minutes behind the table's writes ...
ITERATOR_AGE_MINUTES = 5  # ... for 5 minutes in a row
API_5XX_RATE = 0.05  # more than 5 % of the stage's answers are 5xx ...
API_5XX_MIN_REQUESTS = 20  # ... out of at least this many in 5 minutes (no alarm on 1 of 2)


def _notify() -> dict[str, Any]:
    return {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


def _alarm(name: str, description: str, **properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": name,
            "AlarmDescription": description,
            "AlarmActions": _notify(),
            "OKActions": _notify(),
            "TreatMissingData": "notBreaching",
            "ComparisonOperator": "GreaterThanThreshold",
            **properties,
        },
    }


def _stat(metric_id: str, namespace: str, metric: str, dimensions: list[dict[str, Any]], stat: str) -> dict[str, Any]:
    return {
        "Id": metric_id,
        "ReturnData": False,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
            "Period": PERIOD,
            "Stat": stat,
        },
    }


def _sum_alarm(
    name: str, description: str, namespace: str, metric: str, dimensions: list[dict[str, Any]]
) -> dict[str, Any]:
    """Fires on any occurrence within 5 minutes."""
    return _alarm(
        name,
        description,
        Namespace=namespace,
        MetricName=metric,
        Dimensions=dimensions,
        Statistic="Sum",
        Period=PERIOD,
        EvaluationPeriods=1,
        Threshold=0,
    )


def _queue_alarm(name: str, description: str, queue: str) -> dict[str, Any]:
    return _alarm(
        name,
        description,
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
        Statistic="Maximum",
        Period=PERIOD,
        EvaluationPeriods=1,
        Threshold=0,
    )


def _throttle_alarm(name: str, description: str, dimensions: list[dict[str, Any]]) -> dict[str, Any]:
    """Read plus write throttle events of the table or one index, any within 5 minutes."""
    return _alarm(
        name,
        description,
        EvaluationPeriods=1,
        Threshold=0,
        Metrics=[
            _stat("reads", "AWS/DynamoDB", "ReadThrottleEvents", dimensions, "Sum"),
            _stat("writes", "AWS/DynamoDB", "WriteThrottleEvents", dimensions, "Sum"),
            {"Id": "throttled", "Expression": "reads + writes", "Label": "throttle events", "ReturnData": True},
        ],
    )


def logical(text: str) -> str:
    """`gsi1` → `Gsi1` (a CloudFormation logical id part)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def alarms(functions: list[Function], prefix: str, indexes: list[str], has_api: bool) -> dict[str, Any]:
    table = [{"Name": "TableName", "Value": {"Ref": TABLE}}]
    found: dict[str, Any] = {
        "StreamFailureAlarm": _queue_alarm(
            f"{prefix}-stream-failures",
            "Stream records the consumer gave up on are in StreamFailureQueue: fix the cause, then "
            "make replay-failures within 24 h (infra/README.md, Alarms: stream-failures)",
            QUEUE,
        ),
        "AsyncFailureAlarm": _queue_alarm(
            f"{prefix}-async-failures",
            "An asynchronous invocation (schedule tick, webhook delivery) failed for good and is in "
            "AsyncFailureQueue (infra/README.md, Alarms: async-failures)",
            ASYNC_QUEUE,
        ),
        "TableThrottleAlarm": _throttle_alarm(
            f"{prefix}-table-throttled",
            "DynamoDB throttled reads or writes on the table (infra/README.md, Alarms: table-throttled)",
            table,
        ),
    }
    for index in indexes:
        found[f"{logical(index)}ThrottleAlarm"] = _throttle_alarm(
            f"{prefix}-{index}-throttled",
            f"DynamoDB throttled index {index}; a throttled index throttles the table's writes "
            "(infra/README.md, Alarms: gsiN-throttled)",
            [*table, {"Name": "GlobalSecondaryIndexName", "Value": index}],
        )
    for function in functions:
        dimension = [{"Name": "FunctionName", "Value": {"Ref": function.logical_id}}]
        found[f"{function.logical_id}ErrorsAlarm"] = _sum_alarm(
            f"{prefix}-{function.name}-errors",
            f"{function.name} crashed or timed out (infra/README.md, Alarms: <function>-errors)",
            "AWS/Lambda",
            "Errors",
            dimension,
        )
        found[f"{function.logical_id}ThrottlesAlarm"] = _sum_alarm(
            f"{prefix}-{function.name}-throttles",
            f"{function.name} hit its reserved concurrency (infra/README.md, Alarms: <function>-throttles)",
            "AWS/Lambda",
            "Throttles",
            dimension,
        )
        if function.name == STREAM_CONSUMER:
            found["StreamIteratorAgeAlarm"] = _alarm(
                f"{prefix}-stream-lag",
                f"The stream consumer is more than {ITERATOR_AGE_MS // 1000} s behind the table's writes "
                "(infra/README.md, Alarms: stream-lag)",
                Namespace="AWS/Lambda",
                MetricName="IteratorAge",
                Dimensions=dimension,
                Statistic="Maximum",
                Period=60,
                EvaluationPeriods=ITERATOR_AGE_MINUTES,
                DatapointsToAlarm=ITERATOR_AGE_MINUTES,
                Threshold=ITERATOR_AGE_MS,
            )
    found["WebhookDeliveriesFailedAlarm"] = _sum_alarm(
        f"{prefix}-webhooks-failed",
        "Webhook messages were given up after 24 hours of retries (infra/README.md, Alarms: webhooks-failed)",
        NAMESPACE,
        "WebhookDeliveriesFailed",
        [SERVICE_DIMENSION],
    )
    if has_api:
        api = [{"Name": "ApiName", "Value": prefix}, {"Name": "Stage", "Value": API_STAGE}]
        found["Api5xxAlarm"] = _alarm(
            f"{prefix}-api-5xx",
            f"More than {API_5XX_RATE:.0%} of the API's answers are 5xx (infra/README.md, Alarms: api-5xx)",
            EvaluationPeriods=1,
            Threshold=API_5XX_RATE,
            Metrics=[
                _stat("errors", "AWS/ApiGateway", "5XXError", api, "Sum"),
                _stat("requests", "AWS/ApiGateway", "Count", api, "Sum"),
                {
                    "Id": "rate",
                    "Expression": f"IF(requests >= {API_5XX_MIN_REQUESTS}, errors / requests, 0)",
                    "Label": "5xx rate",
                    "ReturnData": True,
                },
            ],
        )
    return found


# the dashboard -------------------------------------------------------------------------------


def _widget(title: str, metrics: list[list[Any]], stat: str = "Sum", **extra: Any) -> dict[str, Any]:
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "view": "timeSeries",
            "stacked": False,
            "period": PERIOD,
            "stat": stat,
            "metrics": metrics,
            **extra,
        },
    }


def service_widget(metric: Metric) -> dict[str, Any]:
    title = f"{metric.name}: {metric.meaning}"
    if metric.dimension is None:
        return _widget(title, [[NAMESPACE, metric.name, "service", SERVICE]], metric.stat)
    if metric.values:
        rows = [[NAMESPACE, metric.name, "service", SERVICE, metric.dimension, v] for v in metric.values]
        return _widget(title, rows, metric.stat)
    search = (
        f'SEARCH(\'{{{NAMESPACE},service,{metric.dimension}}} MetricName="{metric.name}" '
        f"service=\"{SERVICE}\"', '{metric.stat}', {PERIOD})"
    )
    return _widget(title, [[{"expression": search, "id": "e1", "label": ""}]], metric.stat)


def dashboard_body(functions: list[Function], prefix: str, indexes: list[str], alarm_ids: list[str]) -> dict[str, Any]:
    def per_function(metric: str) -> list[list[Any]]:
        return [["AWS/Lambda", metric, "FunctionName", f"${{{f.logical_id}}}", {"label": f.name}] for f in functions]

    api = ["ApiName", prefix, "Stage", API_STAGE]
    table = ["TableName", f"${{{TABLE}}}"]
    capacity: list[list[Any]] = []
    throttles: list[list[Any]] = []
    for scope, label in [([], "table"), *[(["GlobalSecondaryIndexName", i], i) for i in indexes]]:
        for metric in ("ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"):
            capacity.append(["AWS/DynamoDB", metric, *table, *scope, {"label": f"{label} {metric[8:12].lower()}s"}])
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents"):
            throttles.append(["AWS/DynamoDB", metric, *table, *scope, {"label": f"{label} {metric[:-14].lower()}s"}])
    consumer = [f for f in functions if f.name == STREAM_CONSUMER]
    webhook = [f for f in functions if f.name == WEBHOOK]

    header: list[dict[str, Any]] = [
        {
            "type": "text",
            "width": 24,
            "height": 2,
            "properties": {
                "markdown": f"## {prefix}\nWhat each alarm means and what to do: infra/README.md, "
                "*Operating it*. Service metrics: namespace `Unification`, dimension `service=unification`."
            },
        },
        {
            "type": "alarm",
            "width": 24,
            "height": 3,
            "properties": {"title": "Alarms", "alarms": [f"${{{a}.Arn}}" for a in alarm_ids]},
        },
    ]
    grid: list[dict[str, Any]] = [
        *[service_widget(m) for m in METRICS],
        _widget(
            "API answers",
            [["AWS/ApiGateway", m, *api, {"label": m}] for m in ("Count", "4XXError", "5XXError")],
        ),
        _widget(
            "API latency (ms)",
            [["AWS/ApiGateway", "Latency", *api, {"stat": s, "label": f"latency {s}"}] for s in ("p50", "p99")]
            + [["AWS/ApiGateway", "IntegrationLatency", *api, {"stat": "p99", "label": "integration p99"}]],
            "p99",
        ),
        _widget("Function invocations", per_function("Invocations")),
        _widget("Function errors", per_function("Errors")),
        _widget("Function throttles", per_function("Throttles")),
        _widget("Function duration p99 (ms)", per_function("Duration"), "p99"),
        _widget("Function concurrency (max)", per_function("ConcurrentExecutions"), "Maximum"),
        _widget(
            "Stream iterator age (ms)",
            [["AWS/Lambda", "IteratorAge", "FunctionName", f"${{{f.logical_id}}}"] for f in consumer],
            "Maximum",
            annotations={"horizontal": [{"label": "alarm", "value": ITERATOR_AGE_MS}]},
        ),
        _widget("DynamoDB consumed capacity (units)", capacity),
        _widget("DynamoDB throttle events", throttles),
        _widget(
            "Failure queues (messages visible)",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"${{{q}.QueueName}}", {"label": q}]
                for q in (QUEUE, ASYNC_QUEUE)
            ],
            "Maximum",
        ),
    ]
    if webhook:
        grid.append(
            _widget(
                "Webhook delivery function",
                [
                    ["AWS/Lambda", m, "FunctionName", f"${{{webhook[0].logical_id}}}", {"label": m}]
                    for m in ("Invocations", "Errors", "Throttles")
                ],
            )
        )
    y = 0
    for widget in header:
        widget.update(x=0, y=y)
        y += widget["height"]
    for index, widget in enumerate(grid):  # three a row
        widget.update(x=8 * (index % 3), y=y + 6 * (index // 3), width=8, height=6)
    return {"widgets": header + grid}


def resources(functions: list[Function], prefix: str, indexes: list[str], has_api: bool) -> dict[str, Any]:
    found = alarms(functions, prefix, indexes, has_api)
    body = dashboard_body(functions, prefix, indexes, sorted(found))
    found[DASHBOARD] = {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {"DashboardName": prefix, "DashboardBody": {"Fn::Sub": json.dumps(body)}},
    }
    return found
