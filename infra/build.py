"""Build what `make deploy` ships: requirements.txt, the merge template, then `chalice package`.

    python infra/build.py --stage dev [--out dist] [--region ap-northeast-1]

Steps (no AWS credentials; offline once the wheels are cached):
1. Write `<out>/requirements.txt` from pyproject.toml: the runtime
   dependencies and what they pull in, pinned to the venv's versions,
   without what Lambda or Chalice provide.
2. Download those requirements as Lambda wheels (Linux x86_64, CPython
   3.11) into `dist/.cache/wheels/<hash of requirements.txt>/`, once.
3. Stage a clean copy of the Chalice project in `<out>/build/` (app.py,
   chalicelib/ without its local stack `chalicelib/local/`,
   .chalice/config.json), the wheels unpacked into its `vendor/` (without
   phonenumbers' unused data), which Chalice copies into the bundle as is.
4. Render `<out>/<stage>/merge-template.json` (infra/template.py: the table,
   the stream mapping, queues, key, IAM, API settings; infra/observability.py:
   alarms and dashboard; infra/stages.py: per-stage limits).
5. `chalice package --merge-template` writes `<out>/<stage>/sam.json` and
   `<out>/<stage>/deployment.zip`, and the bundle is checked (nothing Lambda
   provides, no local-only code).

Functions are discovered from the Chalice app itself (infra/functions.py), so
a new scheduled handler gets its log group, role, alarms and limits without
touching infra/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
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

from infra.functions import Function, functions_of, schedule_expression  # noqa: E402
from infra.template import load_app, merge_template, refuse_plain_secrets, stage_environment  # noqa: E402

__all__ = [
    "Function",
    "functions_of",
    "load_app",
    "merge_template",
    "refuse_plain_secrets",
    "schedule_expression",
    "stage_environment",
]

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
# Code that only the local stack, the tests or the bench run: never in the bundle.
LOCAL_ONLY = ("chalicelib/local/",)


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


# stage settings ------------------------------------------------------------------------------


def chalice_config(project: Path = ROOT) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((project / ".chalice" / "config.json").read_text())
    return config


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
    house.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--only-binary=:all:", "--implementation", "cp", "--python-version", LAMBDA_PYTHON]
    command += [arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)]
    command += [arg for abi in LAMBDA_ABIS for arg in ("--abi", abi)]
    errors = ""
    for _ in range(2):  # a download that failed half way is tried once more
        # A directory of this build's own: a build running beside it never removes it.
        partial = Path(tempfile.mkdtemp(prefix=f"{digest}.", suffix=".partial", dir=house.parent))
        result = subprocess.run([*command, "-r", str(requirements), "-d", str(partial)], capture_output=True, text=True)
        if result.returncode == 0:
            (partial / ".complete").write_text(requirements.read_text())
            if (house / ".complete").exists():  # another build finished first: the same wheels
                shutil.rmtree(partial, ignore_errors=True)
                return house
            shutil.rmtree(house, ignore_errors=True)
            partial.rename(house)
            return house
        errors = result.stderr
        shutil.rmtree(partial, ignore_errors=True)
    raise SystemExit(f"downloading Lambda wheels failed (the first build needs the package registry):\n{errors}")


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
    """A clean copy of the Chalice project, its dependencies in `vendor/` (so Chalice runs no pip).

    The local stack (`chalicelib/local/`: moto patches, the stream pump, the
    demo server) and the bench stay out: Lambda never runs them (issue 13.5).
    The files the API serves (the SDK, the console) go in at the place
    `chalicelib/api/static.py` reads them from.
    """
    if build_dir.exists():
        shutil.rmtree(build_dir)
    (build_dir / ".chalice").mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", build_dir / "app.py")
    cache = shutil.ignore_patterns("__pycache__", "*.pyc")
    local = {ROOT / p.rstrip("/") for p in LOCAL_ONLY}

    def ignore(directory: str, names: list[str]) -> set[str]:
        return set(cache(directory, names)) | {n for n in names if Path(directory, n) in local}

    shutil.copytree(ROOT / "chalicelib", build_dir / "chalicelib", ignore=ignore)
    shutil.copy2(ROOT / ".chalice" / "config.json", build_dir / ".chalice" / "config.json")
    install_wheels(house, build_dir / "vendor")
    for relative in served_files():  # vendor/ lands at the bundle's root: beside app.py, as in the repository
        destination = build_dir / "vendor" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, destination)
    return build_dir


def served_files(root: Path = ROOT) -> list[str]:
    """What `chalicelib/api/static.py` serves beside the API (the browser SDK, the console), as paths
    in the repository; only those files (not the SDK's README or type declarations, not the demo shop)."""
    from chalicelib.api import static

    found = [static.SDK_PATH] if (root / static.SDK_PATH).is_file() else []
    console = root / static.CONSOLE_DIR
    if console.is_dir():
        found += sorted(
            f"{static.CONSOLE_DIR}/{p.name}"
            for p in console.iterdir()
            if p.is_file() and static.CONSOLE_FILE.fullmatch(p.name)
        )
    return found


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
    """Refuse a bundle carrying what the Lambda runtime provides, data this build cuts, or local-only code."""
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    provided = sorted(t for t in tops if canonicalize_name(t.split("-", 1)[0]) in LAMBDA_RUNTIME)
    if provided:
        raise SystemExit(f"the bundle carries what Lambda provides: {provided}")
    if any(name.startswith(PRUNED) for name in names):
        raise SystemExit("the bundle carries phonenumbers data this build leaves out")
    local = sorted({n for n in names if n.startswith(LOCAL_ONLY) or n.split("/", 1)[0] in {"bench", "tests"}})
    if local:
        raise SystemExit(f"the bundle carries local-only code: {local[:5]}")


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
