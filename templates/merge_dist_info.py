"""Merge the dist-info of per-Python installs into the package that holds them all (sam.mk).

sam.mk installs the locked requirements once per Python version the templates allow, then
copies the installs on top of each other. Pure-Python files are the same in each; the native
ones differ by name. Copying alone would leave each package's dist-info from the last install:
its RECORD would list that Python's native files only and its WHEEL that wheel's tags only, so a
scanner reading them (an SBOM tool, pip) would not see the rest. This writes, for each
dist-info in the package, RECORD as the union of every install's RECORD (in order, each line
once) and WHEEL with every install's `Tag:` lines. Idempotent.

Usage: python merge_dist_info.py PACKAGE_DIR INSTALL_DIR [INSTALL_DIR ...]
"""

from __future__ import annotations

import sys
from pathlib import Path


def union(texts: list[str]) -> list[str]:
    """The lines of `texts`, in order, each once."""
    seen: dict[str, None] = {}
    for text in texts:
        seen.update(dict.fromkeys(line for line in text.splitlines() if line))
    return list(seen)


def merge(package: Path, installs: list[Path]) -> None:
    """Rewrite RECORD and WHEEL of every dist-info in `package` from all `installs`."""
    for dist_info in sorted(package.glob("*.dist-info")):
        sources = [root / dist_info.name for root in installs if (root / dist_info.name).is_dir()]
        records = [(s / "RECORD").read_text() for s in sources if (s / "RECORD").is_file()]
        if records:
            (dist_info / "RECORD").write_text("\n".join(union(records)) + "\n")
        wheels = [(s / "WHEEL").read_text() for s in sources if (s / "WHEEL").is_file()]
        if wheels:
            lines = union(wheels)
            tags = [line for line in lines if line.startswith("Tag:")]
            others = [line for line in union(wheels[-1:]) if not line.startswith("Tag:")]
            (dist_info / "WHEEL").write_text("\n".join(others + tags) + "\n")


if __name__ == "__main__":
    merge(Path(sys.argv[1]), [Path(arg) for arg in sys.argv[2:]])
