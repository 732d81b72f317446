"""The layout is the architecture: each layer imports only the layers below it, and the CLI and the
routers reach the store only through the service (checked on the source, every import included,
also those inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "workbench"

# Layer -> the layers it may import (a layer may always import itself). `config` and `scratch` are
# small top-level helpers every layer below the service may use.
BASE = {"config", "scratch"}
ALLOWED = {
    "domain": set(),
    "config": set(),
    "scratch": set(),
    "store": {"domain"} | BASE,
    "grid": {"domain", "store"} | BASE,
    "providers": {"domain"} | BASE,
    "runner": {"domain", "store", "grid", "providers"} | BASE,
    "service": {"domain", "store", "grid", "providers", "runner"} | BASE,
    "web": {"domain", "service", "store", "grid", "runner"} | BASE,
    "cli": {"domain", "service", "store", "runner", "web", "cli_accounts"} | BASE,
    "cli_accounts": {"domain", "service", "cli"} | BASE,  # `users` and `audit`, registered on cli's main
}
# The translating layers: what they may take from below the service, and why.
ROUTERS_MAY_IMPORT = {"workbench.service", "workbench.domain", "workbench.web"}
CLI_MAY_IMPORT_BELOW_SERVICE = {
    "workbench.store",  # the Store type in signatures
    "workbench.store.faults",  # the one line for a database that can't be reached
    "workbench.runner.console",  # the live progress bars it prints
    "workbench.runner.options",  # RunOptions, the run command's arguments
    "workbench.web.app",  # `serve` wraps the app factory
}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.add(module)
            # `from workbench.service import datasets` imports the module workbench.service.datasets
            out.update(f"{module}.{alias.name}" for alias in node.names
                       if (PACKAGE.parent / f"{module}.{alias.name}".replace(".", "/")).with_suffix(".py").exists())
    return {m for m in out if m == "workbench" or m.startswith("workbench.")}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


MODULES = _modules()


@pytest.mark.parametrize("name,path", MODULES, ids=[n for n, _ in MODULES])
def test_each_layer_imports_only_the_layers_below(name, path):
    layer = _layer(name)
    if layer in ("", "__main__"):
        return
    allowed = ALLOWED[layer] | {layer}
    upward = sorted(m for m in _imports(name, path) if _layer(m) and _layer(m) not in allowed)
    assert not upward, f"{name} ({layer}) imports {upward}: {layer} may import only {sorted(allowed)}"


def test_routers_only_translate_to_the_service():
    for name, path in MODULES:
        if not name.startswith("workbench.web.routers."):
            continue
        below = sorted(m for m in _imports(name, path) if not any(m == a or m.startswith(a + ".")
                                                                   for a in ROUTERS_MAY_IMPORT))
        assert not below, f"{name} reaches past the service: {below}"


@pytest.mark.parametrize("name", ["cli", "cli_accounts"])
def test_cli_reaches_the_store_only_through_the_service(name):
    below = sorted(m for m in _imports(f"workbench.{name}", PACKAGE / f"{name}.py")
                   if _layer(m) in ("store", "grid", "runner", "providers", "web")
                   and m not in CLI_MAY_IMPORT_BELOW_SERVICE)
    assert not below, f"workbench.{name} imports {below}: call a service function instead"


def test_the_import_walker_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from workbench.store import datasets\n    import workbench.grid.page\n")
    assert {"workbench.store", "workbench.grid.page"} <= _imports("workbench.probe", source)
