"""A SAM project for one engine, written from the installed smrotate: `sam build` builds it
without a checkout.

The project has the checkout's layout, which templates/sam.mk expects: `Makefile` (including
`templates/sam.mk`), `templates/<engine>.yaml` (with `templates/samconfig.toml`, so that
`cd templates && sam build --config-env <engine>` works as in a checkout), `locks/` (the
engine's lock), `framework/` (the engine, as installed, without the operator tools and the test
kit) and `rotators/` (that engine's rotator only, with any rotator it imports: REUSED).
Idempotent: writing it again over the same folder gives the same files; a folder that holds
other files is refused, so nothing of the user's is overwritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from smrotate.errors import ConfigurationError


class SamEngine(NamedTuple):
    """One engine's project: `templates/<template>`, `rotators/<rotator>/`, `locks/<lock>`."""

    template: str
    rotator: str
    lock: str


# One entry per template (`smrotate template` offers these engines; tests/test_cli_template.py
# checks the entries against the templates and their build targets).
ENGINES = {
    "postgresql": SamEngine("postgresql.yaml", "postgresql", "postgres.txt"),
    "mysql": SamEngine("mysql.yaml", "mysql", "mysql.txt"),
    "redis": SamEngine("redis.yaml", "redis", "redis.txt"),
    "elasticache": SamEngine("elasticache.yaml", "elasticache", "redis.txt"),
    "iam-keys": SamEngine("iam-keys.yaml", "iam_keys", "iam-keys.txt"),
}
# The rotators another rotator imports, which its project holds too (templates/sam.mk's line for
# the template names them as well): ElastiCacheUserRotator is a RedisRotator.
REUSED = {"elasticache": ("redis",)}
NOT_SHIPPED = ("operator", "testing", "cdk", "sam", "rotators", "__pycache__")
MAKEFILE = """\
# Written by `smrotate template`: `sam build --template templates/{template}` runs the target
# build-<LogicalId> of templates/sam.mk here (SAM's makefile build method).
-include templates/sam.mk
"""


def _files(engine: str) -> dict[str, bytes]:
    """Every file of the project, by relative path."""
    from importlib import resources  # here: the CLI imports ENGINES for its choices

    template, rotator, lock = ENGINES[engine]
    sam = resources.files("smrotate.sam")
    files = {
        "Makefile": MAKEFILE.format(template=template).encode(),
        f"templates/{template}": sam.joinpath(template).read_bytes(),
        "templates/sam.mk": sam.joinpath("sam.mk").read_bytes(),
        "templates/samconfig.toml": sam.joinpath("samconfig.toml").read_bytes(),
        "templates/merge_dist_info.py": sam.joinpath("merge_dist_info.py").read_bytes(),
        f"locks/{lock}": sam.joinpath("locks", lock).read_bytes(),
    }
    engine_root = Path(str(resources.files("smrotate")))
    for path in sorted(engine_root.rglob("*")):
        relative = path.relative_to(engine_root)
        if path.is_dir() or relative.parts[0] in NOT_SHIPPED or path.suffix == ".pyc":
            continue
        files[f"framework/{relative.as_posix()}"] = path.read_bytes()
    rotators = Path(str(resources.files("smrotate.rotators")))
    files["rotators/__init__.py"] = (rotators / "__init__.py").read_bytes()
    for name in (rotator, *REUSED.get(engine, ())):
        for path in sorted((rotators / name).rglob("*.py")):
            if "__pycache__" not in path.parts:
                files[f"rotators/{path.relative_to(rotators).as_posix()}"] = path.read_bytes()
    return files


def write_project(engine: str, folder: Path) -> list[str]:
    """Write `engine`'s project into `folder` (made if missing); the paths written.
    ConfigurationError for an unknown engine, or a folder holding files the project does not."""
    if engine not in ENGINES:
        raise ConfigurationError(
            f"no template for engine {engine!r}; choose one of {', '.join(sorted(ENGINES))}"
        )
    files = _files(engine)
    if folder.exists():
        foreign = [
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file()
            and p.relative_to(folder).as_posix() not in files
            and ".aws-sam" not in p.parts
            and "__pycache__" not in p.parts
        ]
        if foreign:
            raise ConfigurationError(
                f"{folder} already holds files that are not this project's ({foreign[0]} and "
                f"{len(foreign) - 1} more); name an empty or new folder"
            )
    import shutil

    for relative, content in files.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    shutil.rmtree(folder / "framework" / "__pycache__", ignore_errors=True)
    return sorted(files)
