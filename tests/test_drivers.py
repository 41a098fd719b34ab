"""A rotator module refuses at import, before any step, when its driver is missing or its
native library is built for another architecture; the check imports nothing."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from smrotate.drivers import elf_architecture, native_files, require_driver, this_architecture
from smrotate.errors import ConfigurationError

OTHER = {"x86_64": "arm64", "arm64": "x86_64"}
E_MACHINE = {"x86_64": 62, "arm64": 183}


def fake_elf(path: Path, architecture: str) -> Path:
    """The first 20 bytes of a little-endian ELF64 shared object for `architecture`."""
    header = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + (3).to_bytes(2, "little")
    path.write_bytes(header + E_MACHINE[architecture].to_bytes(2, "little") + b"\x00" * 44)
    return path


def test_the_installed_drivers_are_built_for_this_machine() -> None:
    files = native_files("psycopg_binary") + native_files("cryptography")
    assert files  # the dev install has both, with native code
    assert {elf_architecture(path) for path in files} == {this_architecture()}


def test_elf_headers_name_their_architecture(tmp_path: Path) -> None:
    assert elf_architecture(fake_elf(tmp_path / "a.so", "arm64")) == "arm64"
    assert elf_architecture(fake_elf(tmp_path / "b.so", "x86_64")) == "x86_64"
    (tmp_path / "c.so").write_bytes(b"not an ELF file at all, but long enough")
    assert elf_architecture(tmp_path / "c.so") is None


def test_a_native_library_for_another_machine_is_refused_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "smrotate_fake_native"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('the check must not import it')\n")
    other = OTHER[this_architecture()]
    fake_elf(package / f"_native.cpython-311-{other}-linux-gnu.so", other)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    with pytest.raises(ConfigurationError) as caught:
        require_driver("SomeRotator", "smrotate_fake_native", "fake", ("smrotate_fake_native",))
    message = str(caught.value)
    assert f"built for {other}" in message
    assert f"this machine is {this_architecture()}" in message
    assert "`architecture` parameter" in message
    assert "smrotate_fake_native" not in sys.modules


def test_a_missing_driver_names_the_extra() -> None:
    with pytest.raises(ConfigurationError, match=r"pip install 'smrotate\[mysql\]'"):
        require_driver("MySQLRotator", "smrotate_no_such_driver", "mysql")


@pytest.mark.parametrize(
    ("module", "driver", "extra"),
    [
        ("smrotate.rotators.postgresql", "psycopg", "postgres"),
        ("smrotate.rotators.mysql", "pymysql", "mysql"),
    ],
)
def test_importing_a_rotator_without_its_driver_fails_at_import(
    module: str, driver: str, extra: str
) -> None:
    """As Lambda's init would: the handler's module cannot even be imported."""
    code = (
        "import importlib.util as u; real = u.find_spec\n"
        f"u.find_spec = lambda name, *a: None if name == {driver!r} else real(name, *a)\n"
        f"import {module}\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode != 0
    assert "ConfigurationError" in done.stderr
    assert f"pip install 'smrotate[{extra}]'" in done.stderr
