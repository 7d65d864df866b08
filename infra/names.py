"""Logical ids of the template's resources that more than one module refers to, and how to refer to one."""

from __future__ import annotations

from typing import Any

TABLE = "UnificationTable"
KEY = "ServiceKey"
QUEUE = "StreamFailureQueue"  # the stream mapping's on-failure destination
ASYNC_QUEUE = "AsyncFailureQueue"  # the dead-letter queue of the asynchronously invoked functions
REST_API = "RestAPI"  # Chalice's
API_STAGE = "api"  # .chalice/config.json api_gateway_stage
DASHBOARD = "Dashboard"
ACCESS_LOG = "ApiAccessLogGroup"
DEFAULT_ROLE = "DefaultRole"  # Chalice's role: the API handler
STREAM_ROLE = "StreamConsumerRole"
WORKER_ROLE = "WorkerRole"  # the schedules and the other asynchronously invoked functions


def arn(resource: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, attribute]}
