"""Size of each rotation function's package, as `sam build` makes it: unzipped and zipped.

Builds every template in templates/ with `sam build` (or reuses a build with --reuse), then
prints, per function: files, bytes unzipped, bytes zipped (deflate, as `sam deploy` uploads
it), the largest parts, what the native files and the bytecode of each Python version add (the
package carries the wheels of every runtime the templates allow; see templates/sam.mk), and, for
the packages built for this machine, a cold import from the package as Lambda makes it (`python
-I -S -B`, the package alone on sys.path: the handler's module and a Secrets Manager client)
with the package's bytecode and, in the same run, from a copy without it (what a package without
bytecode costs on Lambda, whose /var/task is read-only). Median of --runs processes each.

Usage: python bench/package_size.py [--build-dir DIR] [--reuse] [--runs N]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
FUNCTION = re.compile(r"^  (\w+):\n    Type: AWS::Serverless::Function$", re.MULTILINE)
NATIVE = re.compile(r"\.cpython-(\d)(\d+)-")
BYTECODE = re.compile(r"\.cpython-(\d)(\d+)\.pyc$")
# The import a cold step starts with, in a fresh `python -I -S -B` with only the package on
# sys.path; prints its milliseconds.
COLD_IMPORT = """
import sys, time
started = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import importlib
importlib.import_module(sys.argv[2])
import boto3
boto3.client("secretsmanager", region_name="us-east-1")
print((time.perf_counter() - started) * 1000)
"""
MB = 1_000_000


def functions() -> dict[str, str]:
    """Logical id of each template's function -> the template's file name."""
    found = {}
    for template in sorted(TEMPLATES.glob("*.yaml")):
        for logical_id in FUNCTION.findall(template.read_text()):
            found[logical_id] = template.name
    return found


def sam() -> str:
    beside = Path(sys.executable).parent / "sam"
    return str(beside) if beside.exists() else shutil.which("sam") or "sam"


def build(template: str, build_dir: Path) -> None:
    """`sam build` of one template into `build_dir`."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    command = [sam(), "build", "--template", str(TEMPLATES / template)]
    command += ["--build-dir", str(build_dir), "--build-in-source"]
    run = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    said = run.stdout + run.stderr  # sam prints make's output on stderr
    if run.returncode:
        sys.exit(f"sam build of {template} failed:\n{said[-4000:]}")
    for line in said.splitlines():
        if line.startswith("sam.mk: bytecode"):
            print(f"{template}: {line}")
            break


def measure(package: Path) -> dict[str, Counter[str]]:
    """Bytes by top-level entry, unzipped and zipped, and native bytes by Python version."""
    unzipped: Counter[str] = Counter()
    zipped: Counter[str] = Counter()
    native: Counter[str] = Counter()
    bytecode: Counter[str] = Counter()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in package.rglob("*") if p.is_file()):
            name = path.relative_to(package).as_posix()
            archive.write(path, name)
            top = name.split("/", 1)[0]
            unzipped[top] += path.stat().st_size
            zipped[top] += archive.getinfo(name).compress_size
            version = NATIVE.search(path.name)
            if version:
                native[f"{version.group(1)}.{version.group(2)}"] += path.stat().st_size
            if compiled := BYTECODE.search(path.name):
                bytecode[f"{compiled.group(1)}.{compiled.group(2)}"] += path.stat().st_size
        count = len(archive.infolist())
    models = sum(1 for p in (package / "botocore" / "data").iterdir() if p.is_dir())
    files = Counter({"files": count, "zip": len(buffer.getvalue()), "models": models})
    return {
        "unzipped": unzipped,
        "zipped": zipped,
        "native": native,
        "bytecode": bytecode,
        "files": files,
    }


def part(name: str) -> str:
    """The distribution a top-level entry belongs to (psycopg_binary.libs -> psycopg_binary)."""
    return name.split("-", 1)[0].split(".", 1)[0]


