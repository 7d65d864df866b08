"""Build what `make deploy` ships: requirements.txt, the merge template, then `chalice package`.

    python infra/build.py --stage dev [--out dist] [--region ap-northeast-1]

Steps (no AWS credentials; offline once the wheels are cached):
1. Write `<out>/requirements.txt` from pyproject.toml: the runtime
   dependencies and what they pull in, pinned to the venv's versions,
   without what Lambda or Chalice provide.
2. Download those requirements as Lambda wheels (Linux x86_64, CPython
   3.11) into `dist/.cache/wheels/<hash of requirements.txt>/`, once.
3. Stage a clean copy of the Chalice project in `<out>/build/` (app.py,
   chalicelib/, .chalice/config.json), the wheels unpacked into its
   `vendor/` (without phonenumbers' unused data), which Chalice copies into
   the bundle as is.
4. Render `<out>/<stage>/merge-template.json`: the DynamoDB table from
   `chalicelib.store.schema.table_definition` (the schema the local stack
   uses), the stream's event source mapping with its failure queue, log
   groups, and IAM limited to this table, its stream and its queue.
5. `chalice package --merge-template` writes `<out>/<stage>/sam.json` and
   `<out>/<stage>/deployment.zip`.

Functions are discovered from the Chalice app itself (routes, every
`@app.lambda_function`, every `@app.schedule`), so a new scheduled handler
gets its log group, role and table name without touching this file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.secrets import PATH_VARIABLE, SECRET_NAMES  # noqa: E402
from chalicelib.store.schema import TTL_ATTRIBUTE, table_definition  # noqa: E402

DEFAULT_OUT = ROOT / "dist"
DEFAULT_CACHE = ROOT / "dist" / ".cache"
DEFAULT_REGION = "us-east-1"  # only picks the partition's service principals; the template is region-neutral

# Chalice vendors its own runtime (chalice/app.py) into the bundle; the Lambda
# Python runtime already has boto3/botocore. Neither belongs in requirements.txt.
LAMBDA_RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath"}
PROVIDED = {"chalice", *LAMBDA_RUNTIME}
# phonenumbers' geocoder, carrier and time-zone data (about 2 MB zipped, 20 MB unpacked;
# the same cut phonenumberslite makes, but on the exact version the tests ran). The app
# only parses, validates and formats numbers; a test keeps it that way.
PRUNED = (
    "phonenumbers/geodata/",
    "phonenumbers/carrierdata/",
    "phonenumbers/tzdata/",
    "phonenumbers/geocoder.py",
    "phonenumbers/carrier.py",
    "phonenumbers/timezone.py",
)
# The Lambda runtime the wheels are for: python3.11 runs on Amazon Linux 2 (glibc 2.26), x86_64.
LAMBDA_PYTHON = "3.11"
LAMBDA_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_12_x86_64", "manylinux1_x86_64")
LAMBDA_ABIS = ("cp311", "abi3", "none")
# Environment markers as the Lambda runtime (python3.11 on Amazon Linux, x86_64) sees them.
LAMBDA_MARKERS = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}

TABLE = "UnificationTable"
QUEUE = "StreamFailureQueue"
ALARM = "StreamFailureAlarm"
MAPPING = "StreamConsumerEventSourceMapping"
STREAM_ROLE = "StreamConsumerRole"
DEFAULT_ROLE = "DefaultRole"  # Chalice's shared role: the API handler and the scheduled handlers
STREAM_CONSUMER = "stream_consumer"  # the `@app.lambda_function` wired to the table's stream

LOG_RETENTION_DAYS = 30
FAILURE_RETENTION_SECONDS = 14 * 24 * 3600  # SQS maximum: time to look at what failed
# Bounded retries: a poison record is retried a few times (bisected down to itself),
# then reported to the queue and skipped instead of blocking its shard for 24 hours.
STREAM_MAPPING = {
    "StartingPosition": "TRIM_HORIZON",
    "BatchSize": 100,
    "MaximumBatchingWindowInSeconds": 1,
    "FunctionResponseTypes": ["ReportBatchItemFailures"],
    "BisectBatchOnFunctionError": True,
    "MaximumRetryAttempts": 5,
    "MaximumRecordAgeInSeconds": 6 * 3600,
}

TABLE_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
]  # TransactWriteItems is authorized through these; no Scan: no request path scans (DESIGN.md)
STREAM_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]


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


@dataclass(frozen=True)
class Build:
    stage: str
    template: Path
    bundle: Path
    merge_template: Path
    requirements: Path

    def bundle_size(self) -> tuple[int, int]:
        """(zipped bytes, unpacked bytes) of the code bundle."""
        with zipfile.ZipFile(self.bundle) as archive:
            return self.bundle.stat().st_size, sum(i.file_size for i in archive.infolist())


# requirements.txt -----------------------------------------------------------------------


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """`[project].dependencies` and what they pull in, pinned to the venv's versions.

    Pinned so that Lambda runs the versions the tests ran; boto3 and chalice
    are left out (see PROVIDED).
    """
    declared = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pinned: dict[str, str] = {}
    pending = [Requirement(r) for r in declared]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in PROVIDED or name in pinned:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate(LAMBDA_MARKERS):
            continue
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError as exc:
            raise SystemExit(
                f"{name} is not installed in this venv: run `make test` (or pip install -e .) first"
            ) from exc
        pinned[name] = version
        for raw in metadata.requires(name) or []:
            dependency = Requirement(raw)
            if dependency.marker is None or dependency.marker.evaluate(LAMBDA_MARKERS):
                pending.append(dependency)
    return [f"{name}=={version}" for name, version in sorted(pinned.items())]


def write_requirements(path: Path) -> Path:
    lines = ["# Generated by infra/build.py from pyproject.toml (pinned to the venv); do not edit."]
    path.write_text("\n".join([*lines, *runtime_requirements()]) + "\n")
    return path


# the app's functions -----------------------------------------------------------------------


def load_app() -> Any:
    """The Chalice app object (`import app` needs no AWS and no variables)."""
    import app as module

    return module.app


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


# stage settings ------------------------------------------------------------------------------


def chalice_config(project: Path = ROOT) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((project / ".chalice" / "config.json").read_text())
    return config


def stage_environment(config: dict[str, Any], stage: str) -> dict[str, str]:
    """The stage's environment variables as Chalice merges them (top level, then stage)."""
    if stage not in config.get("stages", {}):
        raise SystemExit(f"unknown stage {stage!r}; .chalice/config.json has: {', '.join(config.get('stages', {}))}")
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def refuse_plain_secrets(config: dict[str, Any]) -> None:
    """Credentials come from SSM on AWS; a plain value in config.json would land in the template."""
    scopes = [config, *config.get("stages", {}).values()]
    scopes += [f for scope in list(scopes) for f in scope.get("lambda_functions", {}).values()]
    for scope in scopes:
        leaked = sorted(set(scope.get("environment_variables", {})) & set(SECRET_NAMES))
        if leaked:
            raise SystemExit(f".chalice/config.json sets {', '.join(leaked)}: keep them in SSM ({PATH_VARIABLE})")


