"""The deployable template, built by the code `make package` runs, read back and checked (issues 5, 13, 16).

The builds (one per stage) come from conftest.py; infra_support.py reads them.
"""

from __future__ import annotations

import ast
import json
import platform
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs
from infra_support import functions, get_att, only, resources_of, template_of

from chalicelib.api.web import RETRY_AFTER_SECONDS
from chalicelib.secrets import PATH_VARIABLE, SECRET_NAMES
from chalicelib.store.schema import TTL_ATTRIBUTE, table_definition
from infra import build, iam

ROOT = Path(__file__).resolve().parents[2]
BUNDLE_BUDGET_ZIPPED = 6_000_000  # bytes; 3.8 MB at the time of writing
BUNDLE_BUDGET_UNPACKED = 25_000_000


# lint -------------------------------------------------------------------------------------


def test_cfn_lint_finds_no_errors(built: Any) -> None:
    matches = lint_file(built.template, config=ManualArgs(regions=["us-east-1", "ap-northeast-1"]))
    errors = [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches if m.rule.id.startswith("E")]
    assert errors == []


# the table --------------------------------------------------------------------------------


def test_table_is_rendered_from_the_schema_the_local_stack_uses(built: Any) -> None:
    template = template_of(built)
    name, table = only(template, "AWS::DynamoDB::Table")
    schema = table_definition(table["Properties"]["TableName"])
    props = table["Properties"]

    assert props["KeySchema"] == schema["KeySchema"]
    assert props["AttributeDefinitions"] == schema["AttributeDefinitions"]
    assert props["GlobalSecondaryIndexes"] == schema["GlobalSecondaryIndexes"]
    assert [g["IndexName"] for g in props["GlobalSecondaryIndexes"]] == ["gsi1", "gsi2", "gsi3", "gsi4"]
    assert props["BillingMode"] == schema["BillingMode"]
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")

    stage_env = build.stage_environment(build.chalice_config(), built.stage)
    assert props["TableName"] == stage_env["TABLE_NAME"]
    for fn in functions(template).values():
        assert fn["Properties"]["Environment"]["Variables"]["TABLE_NAME"] == {"Ref": name}


# the functions ----------------------------------------------------------------------------


def test_api_function_serves_every_route_behind_api_gateway(built: Any, chalice_app: Any) -> None:
    template = template_of(built)
    api = template["Resources"]["APIHandler"]
    assert api["Type"] == "AWS::Serverless::Function"
    assert api["Properties"]["Handler"] == "app.app"
    assert api["Properties"]["Timeout"] <= 29  # API Gateway gives up at 29 s

    _, rest = only(template, "AWS::Serverless::Api")
    paths = rest["Properties"]["DefinitionBody"]["paths"]
    assert set(paths) == set(chalice_app.routes)
    for path, methods in paths.items():
        for method, operation in methods.items():
            if method == "options":
                continue
            uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            assert "${APIHandler.Arn}" in uri, (path, method)

    _, permission = only(template, "AWS::Lambda::Permission")
    assert permission["Properties"]["FunctionName"] == {"Ref": "APIHandler"}
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"


def test_api_gateways_own_refusals_answer_in_the_contracts_error_shape(built: Any) -> None:
    template = template_of(built)
    rest_id, _ = only(template, "AWS::Serverless::Api")
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources_of(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) >= {
        "MISSING_AUTHENTICATION_TOKEN",
        "REQUEST_TOO_LARGE",
        "THROTTLED",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
    }
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"  # an unknown route is not a 403
    # The stage's throttling answers as the contract's busy store does: 503 unavailable + Retry-After.
    throttled = responses["THROTTLED"]
    assert throttled["StatusCode"] == "503"
    assert json.loads(throttled["ResponseTemplates"]["application/json"])["error"]["code"] == "unavailable"
    assert throttled["ResponseParameters"]["gatewayresponse.header.Retry-After"] == f"'{RETRY_AFTER_SECONDS}'"
    for properties in responses.values():
        assert properties["RestApiId"] == {"Ref": rest_id}
        body = json.loads(properties["ResponseTemplates"]["application/json"])
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
        # They apply to Open API routes too, which never send Access-Control-Allow-Origin.
        assert not [h for h in properties.get("ResponseParameters", {}) if "access-control" in h.lower()]