def report(logical_id: str, sizes: dict[str, Counter[str]]) -> None:
    unzipped, zipped = Counter[str](), Counter[str]()
    for name, size in sizes["unzipped"].items():
        unzipped[part(name)] += size
        zipped[part(name)] += sizes["zipped"][name]
    total = sum(unzipped.values())
    print(f"\n{logical_id}: {sizes['files']['files']} files")
    print(f"  unzipped {total / MB:6.1f} MB   zipped {sizes['files']['zip'] / MB:6.1f} MB")
    print(f"  {'part':24} {'unzipped MB':>12} {'zipped MB':>10}")
    for name, size in unzipped.most_common(8):
        print(f"  {name:24} {size / MB:12.2f} {zipped[name] / MB:10.2f}")
    print(f"  {'(smrotate)':24} {unzipped['smrotate'] / MB:12.2f}")
    for version, size in sorted(sizes["native"].items()):
        print(f"  native files for Python {version}: {size / MB:.2f} MB unzipped")
    for version, size in sorted(sizes["bytecode"].items()):
        print(f"  bytecode for Python {version}: {size / MB:.2f} MB unzipped")
    print(f"  botocore API models kept: {sizes['files']['models']} ({botocore_models()} here)")


def botocore_models() -> str:
    """How many API models this interpreter's botocore has, and their size."""
    import botocore

    data = Path(botocore.__file__).parent / "data"
    size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    return f"{sum(1 for p in data.iterdir() if p.is_dir())} models, {size / MB:.1f} MB"


def cold_import_ms(package: Path, module: str) -> float:
    """One cold import from `package` in a fresh interpreter, as Lambda runs it."""
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", COLD_IMPORT, str(package), module],
        cwd=package,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(run.stdout)


def report_cold_import(package: Path, runs: int) -> None:
    """Cold import with the package's bytecode and, alternating, from a copy without it."""
    tag = sys.implementation.cache_tag
    if not any(package.rglob(f"*.{tag}.pyc")):
        print(f"  cold import: the package has no bytecode for this Python ({tag})")
        return
    module = next(
        f"smrotate.rotators.{p.name}"
        for p in (package / "smrotate/rotators").iterdir()
        if (p / "__init__.py").is_file()
    )
    with tempfile.TemporaryDirectory(prefix="smrotate-nopyc-") as scratch:
        source_only = Path(scratch) / "package"
        shutil.copytree(package, source_only, ignore=shutil.ignore_patterns("__pycache__"))
        with_pyc, without = [], []
        for _ in range(runs):
            with_pyc.append(cold_import_ms(package, module))
            without.append(cold_import_ms(source_only, module))
    a, b = statistics.median(with_pyc), statistics.median(without)
    print(f"  cold import ({module} and a Secrets Manager client, median of {runs}):")
    print(f"    with the package's bytecode {a:6.0f} ms; without {b:6.0f} ms ({b / a:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, help="where to build (default: a temp folder)")
    parser.add_argument("--reuse", action="store_true", help="measure an existing build")
    parser.add_argument("--runs", type=int, default=7, help="cold imports per variant")
    args = parser.parse_args()
    here = "Arm64" if platform.machine().lower() in {"aarch64", "arm64"} else ""
    with tempfile.TemporaryDirectory(prefix="smrotate-size-") as scratch:
        base = args.build_dir or Path(scratch)
        built: set[str] = set()  # one `sam build` per template builds all its functions
        for logical_id, template in functions().items():
            build_dir = base / Path(template).stem
            if template not in built and not (args.reuse and (build_dir / logical_id).is_dir()):
                build(template, build_dir)
                built.add(template)
            report(logical_id, measure(build_dir / logical_id))
            if logical_id.endswith("RotationFunction" + here):  # built for this machine
                report_cold_import(build_dir / logical_id, args.runs)


if __name__ == "__main__":
    main()
