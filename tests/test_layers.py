"""The layers, kept by a test: every module's imports (read with ``ast``, those inside functions too) run
down the house, never up. From the bottom:

    pelvio (errors, conventions) + firmware_profiles  <  sensor  <  fusion  <  app  <  dashboard

``pelvio.__main__`` is the entry point (it runs ``pelvio.app.cli``). Fusion also reads no files: it opens
nothing and imports no file-reading module; recordings are read in ``sensor`` and handed over by ``app``.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"pelvio": 0, "pelvio.firmware_profiles": 0, "pelvio.sensor": 1, "pelvio.fusion": 2, "pelvio.app": 3,
          "pelvio.dashboard": 4, "pelvio.__main__": 5}
FILE_READERS = ("pelvio.sensor.recording", "pelvio.sensor.importer", "pelvio.sensor.profiles", "pathlib", "io",
                "csv", "zipfile", "tomllib", "json")


def modules() -> dict[str, Path]:
    """Module name -> source file, from the package folders pyproject.toml installs."""
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    out = {}
    for package, folder in package_dir.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            if not any(name.startswith(p + ".") for p in package_dir if p != package and p.startswith(package)):
                out[name] = path
    return out


def layer(module: str) -> int:
    return max((rank, len(prefix)) for prefix, rank in LAYERS.items()
               if module == prefix or module.startswith(prefix + "."))[0]


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, relative ones resolved."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out += [(node.lineno, node.module)]
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


MODULES = modules()


def test_the_modules_are_found():
    assert {"pelvio.errors", "pelvio.sensor.ble", "pelvio.fusion.session", "pelvio.app.cli",
            "pelvio.dashboard.app"} <= set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_run_down_the_layers(name: str):
    here = layer(name)
    up = [f"line {line}: {target} (layer {layer(target)} > {here})" for line, target in imported(MODULES[name])
          if target.startswith("pelvio") and target in MODULES and layer(target) > here]
    assert not up, f"{MODULES[name].relative_to(ROOT)} imports up: {up}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("pelvio.fusion")))
def test_fusion_reads_no_files(name: str):
    path = MODULES[name]
    readers = [f"line {line}: {target}" for line, target in imported(path)
               if any(target == r or target.startswith(r + ".") for r in FILE_READERS)]
    opens = [f"line {n.lineno}: open()" for n in ast.walk(ast.parse(path.read_text()))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "open"]
    assert not readers and not opens, f"{path.relative_to(ROOT)}: {readers + opens}"


def test_the_checker_catches_an_upward_import(tmp_path: Path):
    """A fusion module importing the dashboard would be caught (the rule is not vacuous)."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from pelvio.dashboard import plots\n")
    assert [(line, t) for line, t in imported(bad) if layer(t) > layer("pelvio.fusion.bad")] == [
        (2, "pelvio.dashboard"), (2, "pelvio.dashboard.plots")]
