"""Whether a rotator's database driver can load here, checked without importing it.

A rotator module calls `require_driver` when it is imported (the Lambda runtime imports the
handler's module at init, before any step runs), so a package built without the driver's
extra, or with native libraries for another architecture, fails before any step writes
anything, with an error that says what to install or rebuild. The check reads file names and
ELF headers only: createSecret and finishSecret still never import the driver.
"""

from __future__ import annotations

import importlib.util
import platform
from pathlib import Path

from smrotate.errors import ConfigurationError

# ELF e_machine values, and the names platform.machine() and Lambda give the architectures.
ELF_MACHINES = {62: "x86_64", 183: "arm64"}
MACHINE_NAMES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def elf_architecture(path: Path) -> str | None:
    """ "x86_64" or "arm64" for an ELF shared object built for it; None for anything else (not
    ELF, another machine). Reads 20 bytes."""
    with path.open("rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    return ELF_MACHINES.get(machine)


def this_architecture() -> str:
    """The running machine's architecture, in Lambda's names (x86_64, arm64)."""
    machine = platform.machine().lower()
    return MACHINE_NAMES.get(machine, machine)


def native_files(package: str) -> list[Path]:
    """The shared objects (.so) inside installed `package`, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return []
    files: list[Path] = []
    for location in spec.submodule_search_locations:
        files += sorted(Path(location).rglob("*.so"))
        libs = Path(location).parent / f"{package}.libs"  # auditwheel's bundled libraries
        files += sorted(libs.glob("*.so*")) if libs.is_dir() else []
    return files


def require_driver(who: str, module: str, extra: str, native: tuple[str, ...] = ()) -> None:
    """ConfigurationError naming the pip extra when `module` (which `who` needs) is not
    installed, and naming the architecture when a shared object of the `native` packages is
    built for another one."""
    if importlib.util.find_spec(module) is None:
        raise ConfigurationError(
            f"{who} needs the {module} driver, which is not installed: pip install "
            f"'smrotate[{extra}]' (in a Lambda package, build it with the SAM template of this "
            "engine)"
        )
    here = this_architecture()
    for package in native:
        for path in native_files(package):
            built = elf_architecture(path)
            if built is not None and built != here:
                raise ConfigurationError(
                    f"the {module} driver's native library {path.name} is built for {built}, "
                    f"but this machine is {here}: deploy the package built for {here} (sam build "
                    "makes one per architecture; the template's `architecture` parameter picks "
                    "it, see templates/sam.mk)"
                )
