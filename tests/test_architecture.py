"""The shape docs/architecture.md draws, checked on the source: no import circle in a package
(imports for type checkers count), imports at the top of domain modules (only the CLIs import
inside functions, for `--help` speed), the arrows allowed between trainer's folders, one error
base per package, explained `type: ignore`s, and public faces that name what they export."""

from __future__ import annotations

import ast
import importlib
import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("cli_edge", "metrics_store", "dataset_builder", "trainer")

TRAINER_ARROWS = {
    "errors": set(),
    "config": {"errors"},
    "jobs": {"errors"},
    "model": {"config", "errors"},
    "analysis": {"config", "errors", "jobs"},
    "training": {"analysis", "config", "errors", "jobs", "model"},
    "inference": {"config", "errors", "jobs", "model"},
    "sweep": {"analysis", "config", "errors", "jobs", "model", "training"},
    "review": {"analysis", "config", "errors", "inference", "jobs", "model", "training"},
    "pretraining": {"config", "errors", "jobs", "model", "training"},
    "data_curve": {"analysis", "config", "errors", "jobs", "training"},
    "advice": {"analysis", "config", "errors", "sweep", "training"},
}
"""What each folder of trainer may import (docs/architecture.md draws it); the edges (`cli`, the
agent server `mcp`) and the public face (`trainer/__init__.py`) may import everything. A new
job type is a folder beside `sweep`."""

PACKAGE_ARROWS = {
    "cli_edge": set(),
    "metrics_store": {"cli_edge"},
    "dataset_builder": {"cli_edge", "metrics_store"},
    "trainer": {"cli_edge", "metrics_store", "dataset_builder"},
}


def _modules(package: str) -> dict[str, Path]:
    root = REPO_ROOT / "packages" / package / "src" / package
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, ast.AST, bool]]:
    """(imported module, node, inside a function) for every import, type-checking ones included."""
    tree = ast.parse(path.read_text(), str(path))
    in_function = {
        id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) for n in ast.walk(f)
    }
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(parent[: len(parent) - node.level + 1] + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            found.append((target, node, id(node) in in_function))
    return found


def _graph(package: str) -> dict[str, set[str]]:
    known = _modules(package)
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in known.items():
        for target, _, _ in _imports(module, path, known):
            if target in known and target != module:
                graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle_in_a_package(package):
    assert _cycles(_graph(package)) == []


def _is_cli(module: str) -> bool:
    return ".cli" in f".{module}".replace(".cli_edge", "")


@pytest.mark.parametrize("package", PACKAGES)
def test_domain_modules_import_their_siblings_at_the_top(package):
    """Inside a function only in the CLIs (`cli` modules), which keep `--help` instant."""
    known = _modules(package)
    offenders = [
        f"{module}:{node.lineno} imports {target}"
        for module, path in known.items()
        if not _is_cli(module)
        for target, node, inside in _imports(module, path, known)
        if inside and target.startswith(package)
    ]
    assert offenders == []


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_trainer_folders_import_only_along_the_drawn_arrows():
    known = _modules("trainer")
    offenders = []
    for module, targets in _graph("trainer").items():
        source = _folder(module)
        if source in ("cli", "mcp", "__init__", "__main__"):
            continue
        allowed = TRAINER_ARROWS[source] | {source}
        offenders += [f"{module} -> {t}" for t in targets if _folder(t) not in allowed and t in known]
    assert offenders == [], "update docs/architecture.md and TRAINER_ARROWS if the new arrow is meant"


def test_packages_import_only_the_packages_below_them():
    offenders = []
    for package, allowed in PACKAGE_ARROWS.items():
        known = _modules(package)
        for module, path in known.items():
            for target, node, _ in _imports(module, path, {}):
                top = target.split(".")[0]
                if top in PACKAGE_ARROWS and top != package and top not in allowed:
                    offenders.append(f"{module}:{node.lineno} imports {target}")
    assert offenders == []


@pytest.mark.parametrize(
    ("package", "base"),
    [
        ("dataset_builder", "dataset_builder.errors.DatasetBuilderError"),
        ("trainer", "trainer.errors.TrainerError"),
        ("metrics_store", "metrics_store.errors.StoreError"),
    ],
)
def test_every_error_of_a_package_derives_from_its_one_base(package, base):
    module_name, _, name = base.rpartition(".")
    root = getattr(importlib.import_module(module_name), name)
    strays = []
    for module in _modules(package):
        if module.endswith("__main__"):
            continue  # running it is its whole point
        loaded = importlib.import_module(module)
        for value in vars(loaded).values():
            if (
                isinstance(value, type)
                and issubclass(value, Exception)
                and value.__module__ == module
                and not issubclass(value, root)
            ):
                strays.append(f"{module}.{value.__name__}")
    assert strays == []


def test_every_type_ignore_names_its_code_and_says_why():
    pattern = re.compile(r"#\s*type:\s*ignore(?P<rest>.*)$")
    offenders = []
    for package in PACKAGES:
        for path in (REPO_ROOT / "packages" / package / "src").rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                found = pattern.search(line)
                if found and not re.match(r"\[[\w-]+(, *[\w-]+)*\]\s+#\s*\S", found["rest"]):
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{number}")
    assert offenders == []


@pytest.mark.parametrize("package", ["trainer", "dataset_builder"])
def test_a_public_face_exports_what_it_names_and_loads_lazily(package):
    face = importlib.import_module(package)
    assert sorted(face.__all__) == sorted(face._WHERE)
    for name in face.__all__:
        assert getattr(face, name) is getattr(importlib.import_module(face._WHERE[name]), name), name
    with pytest.raises(AttributeError, match="no attribute"):
        face.no_such_name  # noqa: B018
