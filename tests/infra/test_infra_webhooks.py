"""The functions that deliver webhooks get what they need in the template (issues 14.6, 16.3).

`deliver_webhook` (`@app.lambda_function`) POSTs one message to a subscriber's
HTTPS endpoint (10 s budget, so a 30 s timeout), invoked asynchronously by the
stream consumer and the schedules through the Lambda API: they may invoke it
and are told its name (`WEBHOOK_FUNCTION_NAME`); it runs outside any VPC (it
needs the internet); its failures land in the dead-letter queue and are
alarmed, as are given-up deliveries (`WebhookDeliveriesFailed`).

Wired by name, so the rules are checked on an app made up for the purpose
(the shape app.py has with webhooks) and, once app.py has them, on the real
build.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.app import Chalice, Rate
from infra_support import function_named, functions, get_att, template_of

from infra import build, stages

CALLERS = ("StreamConsumer", "RetryWebhooks", "FinishUnifications", "ContinueErasures")


def app_with_webhooks() -> Any:
    shaped = Chalice(app_name="unification")

    @shaped.route("/v1/health")
    def health() -> dict[str, str]:
        return {}

    @shaped.lambda_function(name="stream_consumer")
    def consume(event: Any, context: Any) -> None:
        return None

    @shaped.lambda_function(name="deliver_webhook")
    def deliver(event: Any, context: Any) -> None:
        return None

    for name in ("finish_unifications", "retry_webhooks", "continue_erasures"):
        shaped.schedule(Rate(1, unit=Rate.MINUTES), name=name)(lambda event: None)
    return shaped


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    found: dict[str, Any] = build.merge_template(app_with_webhooks(), build.chalice_config(), "prod")["Resources"]
    return found


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_the_consumer_and_the_schedules_may_invoke_deliver_webhook_and_know_its_name(resources: dict[str, Any]) -> None:
    for caller in CALLERS:
        props = resources[caller]["Properties"]
        assert props["Environment"]["Variables"]["WEBHOOK_FUNCTION_NAME"] == {"Ref": "DeliverWebhook"}, caller
        role = resources[props["Role"]["Fn::GetAtt"][0]]
        grants = [s for s in statements(role) if s["Action"] == ["lambda:InvokeFunction"]]
        assert [g["Resource"] for g in grants] == [get_att("DeliverWebhook")], caller
    api = resources["APIHandler"]["Properties"]
    assert "WEBHOOK_FUNCTION_NAME" not in api["Environment"]["Variables"]
    assert "lambda:InvokeFunction" not in json.dumps(resources["DefaultRole"])  # the API handler's role


def test_deliver_webhook_runs_outside_any_vpc_with_a_dead_letter_queue_and_its_own_concurrency(
    resources: dict[str, Any],
) -> None:
    props = resources["DeliverWebhook"]["Properties"]
    assert props["FunctionName"] == "unification-prod-deliver_webhook"
    assert "VpcConfig" not in props  # outbound HTTPS to any subscriber
    assert props["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": get_att("AsyncFailureQueue")}
    assert props["ReservedConcurrentExecutions"] == stages.limits_for("prod").concurrency["deliver_webhook"]
    assert "EventInvokeConfig" not in props  # unlike a schedule's tick, a delivery is worth Lambda's retries
    skipped = {s["id"] for s in resources["DeliverWebhook"]["Metadata"]["checkov"]["skip"]}
    assert skipped == {"CKV_AWS_117"}  # no VPC; its dead-letter queue is real


def test_the_webhook_failure_path_is_alarmed_and_on_the_dashboard(resources: dict[str, Any]) -> None:
    errors = resources["DeliverWebhookErrorsAlarm"]["Properties"]
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "DeliverWebhook"}}]
    assert errors["MetricName"] == "Errors"
    failed = resources["WebhookDeliveriesFailedAlarm"]["Properties"]
    assert (failed["Namespace"], failed["MetricName"]) == ("Unification", "WebhookDeliveriesFailed")
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert '"Webhook delivery function"' in body and "${DeliverWebhook}" in body
    assert resources["RetryWebhooks"]["Properties"]["Role"] == get_att("WorkerRole")


def test_deliver_webhook_is_given_a_30_second_timeout_in_chalices_config() -> None:
    """Its POST has 10 s in all (API.md, "Webhooks"); the function has room to record the outcome."""
    assert build.chalice_config()["lambda_functions"]["deliver_webhook"]["lambda_timeout"] == 30


def test_the_real_build_wires_the_webhook_functions_app_py_has(built: Any, chalice_app: Any) -> None:
    template = template_of(built)
    names = {f.name for f in build.functions_of(chalice_app, built.stage)}
    if "deliver_webhook" not in names:
        pytest.skip("app.py has no deliver_webhook yet (issue 14)")
    _, deliver = function_named(template, "deliver_webhook") or pytest.fail("no deliver_webhook in the template")
    assert deliver["Properties"]["Timeout"] == 30
    assert "VpcConfig" not in deliver["Properties"]
    retry = function_named(template, "retry_webhooks")
    assert retry is not None, "retry_webhooks: the schedule that re-drives due deliveries"
    [event] = retry[1]["Properties"]["Events"].values()
    assert event["Properties"]["Schedule"] == "rate(1 minute)"
    for name, fn in functions(template).items():
        variables = fn["Properties"]["Environment"]["Variables"]
        calls = name == "StreamConsumer" or any(
            e["Type"] == "Schedule" for e in fn["Properties"].get("Events", {}).values()
        )
        assert ("WEBHOOK_FUNCTION_NAME" in variables) == calls, name