def test_stream_consumer_is_mapped_to_the_stream_with_bounded_retries_and_a_failure_queue(built: Any) -> None:
    template = template_of(built)
    table, _ = only(template, "AWS::DynamoDB::Table")
    queue = template["Resources"]["StreamFailureQueue"]
    consumer = template["Resources"]["StreamConsumer"]
    assert consumer["Properties"]["Handler"] == "app.stream_consumer"
    assert "Events" not in consumer["Properties"]  # the mapping below is the only trigger

    _, mapping = only(template, "AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]
    assert props["EventSourceArn"] == get_att(table, "StreamArn")
    assert props["FunctionName"] == {"Ref": "StreamConsumer"}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert 0 <= props["MaximumRetryAttempts"] <= 10  # -1 would mean forever
    assert 60 <= props["MaximumRecordAgeInSeconds"] <= 24 * 3600  # -1 would mean until the stream drops it
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": get_att("StreamFailureQueue")}}
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["Properties"]["KmsMasterKeyId"] == {"Ref": "ServiceKey"}

    outputs = template["Outputs"]  # what make replay-failures reads
    assert outputs["StreamFailureQueueUrl"]["Value"] == {"Ref": "StreamFailureQueue"}
    assert outputs["StreamConsumerName"]["Value"] == {"Ref": "StreamConsumer"}


def test_every_scheduled_handler_is_scheduled(built: Any, chalice_app: Any) -> None:
    from chalice.app import ScheduledEventConfig
    from chalice.utils import to_cfn_resource_name

    template = template_of(built)
    expected = {
        to_cfn_resource_name(s.name): (s.handler_string, build.schedule_expression(s.schedule_expression))
        for s in chalice_app.event_sources
        if isinstance(s, ScheduledEventConfig)
    }
    assert expected, "app.py has scheduled handlers"
    scheduled = {
        name: (fn["Properties"]["Handler"], event["Properties"]["Schedule"])
        for name, fn in functions(template).items()
        for event in fn["Properties"].get("Events", {}).values()
        if event["Type"] == "Schedule"
    }
    assert scheduled == expected


def test_every_function_has_its_name_log_group_and_no_plain_secret(built: Any) -> None:
    template = template_of(built)
    for name, fn in functions(template).items():
        props = fn["Properties"]
        assert props["FunctionName"].startswith(f"unification-{built.stage}")
        log_group = template["Resources"][f"{name}LogGroup"]
        assert log_group["Properties"]["LogGroupName"] == f"/aws/lambda/{props['FunctionName']}"
        assert log_group["Properties"]["RetentionInDays"] > 0
        assert log_group["Properties"]["KmsKeyId"] == get_att("ServiceKey")
        assert f"{name}LogGroup" in fn["DependsOn"]

        variables = props["Environment"]["Variables"]
        forbidden = set(SECRET_NAMES) | {f"{n}_PREVIOUS" for n in SECRET_NAMES}
        assert not set(variables) & forbidden, name
        assert variables[PATH_VARIABLE] == f"/unification/{built.stage}/"
        assert props["KmsKeyArn"] == get_att("ServiceKey")  # the environment, encrypted with the stack's key
        assert props["Tracing"] == "Active"
        assert "VpcConfig" not in props  # deliver_webhook needs the internet; nothing needs a VPC
    assert "Policies" not in json.dumps([f["Properties"] for f in functions(template).values()])


def test_the_service_key_rotates_and_lets_cloudwatch_logs_use_it_for_this_stacks_log_groups_only(built: Any) -> None:
    template = template_of(built)
    key_id, key = only(template, "AWS::KMS::Key")
    assert key_id == "ServiceKey"
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = {s["Sid"]: s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    logs = statements["CloudWatchLogsForThisStacksLogGroups"]
    allowed = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    names = sorted(a["Fn::Sub"].split(":log-group:")[1] for a in allowed)
    log_groups = sorted(g["Properties"]["LogGroupName"] for g in resources_of(template, "AWS::Logs::LogGroup").values())
    assert names == log_groups
    assert statements["AccountAdministersThroughIam"]["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    }
    assert len(statements) == 2


# IAM ---------------------------------------------------------------------------------------


def statements_of(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_iam_reaches_only_this_stacks_table_stream_queues_key_secrets_and_webhook_function(built: Any) -> None:
    template = template_of(built)
    table, _ = only(template, "AWS::DynamoDB::Table")
    queues = [get_att(q) for q in resources_of(template, "AWS::SQS::Queue")]
    log_groups = set(resources_of(template, "AWS::Logs::LogGroup"))
    ssm_path = f"parameter/unification/{built.stage}/*"
    table_resources = [get_att(table), {"Fn::Sub": f"${{{table}.Arn}}/index/*"}]
    stream_resources = [get_att(table, "StreamArn"), {"Fn::Sub": f"${{{table}.Arn}}/stream/*"}]
    webhook = [
        get_att(n)
        for n, f in functions(template).items()
        if f["Properties"]["FunctionName"].endswith("-deliver_webhook")
    ]

    roles = resources_of(template, "AWS::IAM::Role")
    used = {fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in functions(template).values()}
    assert used == set(roles)

    actions_by_role: dict[str, set[str]] = {}
    for role_name, role in roles.items():
        assert role["Properties"]["ManagedPolicyArns"] == [iam.XRAY_POLICY]  # traces, nothing else
        actions = actions_by_role.setdefault(role_name, set())
        for statement in statements_of(role):
            assert statement["Effect"] == "Allow"
            assert "Condition" not in statement
            resources = as_list(statement["Resource"])
            for action in as_list(statement["Action"]):
                assert "*" not in action, action
                actions.add(action)
                service = action.split(":")[0]
                for resource in resources:
                    assert not isinstance(resource, str), f"{action} on a literal ARN: {resource}"
                    if service == "dynamodb":
                        assert resource in table_resources + stream_resources, (action, resource)
                    elif service == "sqs":
                        assert action == "sqs:SendMessage" and resource in queues, (action, resource)
                    elif service == "ssm":
                        assert action == "ssm:GetParameters"
                        assert resource["Fn::Sub"].endswith(ssm_path), resource
                    elif service == "logs":
                        assert resource["Fn::GetAtt"][0] in log_groups, resource
                    elif service == "kms":
                        assert action in {"kms:Decrypt", "kms:GenerateDataKey"} and resource == get_att("ServiceKey")
                    elif service == "lambda":
                        assert action == "lambda:InvokeFunction" and resource in webhook, (action, resource)
                    else:
                        pytest.fail(f"unexpected permission {action}")

    consumer_role = template["Resources"]["StreamConsumer"]["Properties"]["Role"]["Fn::GetAtt"][0]
    api_role = template["Resources"]["APIHandler"]["Properties"]["Role"]["Fn::GetAtt"][0]
    assert consumer_role != api_role
    assert {"dynamodb:GetRecords", "dynamodb:GetShardIterator", "sqs:SendMessage"} <= actions_by_role[consumer_role]
    # The API handler reads and writes the table, reads its secrets and writes its logs: nothing more.
    assert not {"dynamodb:GetRecords", "sqs:SendMessage", "lambda:InvokeFunction"} & actions_by_role[api_role]
    assert "dynamodb:Scan" not in set().union(*actions_by_role.values())  # no request path scans


def test_asynchronously_invoked_functions_have_a_dead_letter_queue_and_schedules_drop_stale_ticks(built: Any) -> None:
    template = template_of(built)
    for name, fn in functions(template).items():
        props = fn["Properties"]
        scheduled = any(e["Type"] == "Schedule" for e in props.get("Events", {}).values())
        if name in {"APIHandler", "StreamConsumer"}:
            assert "DeadLetterQueue" not in props
            continue
        assert props["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": get_att("AsyncFailureQueue")}, name
        role = template["Resources"][props["Role"]["Fn::GetAtt"][0]]
        sends = [s for s in statements_of(role) if "sqs:SendMessage" in as_list(s["Action"])]
        assert any(get_att("AsyncFailureQueue") in as_list(s["Resource"]) for s in sends), name
        if scheduled:
            assert props["EventInvokeConfig"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 300}


# the bundle --------------------------------------------------------------------------------


def test_bundle_is_small_and_leaves_out_what_lambda_provides(built: Any) -> None:
    zipped, unpacked = built.bundle_size()
    assert zipped < BUNDLE_BUDGET_ZIPPED, f"{zipped / 1e6:.1f} MB zipped"
    assert unpacked < BUNDLE_BUDGET_UNPACKED, f"{unpacked / 1e6:.1f} MB unpacked"
    with zipfile.ZipFile(built.bundle) as archive:
        names = archive.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {"app.py", "chalicelib", "pydantic", "pydantic_core", "phonenumbers", "email_validator"} <= tops
    assert not {t for t in tops if t.split("-")[0] in {"boto3", "botocore", "s3transfer", "moto"}}
    assert not [n for n in names if n.startswith(build.PRUNED) or "__pycache__" in n]


def test_bundle_carries_the_apps_code_without_the_local_stack_or_the_bench(built: Any) -> None:
    """Issue 13.5: what Lambda runs is app.py and chalicelib minus chalicelib/local/, the files the API
    serves (SDK, console) beside them; the rest is vendor/ (the wheels)."""
    with zipfile.ZipFile(built.bundle) as archive:
        names = archive.namelist()
    project = {str(p.relative_to(ROOT)) for p in (ROOT / "chalicelib").rglob("*.py")} | {"app.py"}
    expected = {p for p in project if not p.startswith("chalicelib/local/")}
    in_bundle = {n for n in names if n == "app.py" or n.startswith("chalicelib/")}
    assert in_bundle == expected
    served = set(build.served_files())
    assert {n for n in names if n.split("/", 1)[0] in {"sdk", "console"}} == served
    if (ROOT / "sdk" / "unification.js").is_file():
        assert "sdk/unification.js" in served
    assert not [n for n in names if n.split("/", 1)[0] in {"bench", "tests", "infra", "demo"}]
    assert not [n for n in names if "fast_moto" in n or n.startswith("moto/")]


def test_the_bundle_takes_only_the_files_the_api_serves(tmp_path: Path) -> None:
    for name, text in {
        "sdk/unification.js": "// sdk",
        "sdk/unification.d.ts": "// types",
        "sdk/README.md": "# sdk",
        "console/index.html": "<!doctype html>",
        "console/console.js": "// console",
        "console/notes.txt": "not served",
        "console/parts/nested.js": "not served: no folders",
        "demo/index.html": "the demo shop: make run only",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert build.served_files(tmp_path) == ["sdk/unification.js", "console/console.js", "console/index.html"]
    assert build.served_files(tmp_path / "nothing") == []


def test_requirements_come_from_pyproject_pinned_without_boto3(built: Any) -> None:
    lines = [line for line in built.requirements.read_text().splitlines() if not line.startswith("#")]
    names = {line.split("==")[0] for line in lines}
    assert all("==" in line for line in lines)
    assert {"pydantic", "pydantic-core", "phonenumbers", "email-validator"} <= names
    assert not names & {"boto3", "botocore", "chalice"}


@pytest.mark.skipif(
    not (sys.platform == "linux" and platform.machine() == "x86_64" and sys.version_info[:2] == (3, 11)),
    reason="the bundle's compiled wheels are for Lambda (Linux x86_64, Python 3.11)",
)
def test_bundle_imports_the_app_with_only_the_runtimes_boto3(built: Any, tmp_path: Path) -> None:
    with zipfile.ZipFile(built.bundle) as archive:
        archive.extractall(tmp_path)
    # Every module of the bundle imports with only the bundle and the runtime's boto3:
    # nothing in it reaches for the local stack it leaves out.
    probe = (
        "import importlib, pathlib, app, phonenumbers, pydantic_core, sys\n"
        "for p in sorted(pathlib.Path('chalicelib').rglob('*.py')):\n"
        "    importlib.import_module('.'.join(p.with_suffix('').parts).removesuffix('.__init__'))\n"
        "from chalicelib.api import static\n"
        "for name in sys.argv[1:]:\n"  # the served files, read where the deployed API reads them
        "    assert static.read(name) == open(name, 'rb').read(), name\n"
        "    print(static.ROOT / name)\n"
        "n = phonenumbers.parse('090-1234-5678', 'JP')\n"
        "assert phonenumbers.is_valid_number(n)\n"
        "print(phonenumbers.__file__); print(pydantic_core.__file__); print(app.__file__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *build.served_files()],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert all(line.startswith(str(tmp_path)) for line in result.stdout.split()), result.stdout
    for name in build.served_files():
        assert (tmp_path / name).read_bytes() == (ROOT / name).read_bytes(), name


def test_app_uses_none_of_the_phonenumbers_data_the_bundle_leaves_out() -> None:
    pruned_modules = {p.removesuffix(".py").removesuffix("/").split("/")[1] for p in build.PRUNED}
    offenders = []
    for path in [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("phonenumbers"):
                names = {f"{node.module}.{a.name}" for a in node.names}
            else:
                continue
            offenders += [
                (path.name, n) for n in names if n.startswith("phonenumbers.") and n.split(".")[1] in pruned_modules
            ]
    assert offenders == []


# the build's rules, on apps and configs made up for the purpose ----------------------------------


def test_scheduled_handlers_added_later_are_wired_without_touching_infra() -> None:
    from chalice.app import Chalice, Cron, Rate

    later = Chalice(app_name="unification")

    @later.route("/v1/health")
    def health() -> dict[str, str]:
        return {}

    @later.lambda_function(name="stream_consumer")
    def consume(event: Any, context: Any) -> None:
        return None

    @later.schedule(Rate(5, unit=Rate.MINUTES), name="expire_sessions")
    def expire(event: Any) -> None:
        return None

    @later.schedule(Cron(0, 3, "*", "*", "?", "*"), name="nightly_report")
    def nightly(event: Any) -> None:
        return None

    resources = build.merge_template(later, build.chalice_config(), "dev")["Resources"]
    worker_logs = statements_of(resources["WorkerRole"])[0]["Resource"]
    for logical, name in (("ExpireSessions", "expire_sessions"), ("NightlyReport", "nightly_report")):
        props = resources[logical]["Properties"]
        assert props["FunctionName"] == f"unification-dev-{name}"
        assert props["Environment"]["Variables"]["TABLE_NAME"] == {"Ref": "UnificationTable"}
        assert props["Role"] == get_att("WorkerRole")
        assert props["ReservedConcurrentExecutions"] == 1
        assert get_att(f"{logical}LogGroup") in worker_logs
        assert {f"{logical}ErrorsAlarm", f"{logical}ThrottlesAlarm"} <= set(resources)


@pytest.mark.parametrize("name", ["ACCESS_SECRET", "MEMBER_HASH_SECRET_PREVIOUS"])
@pytest.mark.parametrize("scope", ["top", "stage", "function"])
def test_a_plain_secret_in_chalice_config_stops_the_build(scope: str, name: str) -> None:
    leak = {"environment_variables": {name: "plain"}}
    config: dict[str, Any] = {
        "top": leak,
        "stage": {"stages": {"dev": leak}},
        "function": {"stages": {"dev": {"lambda_functions": {"api_handler": leak}}}},
    }[scope]
    with pytest.raises(SystemExit, match=name):
        build.refuse_plain_secrets(config)
