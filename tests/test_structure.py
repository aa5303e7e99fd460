"""The architecture, checked: small functions, a one-way import graph, MLflow behind tracking/."""

import ast
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "study"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path, ast.parse(path.read_text())


def _imports(name: str, path: Path, tree, modules) -> set[str]:
    """The study modules a module imports, at module level or inside a function (a lazy import
    still ties the two modules together); ``from study.x import y`` is ``study.x.y`` where that
    is a module, else ``study.x``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("study"):
                source = node.module
            else:
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                out.add(sub if sub in modules else source)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("study")}
    return out


def _code_lines(path, node) -> int:
    """A function's lines of code: lines holding a token of it, its docstring, comments and blank
    lines aside (a call the formatter spreads over lines counts each line)."""
    import io
    import tokenize

    body = node.body
    doc = (
        range(body[0].lineno, body[0].end_lineno + 1)
        if body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
        else range(0)
    )
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    lines = set()
    source = io.StringIO(path.read_text()).readline
    for tok in tokenize.generate_tokens(source):
        if tok.type not in skip:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len({n for n in lines if node.lineno <= n <= node.end_lineno and n not in doc})


def test_no_function_is_over_60_lines_of_code():
    functions = [
        (path, node)
        for _, path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > 60  # only these can be over
    ]
    long = [f"{p.name}:{n.lineno} {n.name}" for p, n in functions if _code_lines(p, n) > 60]
    assert long == []


def test_no_module_is_over_400_lines():
    long = [
        f"{name}: {n}"
        for name, path, _ in _modules()
        if (n := len(path.read_text().splitlines())) > 400
    ]
    assert long == []


def test_at_most_10_modules_at_the_top_of_the_package():
    # the rest lives in the stage packages (config, datasets, training, importance, analysis,
    # lifecycle, tracking, report)
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top


def test_code_lines_count_code_only(tmp_path):
    path = tmp_path / "f.py"
    path.write_text(
        'def f(a):\n    """Doc,\n    two lines."""\n    # a comment\n\n    return g(\n        a,\n'
        "    )  # trailing\n"
    )
    node = ast.parse(path.read_text()).body[0]
    assert _code_lines(path, node) == 4  # def, return g(, a,, )


def test_no_import_cycle_even_through_imports_inside_functions():
    mods = {name: (path, tree) for name, path, tree in _modules()}
    graph = {name: {d for d in _imports(name, *mods[name], mods) if d in mods} for name in mods}
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


def test_the_imports_the_readme_documents_keep_working():
    code = (
        "import study, sys\n"
        "from study import agreement, importance, stability\n"
        "assert callable(study.run) and study.stability is stability\n"
        "assert stability.__name__ == 'study.analysis.stability'\n"
        "assert agreement.__name__ == 'study.analysis.agreement' and importance.olden\n"
        "from study import config\n"
        "from study.lifecycle import pipeline\n"
        "assert callable(config.compose) and callable(pipeline.run)\n"
        "try:\n"
        "    study.nothing\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise AssertionError('study.nothing resolved')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_only_the_tracking_package_imports_mlflow():
    found = []
    for name, _, tree in _modules():
        for node in ast.walk(tree):  # at any depth: a lazy import counts too
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] == "mlflow" for n in names) and not name.startswith(
                "study.tracking"
            ):
                found.append(name)
    assert found == []


@pytest.mark.slow
def test_a_training_worker_imports_no_mlflow_or_matplotlib():
    # what a worker process loads to train a block and compute every method: unpickling the
    # plan (study.training.runner, study.datasets) and running it; MLflow, matplotlib and Hydra are
    # the study's process's, and each would cost a worker a second of imports (pandas comes with
    # scikit-learn itself: sklearn.utils.fixes imports it where it is installed)
    code = (
        "import pickle, sys\n"
        "plan = pickle.loads(sys.stdin.buffer.read())\n"
        "from study.training import runner\n"
        "records = runner.run_block(plan, [0, 1])\n"
        "assert len(records) == 2 and records[1].importances\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'mlflow', 'matplotlib', 'hydra', 'omegaconf', 'sqlalchemy'}))\n"
    )
    from study import config
    from study.config.settings import Settings
    from study.datasets import load_dataset
    from study.training import runner

    s = Settings.from_config(config.compose(["model.max_iter=20"]))
    plan = runner.Plan(load_dataset("wine"), s.model, s.methods, s.method_options, 0.25, 0)
    out = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(plan), capture_output=True, check=True
    )
    assert out.stdout.decode().strip() == "[]", out.stderr.decode()[-2000:]