# the merge template --------------------------------------------------------------------------


def table_resource(table_name: str) -> dict[str, Any]:
    """AWS::DynamoDB::Table from the CreateTable arguments the local stack uses, plus PITR and TTL."""
    definition = dict(table_definition(table_name))
    properties: dict[str, Any] = {}
    for key in (
        "TableName",
        "BillingMode",
        "AttributeDefinitions",
        "KeySchema",
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "ProvisionedThroughput",
        "TableClass",
        "DeletionProtectionEnabled",
        "Tags",
    ):
        if key in definition:
            properties[key] = definition.pop(key)
    stream = definition.pop("StreamSpecification", None)
    if stream and stream.get("StreamEnabled"):
        properties["StreamSpecification"] = {"StreamViewType": stream["StreamViewType"]}
    if "SSESpecification" in definition:
        sse = definition.pop("SSESpecification")
        properties["SSESpecification"] = {
            k: v for k, v in sse.items() if k in {"SSEEnabled", "SSEType", "KMSMasterKeyId"}
        }
    if definition:
        raise SystemExit(f"table_definition() has keys infra/build.py cannot render yet: {sorted(definition)}")
    properties["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    properties["TimeToLiveSpecification"] = {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    properties.setdefault("DeletionProtectionEnabled", True)
    # The data outlives the stack: deleting or replacing the stack leaves the table.
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def _arn(resource: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, attribute]}


