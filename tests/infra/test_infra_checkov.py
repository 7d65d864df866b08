"""Every `make package` template passes checkov with 0 failed checks (issue 16.3).

A check that does not fit the design is skipped in the resource's own
`Metadata` with its reason (infra/template.py, `SKIPS`); nothing is skipped on
the command line. checkov runs once over all stages (conftest.py).
"""

from __future__ import annotations

from typing import Any

from infra_support import functions, template_of

from infra import skips


def test_checkov_finds_no_failed_check(built: Any, checkov_reports: dict[str, dict[str, Any]]) -> None:
    report = checkov_reports[built.stage]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["failed"]]
    assert failed == []


def test_checkov_really_scanned_every_function_of_the_template(
    built: Any, checkov_reports: dict[str, dict[str, Any]]
) -> None:
    report = checkov_reports[built.stage]
    concurrency = {c["resource"] for c in report["passed"] if c["check_id"] == "CKV_AWS_115"}
    environment = {c["resource"] for c in report["passed"] if c["check_id"] == "CKV_AWS_173"}
    expected = {f"AWS::Serverless::Function.{name}" for name in functions(template_of(built))}
    assert concurrency == expected
    assert environment == expected
    log_groups = {c["resource"] for c in report["passed"] if c["check_id"] == "CKV_AWS_158"}
    assert "AWS::Logs::LogGroup.ApiAccessLogGroup" in log_groups
    passed = {c["check_id"] for c in report["passed"]}
    assert {"CKV_AWS_27", "CKV_AWS_73", "CKV_AWS_76", "CKV_AWS_7"} <= passed  # queue SSE, tracing, access log, rotation


def test_every_skip_is_in_the_templates_metadata_with_its_reason(
    built: Any, checkov_reports: dict[str, dict[str, Any]]
) -> None:
    template = template_of(built)
    reasons = {i: c for group in skips.SKIPS.values() for i, c in group.items()}
    for check in checkov_reports[built.stage]["skipped"]:
        check_id, resource = check["check_id"], check["resource"].split(".", 1)[1]
        assert check["check_result"]["suppress_comment"] == reasons[check_id]
        in_metadata = template["Resources"][resource]["Metadata"]["checkov"]["skip"]
        assert {"id": check_id, "comment": reasons[check_id]} in in_metadata
    skipped = {c["check_id"] for c in checkov_reports[built.stage]["skipped"]}
    assert skipped == set(reasons)  # no reason kept for a check that no longer fails
