"""The codebase's shape: no import cycles, dependencies that point one way, no test tooling in the product."""

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("chalicelib", "ciswatch_cli", "sandbox", "deploy")
# Imports inside functions that are there on purpose (each says why where it stands).
DELIBERATE_LOCAL_IMPORTS = {
    ("app", "aws_lambda_powertools.utilities.idempotency"),
    ("ciswatch_cli.suppress_cmd", "yaml"),  # optional: only YAML suppression files need PyYAML
    ("ciswatch_cli.audit_cmd", "ciswatch_cli.ocsf_report"),  # optional: only --format ocsf needs pydantic
    ("ciswatch_cli.main", "importlib"),  # --version only: importlib.metadata costs ~20 ms at every start
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    files = [ROOT / "app.py"] + [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    return {_module_name(p): p for p in files}


SOURCES = _sources()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path):
    """(imported module, is local to a function) for every runtime import of the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            local = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, in_function
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                yield target, in_function
                for alias in child.names:  # `from . import x` imports a submodule
                    if f"{target}.{alias.name}" in SOURCES:
                        yield f"{target}.{alias.name}", in_function
            yield from visit(child, local)

    yield from visit(tree, False)


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in SOURCES.items():
        deps = set()
        for target, _ in _imports(module, path):
            while target and target not in SOURCES:
                target = target.rpartition(".")[0]
            if target and target != module:
                deps.add(target)
        graph[module] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles():
    graph = _graph()
    # A package's __init__ re-exporting its modules is not a cycle of the code's own making.
    pruned = {
        m: {d for d in deps if not (SOURCES[d].name == "__init__.py" and m.startswith(d + "."))}
        for m, deps in graph.items()
    }
    assert _cycles(pruned) == []


def test_the_walker_sees_a_cycle_when_there_is_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_no_imports_hidden_in_functions_in_the_product():
    hidden = [
        (module, target)
        for module, path in SOURCES.items()
        if not module.startswith("sandbox")
        for target, local in _imports(module, path)
        if local
        and (module, target) not in DELIBERATE_LOCAL_IMPORTS
        and (module, target.rpartition(".")[0]) not in DELIBERATE_LOCAL_IMPORTS
    ]
    assert hidden == []


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("chalicelib.model", ("chalicelib.", "boto3", "botocore")),  # stdlib only, the bottom layer
        ("chalicelib.filterpattern", ("chalicelib.", "boto3", "botocore")),
        ("chalicelib.catalog", ("chalicelib.checks", "chalicelib.inventory", "chalicelib.state", "boto3")),
        (
            "chalicelib.checks",
            (
                "chalicelib.inventory",
                "chalicelib.state",
                "chalicelib.notify",
                "chalicelib.pipeline",
                "boto3",
                "botocore",
            ),
        ),
        ("chalicelib", ("ciswatch_cli", "sandbox", "moto", "app", "deploy")),
        ("ciswatch_cli", ("sandbox", "moto", "deploy")),
    ],
)
def test_dependencies_point_one_way(layer, forbidden):
    allowed_inside = {"chalicelib.model": "chalicelib.model", "chalicelib.filterpattern": "chalicelib.filterpattern"}
    wrong = []
    for module, path in SOURCES.items():
        if module != layer and not module.startswith(layer + "."):
            continue
        for target, _ in _imports(module, path):
            own = allowed_inside.get(layer)
            if own and target.startswith(own):
                continue
            if layer == "chalicelib.catalog" and target.startswith("chalicelib.model"):
                continue
            if any(target == f.rstrip(".") or target.startswith(f if f.endswith(".") else f + ".") for f in forbidden):
                wrong.append((module, target))
    assert wrong == []


def test_the_installed_cli_package_holds_no_test_tooling():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = config["tool"]["setuptools"]["packages"]
    assert not [p for p in packages if p.split(".")[0] not in ("chalicelib", "ciswatch_cli")]
    on_disk = {m for m in SOURCES if m.startswith(("chalicelib", "ciswatch_cli")) and SOURCES[m].name == "__init__.py"}
    assert on_disk <= set(packages), "a package on disk is missing from the installed list"
