"""Alarms, the dashboard, the API stage's throttling and the functions' concurrency, read back
from the generated template (issue 16.3)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from infra_support import functions, get_att, only, resources_of, substituted, template_of

from chalicelib.store.schema import table_definition
from infra import observability as obs
from infra import stages

NOTIFY = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
INDEXES = [g["IndexName"] for g in table_definition()["GlobalSecondaryIndexes"]]


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: a["Properties"] for name, a in resources_of(template, "AWS::CloudWatch::Alarm").items()}


def watched(alarm: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(namespace, metric, dimensions) of every metric an alarm reads, plain or metric math."""
    if "MetricName" in alarm:
        return [(alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"])]
    stats = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
    return [(m["Namespace"], m["MetricName"], m["Dimensions"]) for m in stats]


def alarm_on(template: dict[str, Any], namespace: str, metric: str, dimensions: list[dict[str, Any]]) -> str:
    found = [n for n, a in alarms(template).items() if (namespace, metric, dimensions) in watched(a)]
    assert len(found) == 1, f"{namespace} {metric} {dimensions}: {found}"
    return found[0]


def test_every_alarm_notifies_the_optional_topic_on_alarm_and_on_recovery(built: Any) -> None:
    template = template_of(built)
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    for name, alarm in alarms(template).items():
        assert alarm["AlarmActions"] == NOTIFY, name
        assert alarm["OKActions"] == NOTIFY, name
        assert alarm["AlarmName"].startswith(f"unification-{built.stage}-"), name
        assert "infra/README.md" in alarm["AlarmDescription"], name  # where the operator reads what to do
        assert alarm["TreatMissingData"] == "notBreaching"


def test_each_function_has_an_errors_and_a_throttles_alarm(built: Any) -> None:
    template = template_of(built)
    for name in functions(template):
        dimension = [{"Name": "FunctionName", "Value": {"Ref": name}}]
        for metric in ("Errors", "Throttles"):
            alarm = alarms(template)[alarm_on(template, "AWS/Lambda", metric, dimension)]
            assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
                "Sum",
                0,
                "GreaterThanThreshold",
            )


def test_the_stream_consumers_iterator_age_is_alarmed(built: Any) -> None:
    template = template_of(built)
    dimension = [{"Name": "FunctionName", "Value": {"Ref": "StreamConsumer"}}]
    alarm = alarms(template)[alarm_on(template, "AWS/Lambda", "IteratorAge", dimension)]
    assert alarm["Statistic"] == "Maximum"
    assert 0 < alarm["Threshold"] <= 15 * 60 * 1000  # milliseconds behind; far below the mapping's 6 h
    assert alarm["Period"] * alarm["EvaluationPeriods"] <= 15 * 60


def test_both_failure_queues_are_alarmed_when_not_empty(built: Any) -> None:
    template = template_of(built)
    for queue in ("StreamFailureQueue", "AsyncFailureQueue"):
        dimension = [{"Name": "QueueName", "Value": get_att(queue, "QueueName")}]
        alarm = alarms(template)[alarm_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dimension)]
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert "StreamFailureAlarm" in alarms(template)  # the name the README and older stacks know


def test_the_api_5xx_rate_is_alarmed_on_this_stages_api(built: Any) -> None:
    template = template_of(built)
    _, rest = only(template, "AWS::Serverless::Api")
    api = [{"Name": "ApiName", "Value": rest["Properties"]["Name"]}, {"Name": "Stage", "Value": "api"}]
    assert rest["Properties"]["Name"] == f"unification-{built.stage}"  # dev and prod metrics never mix
    assert rest["Properties"]["StageName"] == "api"
    name = alarm_on(template, "AWS/ApiGateway", "5XXError", api)
    alarm = alarms(template)[name]
    assert ("AWS/ApiGateway", "Count", api) in watched(alarm)
    [rate] = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert "errors / requests" in rate["Expression"]
    assert 0 < alarm["Threshold"] < 1  # a rate, not a count


def test_dynamodb_throttling_is_alarmed_for_the_table_and_each_index(built: Any) -> None:
    template = template_of(built)
    table = [{"Name": "TableName", "Value": {"Ref": "UnificationTable"}}]
    scopes = [table] + [[*table, {"Name": "GlobalSecondaryIndexName", "Value": i}] for i in INDEXES]
    for dimensions in scopes:
        read = alarm_on(template, "AWS/DynamoDB", "ReadThrottleEvents", dimensions)
        write = alarm_on(template, "AWS/DynamoDB", "WriteThrottleEvents", dimensions)
        assert read == write  # one alarm: reads + writes
        [total] = [m for m in alarms(template)[read]["Metrics"] if m.get("ReturnData")]
        assert total["Expression"] == "reads + writes"


