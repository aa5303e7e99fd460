"""The architecture, checked: small functions, a one-way import graph, MLflow behind tracking/."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "study"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path, ast.parse(path.read_text())


def _imports(name: str, path: Path, tree) -> set[str]:
    """The study modules imported at module level (what decides import order and cycles)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                out |= {f"{target}.{a.name}" for a in node.names} if node.module is None else {target}
            elif (node.module or "").startswith("study"):
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("study")}
    return out


def test_no_function_is_over_100_lines():
    long = [f"{path.name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for _, path, tree in _modules() for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > 100]  # fmt: skip
    assert long == []


def test_no_module_level_import_cycle():
    mods = {name: (path, tree) for name, path, tree in _modules()}
    graph = {name: {d for d in _imports(name, *mods[name]) if d in mods} for name in mods}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name, path):
        state[name] = 1
        for dep in graph[name]:
            assert state.get(dep) != 1, "import cycle: " + " -> ".join(path + [name, dep])
            if dep not in state:
                visit(dep, path + [name])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def test_only_the_tracking_package_imports_mlflow():
    found = []
    for name, _, tree in _modules():
        for node in ast.walk(tree):  # at any depth: a lazy import counts too
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []  # fmt: skip
            if any(n.split(".")[0] == "mlflow" for n in names) and not name.startswith("study.tracking"):
                found.append(name)
    assert found == []
