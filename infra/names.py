"""Logical ids of the template's resources that more than one module refers to."""

TABLE = "UnificationTable"
KEY = "ServiceKey"
QUEUE = "StreamFailureQueue"  # the stream mapping's on-failure destination
ASYNC_QUEUE = "AsyncFailureQueue"  # the dead-letter queue of the asynchronously invoked functions
REST_API = "RestAPI"  # Chalice's
API_STAGE = "api"  # .chalice/config.json api_gateway_stage
DASHBOARD = "Dashboard"