def test_failed_webhook_deliveries_are_alarmed_from_the_services_metric(built: Any) -> None:
    template = template_of(built)
    service = [{"Name": "service", "Value": "unification"}]
    alarm = alarms(template)[alarm_on(template, "Unification", "WebhookDeliveriesFailed", service)]
    assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 0)


def test_functions_publish_metrics_where_the_dashboard_and_alarms_read_them(built: Any) -> None:
    for name, fn in functions(template_of(built)).items():
        variables = fn["Properties"]["Environment"]["Variables"]
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "Unification", name
        assert variables["POWERTOOLS_SERVICE_NAME"] == "unification", name


# the dashboard -------------------------------------------------------------------------------


def dashboard(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    _, board = only(template, "AWS::CloudWatch::Dashboard")
    body: dict[str, Any] = json.loads(substituted(board["Properties"]["DashboardBody"]))
    return board["Properties"], body


def metric_rows(body: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for widget in body["widgets"]:
        if widget["type"] == "metric":
            rows += widget["properties"]["metrics"]
    return rows


def plain(rows: list[list[Any]]) -> set[tuple[Any, ...]]:
    """Metric rows without their rendering options: (namespace, metric, dim, value, ...)."""
    return {tuple(r for r in row if not isinstance(r, dict)) for row in rows if not isinstance(row[0], dict)}


def test_one_dashboard_shows_every_service_metric_in_its_namespace_and_dimension(built: Any) -> None:
    template = template_of(built)
    properties, body = dashboard(template)
    assert properties["DashboardName"] == f"unification-{built.stage}"
    rows = plain(metric_rows(body))
    searches = [row[0]["expression"] for row in metric_rows(body) if isinstance(row[0], dict)]

    for status in ("completed", "cancelled", "rejected"):
        assert ("Unification", "UnificationsEnded", "service", "unification", "status", status) in rows
    for status_class in ("2xx", "4xx", "5xx"):
        assert ("Unification", "Answers", "service", "unification", "statusClass", status_class) in rows
    for metric in (
        "MoveLag",
        "DeferredWaiting",
        "StreamRecordFailures",
        "RetriesExhausted",
        "WebhookAttemptsFailed",
        "WebhookDeliveriesFailed",
    ):
        assert ("Unification", metric, "service", "unification") in rows, metric
    # Triggers are open-ended: found by a search over the metric's dimension.
    assert any("{Unification,service,trigger}" in s and 'MetricName="UnificationsCommitted"' in s for s in searches), (
        searches
    )
    assert {m.name for m in obs.METRICS} == {
        "UnificationsCommitted",
        "UnificationsEnded",
        "MoveLag",
        "DeferredWaiting",
        "StreamRecordFailures",
        "RetriesExhausted",
        "WebhookAttemptsFailed",
        "WebhookDeliveriesFailed",
        "Answers",
    }
    lag = next(w for w in body["widgets"] if w["properties"].get("title", "").startswith("MoveLag"))
    assert lag["properties"]["stat"] in {"p50", "p90", "p99", "Average", "Maximum"}  # a latency, not a count


def test_the_dashboard_shows_the_aws_metrics_the_alarms_watch(built: Any) -> None:
    template = template_of(built)
    _, body = dashboard(template)
    rows = plain(metric_rows(body))
    api = ("ApiName", f"unification-{built.stage}", "Stage", "api")
    assert {("AWS/ApiGateway", m, *api) for m in ("Count", "4XXError", "5XXError", "Latency")} <= rows
    for name in functions(template):
        for metric in ("Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"):
            assert ("AWS/Lambda", metric, "FunctionName", f"<{name}>") in rows, (name, metric)
    assert ("AWS/Lambda", "IteratorAge", "FunctionName", "<StreamConsumer>") in rows
    table = ("TableName", "<UnificationTable>")
    for scope in [(), *[("GlobalSecondaryIndexName", i) for i in INDEXES]]:
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents", "ConsumedWriteCapacityUnits"):
            assert ("AWS/DynamoDB", metric, *table, *scope) in rows, (metric, scope)
    for queue in ("StreamFailureQueue", "AsyncFailureQueue"):
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"<{queue}.QueueName>") in rows

    [status] = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert set(status["properties"]["alarms"]) == {f"<{name}.Arn>" for name in alarms(template)}
    for widget in body["widgets"]:  # laid out on the 24-column grid, nothing overlapping
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24
    cells = [(w["x"], w["y"]) for w in body["widgets"]]
    assert len(cells) == len(set(cells))


# throttling and concurrency --------------------------------------------------------------------


def test_the_api_stage_is_throttled_as_infra_stages_says(built: Any, chalice_app: Any) -> None:
    template = template_of(built)
    _, rest = only(template, "AWS::Serverless::Api")
    limits = stages.limits_for(built.stage)
    settings = {(s["ResourcePath"], s["HttpMethod"]): s for s in rest["Properties"]["MethodSettings"]}
    stage_wide = settings.pop(("/*", "*"))
    assert (stage_wide["ThrottlingRateLimit"], stage_wide["ThrottlingBurstLimit"]) == (
        limits.api.rate,
        limits.api.burst,
    )
    assert stage_wide["DataTraceEnabled"] is False  # bodies (personal data) never reach the execution log
    assert 0 < limits.api.rate <= 10_000 and 0 < limits.api.burst <= 5_000  # within the account's own limits
    expected = {("/" + p.replace("/", "~1"), m): t for (p, m), t in limits.routes.items()}
    assert set(settings) == set(expected)
    for key, setting in settings.items():
        assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]) == (
            expected[key].rate,
            expected[key].burst,
        )
        assert expected[key].rate < limits.api.rate


