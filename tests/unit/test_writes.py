"""WriteConflict: which failures a commit may retry, and which write's condition failed."""

from __future__ import annotations

import pytest

from chalicelib.domain.writes import WriteConflict


@pytest.mark.parametrize(
    ("reasons", "retryable"),
    [
        (["TransactionConflict"], True),
        ([None, "ThrottlingError"], True),
        (["ProvisionedThroughputExceeded", None], True),
        (["ConditionalCheckFailed"], False),
        ([None, None], False),
        ([], False),
        (["ConditionalCheckFailed", "TransactionConflict"], True),
    ],
    ids=[
        "writes-transaction-conflict-retryable",
        "writes-throttling-retryable",
        "writes-throughput-retryable",
        "writes-condition-failed-not-retryable",
        "writes-no-reason-not-retryable",
        "writes-empty-not-retryable",
        "writes-mixed-retryable",
    ],
)
def test_write_conflict_retryable(reasons: list[str | None], retryable: bool) -> None:
    assert WriteConflict(reasons).retryable is retryable


def test_write_conflict_failed_names_the_write() -> None:
    conflict = WriteConflict([None, "ConditionalCheckFailed", "TransactionConflict"])
    assert [conflict.failed(i) for i in range(4)] == [False, True, False, False]
    assert conflict.reasons == [None, "ConditionalCheckFailed", "TransactionConflict"]