def _policy(name: str, functions: list[Function], ssm_path: str, stream: bool) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [_arn(f.log_group) for f in functions],
        },
        {
            "Sid": "UseTable",
            "Effect": "Allow",
            "Action": TABLE_ACTIONS,
            "Resource": [_arn(TABLE), {"Fn::Sub": f"${{{TABLE}.Arn}}/index/*"}],
        },
        {
            "Sid": "ReadSecrets",
            "Effect": "Allow",
            "Action": ["ssm:GetParameters"],
            "Resource": {
                "Fn::Sub": f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{ssm_path}*"
            },
        },
    ]
    if stream:
        statements += [
            {"Sid": "ReadStream", "Effect": "Allow", "Action": STREAM_ACTIONS, "Resource": _arn(TABLE, "StreamArn")},
            {
                "Sid": "ListStreams",
                "Effect": "Allow",
                "Action": ["dynamodb:ListStreams"],
                "Resource": {"Fn::Sub": f"${{{TABLE}.Arn}}/stream/*"},
            },
            {"Sid": "ReportFailures", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": _arn(QUEUE)},
        ]
    return {"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}


def _lambda_trust() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }


# API Gateway's own answers (unknown route, body too large, throttling, ...) in the
# contract's error shape: {"error": {"code", "message"}}.
GATEWAY_RESPONSES = {
    "MissingRouteResponse": ("MISSING_AUTHENTICATION_TOKEN", "404", "not_found", "no such route"),
    "TooLargeResponse": ("REQUEST_TOO_LARGE", "413", "payload_too_large", "$context.error.messageString"),
    "Default4xxResponse": ("DEFAULT_4XX", None, "invalid_request", "$context.error.messageString"),
    "Default5xxResponse": ("DEFAULT_5XX", None, "unavailable", "$context.error.messageString"),
}


def gateway_responses() -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for logical_id, (response_type, status, code, message) in GATEWAY_RESPONSES.items():
        body = json.dumps({"error": {"code": code, "message": message}})
        properties: dict[str, Any] = {
            "RestApiId": {"Ref": "RestAPI"},
            "ResponseType": response_type,
            "ResponseTemplates": {"application/json": body},
        }
        if status is not None:
            properties["StatusCode"] = status
        resources[logical_id] = {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": properties}
    return resources


def merge_template(app: Any, config: dict[str, Any], stage: str) -> dict[str, Any]:
    """What `chalice package --merge-template` lays over Chalice's own template."""
    refuse_plain_secrets(config)
    env = stage_environment(config, stage)
    raw_path = env.get(PATH_VARIABLE, "")
    if not raw_path.strip():
        raise SystemExit(f"stage {stage!r} sets no {PATH_VARIABLE} in .chalice/config.json")
    ssm_path = "/" + raw_path.strip().strip("/") + "/"
    functions = functions_of(app, stage)
    consumer = [f for f in functions if f.name == STREAM_CONSUMER]
    others = [f for f in functions if f.name != STREAM_CONSUMER]

    resources: dict[str, Any] = {
        TABLE: table_resource(env.get("TABLE_NAME") or f"{app.app_name}-{stage}"),
        QUEUE: {
            "Type": "AWS::SQS::Queue",
            "DeletionPolicy": "Delete",  # it holds pointers into the stream (24 h), not data
            "UpdateReplacePolicy": "Delete",
            "Properties": {"MessageRetentionPeriod": FAILURE_RETENTION_SECONDS, "SqsManagedSseEnabled": True},
        },
        ALARM: {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": "Stream records the consumer gave up on: replay within 24 h (infra/README.md)",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": _arn(QUEUE, "QueueName")}],
                "Statistic": "Maximum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]},
            },
        },
        MAPPING: {
            "Type": "AWS::Lambda::EventSourceMapping",
            "DependsOn": [STREAM_ROLE],  # the role must allow reading the stream before the mapping is created
            "Properties": {
                "EventSourceArn": _arn(TABLE, "StreamArn"),
                "FunctionName": {"Ref": consumer[0].logical_id},
                "Enabled": True,
                **STREAM_MAPPING,
                "DestinationConfig": {"OnFailure": {"Destination": _arn(QUEUE)}},
            },
        },
        STREAM_ROLE: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": _lambda_trust(),
                "Policies": [_policy("StreamConsumerPolicy", consumer, ssm_path, stream=True)],
            },
        },
        DEFAULT_ROLE: {"Properties": {"Policies": [_policy("DefaultRolePolicy", others, ssm_path, stream=False)]}},
    }
    resources.update(gateway_responses())
    for function in functions:
        resources[function.log_group] = {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "LogGroupName": f"/aws/lambda/{function.function_name}",
                "RetentionInDays": LOG_RETENTION_DAYS,
            },
        }
        properties: dict[str, Any] = {
            "FunctionName": function.function_name,
            "Environment": {"Variables": {"TABLE_NAME": {"Ref": TABLE}}},
        }
        if function.name == STREAM_CONSUMER:
            properties["Role"] = _arn(STREAM_ROLE)
        resources[function.logical_id] = {"DependsOn": [function.log_group], "Properties": properties}

    return {
        "Description": f"{app.app_name} ({stage}): API, stream consumer, schedules and their DynamoDB table",
        "Parameters": {
            "AlarmTopicArn": {
                "Type": "String",
                "Default": "",
                "Description": "SNS topic told when stream records land in the failure queue (empty: none)",
            }
        },
        "Conditions": {"HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}},
        "Resources": resources,
        "Outputs": {
            "TableName": {"Value": {"Ref": TABLE}},
            "TableStreamArn": {"Value": _arn(TABLE, "StreamArn")},
            "StreamFailureQueueUrl": {"Value": {"Ref": QUEUE}},
            "SecretsParameterPath": {"Value": ssm_path},
        },
    }


# chalice package ----------------------------------------------------------------------------


def wheelhouse(requirements: Path, cache: Path) -> Path:
    """Lambda's wheels (Linux x86_64, CPython 3.11) for exactly these requirements, downloaded once.

    Keyed by the hash of requirements.txt, so later builds, whatever the code
    change, need no network. (Chalice's own cache is keyed by the app's source
    too, which would send every edited build back to the registry.)
    """
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    house = cache / "wheels" / digest
    if (house / ".complete").exists():
        return house
    partial = house.with_name(f"{digest}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--only-binary=:all:", "--implementation", "cp", "--python-version", LAMBDA_PYTHON]
    command += [arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)]
    command += [arg for abi in LAMBDA_ABIS for arg in ("--abi", abi)]
    result = subprocess.run([*command, "-r", str(requirements), "-d", str(partial)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(
            f"downloading Lambda wheels failed (the first build needs the package registry):\n{result.stderr}"
        )
    (partial / ".complete").write_text(requirements.read_text())
    shutil.rmtree(house, ignore_errors=True)
    partial.rename(house)
    return house


def install_wheels(house: Path, target: Path) -> None:
    """Unpack every wheel into `target` (as pip install --target would), leaving out PRUNED data."""
    for wheel in sorted(house.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for entry in archive.infolist():
                parts = entry.filename.split("/")
                if parts[0].endswith(".data"):
                    if len(parts) < 3 or parts[1] not in {"purelib", "platlib"}:
                        continue  # scripts, headers, data files: nothing Lambda imports
                    parts = parts[2:]
                if entry.is_dir() or "/".join(parts).startswith(PRUNED):
                    continue
                destination = target.joinpath(*parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(archive.read(entry))


def stage_project(build_dir: Path, house: Path) -> Path:
    """A clean copy of the Chalice project, its dependencies in `vendor/` (so Chalice runs no pip)."""
    if build_dir.exists():
        shutil.rmtree(build_dir)
    (build_dir / ".chalice").mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", build_dir / "app.py")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "chalicelib", build_dir / "chalicelib", ignore=ignore)
    shutil.copy2(ROOT / ".chalice" / "config.json", build_dir / ".chalice" / "config.json")
    install_wheels(house, build_dir / "vendor")
    return build_dir


def isolated_env(region: str | None) -> dict[str, str]:
    """`chalice package` makes no AWS call, but building a client still walks the credential chain:
    keep it away from profiles, SSO and the instance metadata service."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_DEFAULT_REGION=region or DEFAULT_REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def check_bundle(bundle: Path) -> None:
    """Refuse a bundle carrying what the Lambda runtime provides, or data this build cuts."""
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    provided = sorted(t for t in tops if canonicalize_name(t.split("-", 1)[0]) in LAMBDA_RUNTIME)
    if provided:
        raise SystemExit(f"the bundle carries what Lambda provides: {provided}")
    if any(name.startswith(PRUNED) for name in names):
        raise SystemExit("the bundle carries phonenumbers data this build leaves out")


def package(stage: str, out: Path = DEFAULT_OUT, cache: Path = DEFAULT_CACHE, region: str | None = None) -> Build:
    """requirements.txt, merge template and `chalice package` for one stage, under `out`."""
    out = out.resolve()
    config = chalice_config()
    stage_environment(config, stage)  # unknown stage: stop before any work
    out.mkdir(parents=True, exist_ok=True)
    requirements = write_requirements(out / "requirements.txt")
    project = stage_project(out / "build", wheelhouse(requirements, cache))
    target = out / stage
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    merge_path = target / "merge-template.json"
    merge_path.write_text(json.dumps(merge_template(load_app(), config, stage), indent=2) + "\n")

    chalice = Path(sys.executable).parent / "chalice"
    command = [str(chalice), "--project-dir", str(project), "package", "--stage", stage]
    command += ["--pkg-format", "cloudformation", "--template-format", "json", "--merge-template", str(merge_path)]
    result = subprocess.run([*command, str(target)], env=isolated_env(region), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"chalice package failed:\n{result.stdout}\n{result.stderr}")
    build = Build(stage, target / "sam.json", target / "deployment.zip", merge_path, requirements)
    check_bundle(build.bundle)
    return build


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    args = parser.parse_args(argv)
    build = package(args.stage, args.out, args.cache, args.region)
    zipped, unpacked = build.bundle_size()
    print(f"template:     {build.template}")
    print(f"bundle:       {build.bundle} ({zipped / 1e6:.1f} MB zipped, {unpacked / 1e6:.1f} MB unpacked)")
    print(f"requirements: {build.requirements}")


if __name__ == "__main__":
    main()
