"""The layout rules of docs/architecture.md, checked on the source: one direction of imports, no circles."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("keys", "verify_api", "scanner", "qrdecode")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth in the file (a function-level import still couples)."""
    tree = ast.parse(path.read_text("utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # `from . import x` names the module x; the package itself counts only for names defined in it
            found.update(f"{stem}.{alias.name}" for alias in node.names)
            found.add(stem)
    return found


def _graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {_module_name(p): p for p in files}
    graph = {}
    for name, path in modules.items():
        deps = {m for m in _imports(path) if m in modules and m != name}
        # a package reached only on the way to one of its modules is not a dependency on the package
        graph[name] = {d for d in deps if not any(o.startswith(d + ".") for o in deps)
                       or _defines_names_used(path, d)}
    return graph


def _defines_names_used(path: Path, package: str) -> bool:
    """True when the file imports a name (not a submodule) from the package's __init__."""
    tree = ast.parse(path.read_text("utf-8"))
    own = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = own.split(".")
            stem = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else (node.module or "")
            if stem == package and any(not (ROOT / Path(*package.split("."), alias.name)).exists()
                                       and not (ROOT / Path(*package.split("."), alias.name + ".py")).exists()
                                       for alias in node.names):
                return True
    return False


def test_dependencies_point_one_way():
    for name, deps in _graph().items():
        top = name.split(".")[0]
        for dep in deps:
            if top == "keys":
                assert dep.split(".")[0] == "keys", f"{name} imports {dep}: keys/ imports nothing of ours"
            if top == "scanner":
                assert not dep.startswith("verify_api"), f"{name} imports {dep}: the scanner talks HTTP only"
            if top == "verify_api":
                assert not dep.startswith("scanner"), f"{name} imports {dep}"
            if top == "qrdecode":
                assert not dep.startswith(("scanner", "verify_api")), f"{name} imports {dep}: both import the decoder"


@pytest.mark.parametrize("package", PACKAGES)
def test_trust_core_and_packages_have_no_import_circles(package):
    graph = {k: {d for d in v if d.startswith(package)} for k, v in _graph().items() if k.startswith(package)}
    # a package's __init__ re-exporting its modules is not a circle through them
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in graph.get(node, ()):
            if dep == package or node.startswith(dep + ".") and graph.get(dep, set()) >= {node}:
                continue
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep] if dep in path else [node, dep]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_keys_imports_no_service_or_vision_library():
    banned = {"flask", "redis", "cv2", "numpy", "gunicorn", "zxingcpp", "pyzbar"}
    for path in (ROOT / "keys").rglob("*.py"):
        for module in _imports(path):
            assert module.split(".")[0] not in banned, f"{path.relative_to(ROOT)} imports {module}"


def test_no_file_cites_a_document_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = ("DESIGN" + ".md", "domain" + ".md")  # spelled apart so this file does not cite them
    citing = [f for f in tracked if f.endswith((".py", ".md", ".html", ".js", ".mjs")) and (ROOT / f).is_file()
              and any(name in (ROOT / f).read_text("utf-8", errors="replace") for name in outside)]
    assert citing == []