def test_every_route_limit_names_a_route_of_the_app(chalice_app: Any) -> None:
    for limits in [stages.DEFAULT, *stages.STAGES.values()]:
        for path, method in limits.routes:
            assert method in chalice_app.routes.get(path, {}), (path, method)


def test_each_function_reserves_the_concurrency_infra_stages_gives_it(built: Any) -> None:
    template = template_of(built)
    limits = stages.limits_for(built.stage)
    for name, fn in functions(template).items():
        props = fn["Properties"]
        chalice_name = "api_handler" if name == "APIHandler" else props["FunctionName"].split(f"-{built.stage}-")[1]
        kind = "schedule" if props.get("Events") else "lambda"
        assert props["ReservedConcurrentExecutions"] == limits.reserved_concurrency(chalice_name, kind), name
        assert props["ReservedConcurrentExecutions"] >= 1  # 0 would switch the function off


def test_all_stages_together_leave_the_accounts_unreserved_minimum(builds: dict[str, Any]) -> None:
    """Lambda keeps 100 of an account's (default) 1,000 concurrent executions unreserved."""
    reserved = sum(
        fn["Properties"]["ReservedConcurrentExecutions"]
        for b in builds.values()
        for fn in functions(template_of(b)).values()
    )
    assert reserved <= 900


def test_the_access_log_says_what_happened_never_who(built: Any) -> None:
    template = template_of(built)
    _, rest = only(template, "AWS::Serverless::Api")
    assert rest["Properties"]["TracingEnabled"] is True
    setting = rest["Properties"]["AccessLogSetting"]
    line = json.loads(setting["Format"])
    assert {"requestId", "status", "route", "latencyMs"} <= set(line)
    variables = " ".join(line.values())
    for personal in ("sourceIp", "userAgent", "identity", "$context.path", "caller", "user", "authorizer"):
        assert personal not in variables, personal
    assert setting["DestinationArn"]["Fn::Sub"].endswith(":log-group:${ApiAccessLogGroup}")
    group = template["Resources"]["ApiAccessLogGroup"]["Properties"]
    assert group["KmsKeyId"] == get_att("ServiceKey") and group["RetentionInDays"] > 0


def test_every_alarm_is_explained_on_the_operators_page(built: Any) -> None:
    """Each alarm's description points at infra/README.md, "Alarms"; the entry must be there."""
    readme = (Path(__file__).resolve().parents[2] / "infra" / "README.md").read_text()
    table = readme[readme.index("### Alarms: what each means") : readme.index("### Replaying failures")]
    entries = set(re.findall(r"^\| `([^`]+)`", table, flags=re.MULTILINE))
    entries |= set(re.findall(r"^\| `[^`]+`, `([^`]+)`", table, flags=re.MULTILINE))
    template = template_of(built)
    function_names = [
        f["Properties"]["FunctionName"].split(f"unification-{built.stage}", 1)[1] for f in functions(template).values()
    ]
    for name, alarm in alarms(template).items():
        what = alarm["AlarmName"].removeprefix(f"unification-{built.stage}-")
        what = re.sub(r"^gsi\d+-", "gsiN-", what)
        for fn in sorted(function_names, key=len, reverse=True):
            chalice_name = fn.lstrip("-") or "api_handler"
            if what.startswith(f"{chalice_name}-"):
                what = "<function>-" + what.removeprefix(f"{chalice_name}-")
                break
        assert what in entries, (name, what)
        assert f"(infra/README.md, Alarms: {what})" in alarm["AlarmDescription"], name
