"""The app's Lambda functions as the template names them, discovered from the Chalice app itself.

Routes make `api_handler`; every `@app.lambda_function` and every
`@app.schedule` is one function more. A new one is wired (log group, role,
alarms, dashboard, concurrency) without touching `infra/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STREAM_CONSUMER = "stream_consumer"  # the `@app.lambda_function` wired to the table's stream
WEBHOOK = "deliver_webhook"  # POSTs one webhook message; invoked asynchronously (issue 14)


@dataclass(frozen=True)
class Function:
    """One Lambda function of the app, as Chalice names it in the template."""

    name: str  # Chalice's name: "api_handler", "stream_consumer", "finish_unifications", ...
    logical_id: str  # CloudFormation resource: "APIHandler", "StreamConsumer", ...
    function_name: str  # the deployed name, as `chalice deploy` would name it
    kind: str  # "api", "lambda" or "schedule"
    schedule: str | None = None

    @property
    def log_group(self) -> str:
        return f"{self.logical_id}LogGroup"

    @property
    def invoked_async(self) -> bool:
        """Invoked by EventBridge or the Lambda API with InvocationType=Event: a dead-letter queue fits.

        The API handler answers synchronously (its errors are answers) and the
        stream consumer's failures go to the event source mapping's on-failure
        destination instead.
        """
        return self.kind != "api" and self.name != STREAM_CONSUMER


def schedule_expression(expression: Any) -> str:
    return str(expression.to_string()) if hasattr(expression, "to_string") else str(expression)


def functions_of(app: Any, stage: str) -> list[Function]:
    from chalice.app import ScheduledEventConfig
    from chalice.utils import to_cfn_resource_name

    prefix = f"{app.app_name}-{stage}"
    found: list[Function] = []
    if app.routes:
        found.append(Function("api_handler", "APIHandler", prefix, "api"))
    for function in app.pure_lambda_functions:
        found.append(
            Function(function.name, to_cfn_resource_name(function.name), f"{prefix}-{function.name}", "lambda")
        )
    for source in app.event_sources:
        is_schedule = isinstance(source, ScheduledEventConfig)
        schedule = schedule_expression(source.schedule_expression) if is_schedule else None
        kind = "schedule" if is_schedule else type(source).__name__
        found.append(
            Function(source.name, to_cfn_resource_name(source.name), f"{prefix}-{source.name}", kind, schedule)
        )
    for function in found:
        if len(function.function_name) > 64:
            raise SystemExit(f"Lambda function name too long (64 max): {function.function_name}")
    if STREAM_CONSUMER not in {f.name for f in found if f.kind == "lambda"}:
        raise SystemExit(f"app.py has no @app.lambda_function(name={STREAM_CONSUMER!r}) to wire to the stream")
    return found


def by_name(functions: list[Function], name: str) -> Function | None:
    return next((f for f in functions if f.name == name), None)
