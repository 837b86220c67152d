"""The layout as docs/architecture.md draws it: imports point one way, modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "notifier"

# Each part and the parts it may import (besides itself and the pure core). Leaves are the
# small shared modules every layer may use.
LEAVES = {"errors", "secrets", "logs", "ratelimit", "__init__"}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "simulator": set(),
    "secrets": set(),
    "errors": set(),
    "ratelimit": set(),
    "logs": {"secrets"},
    "config": {"secrets"},
    "llamacloud": LEAVES,
    "store": LEAVES,
    "channels": LEAVES,
    "polling": LEAVES | {"llamacloud", "store"},
    "delivery": LEAVES | {"channels", "store"},
    "status": LEAVES | {"store", "llamacloud"},
    "assemble": LEAVES | {"config", "channels", "polling", "store", "notices"},
    "push": LEAVES | {"polling", "status", "store"},
    "notices": LEAVES | {"store", "channels"},
    "reload": LEAVES | {"assemble", "config", "polling", "delivery", "status", "store", "channels"},
    "daemon": LEAVES
    | {"assemble", "config", "polling", "push", "reload", "delivery", "status", "llamacloud"}
    | {"notices"}
    | {"store", "channels"},
    "demo": LEAVES | {"assemble", "config", "daemon", "channels", "simulator"},
    "cli": LEAVES
    | {"assemble", "config", "daemon", "demo", "simulator", "status", "store", "channels"},
    "__main__": {"cli"},
    "__init__": set(),
}


def part_of(module: str) -> str:
    """`notifier.store.db` -> `store`; `notifier.poller` -> `poller`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        found.append((name, path))
    return found


def _is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").exists() or (PACKAGE / name).is_dir()


def project_imports(path: Path) -> set[str]:
    """Every `notifier...` module this file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "notifier":  # `from notifier import logs` or `__version__`
                names.update(
                    f"notifier.{a.name}" if _is_module(a.name) else "notifier" for a in node.names
                )
            elif node.module.startswith("notifier."):
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("notifier."))
    return names


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_imports_point_one_way(name: str, path: Path) -> None:
    """cli -> daemon -> {poller, delivery, status} -> {llamacloud, store, channels} -> core."""
    part = part_of(name)
    allowed = ALLOWED[part] | {part, "core", "__init__"}
    wrong = sorted(m for m in project_imports(path) if part_of(m) not in allowed)
    assert wrong == [], f"{name} ({part}) imports {wrong}"


def test_only_the_top_reads_settings() -> None:
    """Only cli, daemon (and its reload), assemble and the demo import the configuration."""
    readers = {
        name
        for name, path in modules()
        if any(m.startswith("notifier.config") for m in project_imports(path))
        and part_of(name) != "config"
    }
    assert {part_of(name) for name in readers} <= {"cli", "daemon", "reload", "assemble", "demo"}


def test_no_module_is_a_house_of_its_own() -> None:
    """About 400 lines at most per module: one concept each."""
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules()}
    assert {name: size for name, size in sizes.items() if size > 420} == {}
