"""checkov checks that do not fit this design, skipped in the resource's own `Metadata` with the reason.

Nothing is skipped on checkov's command line: a reason lives beside the
resource it excuses, and a test checks every skip here is still needed.
"""

from __future__ import annotations

from typing import Any

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
