"""The project's import graph: no circles, and dependencies point one way
(jscc_core <- paper packages <- pipelines; a paper never imports another paper)."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROOTS = {  # folder holding top-level packages -> packages in it
    REPO: ("pipelines",),
    REPO / "packages" / "core" / "src": ("jscc_core",),
    REPO / "packages" / "ntscc" / "src": ("ntscc",),
    REPO / "packages" / "generative_jscc" / "src": ("generative_jscc",),
    REPO / "packages" / "resilient_transport" / "src": ("resilient_transport",),
}
PAPER_PACKAGES = ("ntscc", "generative_jscc", "resilient_transport")
PAPER_PIPELINES = ("ntscc", "gjscc", "dgm")


def _modules() -> dict[str, Path]:
    out = {}
    for root, packages in ROOTS.items():
        for pkg in packages:
            for path in (root / pkg).rglob("*.py"):
                parts = path.relative_to(root).with_suffix("").parts
                out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Project modules ``name`` imports anywhere in its file (inside functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # 'pkg.mod.func' -> 'pkg.mod'
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walker_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_walker_sees_imports_inside_functions():
    assert "pipelines.stage" in GRAPH["pipelines.stages"]
    assert len(MODULES) > 40


def test_no_import_circle():
    assert _cycles(GRAPH) == []


def _top(name: str) -> str:
    return name.split(".")[0]


def test_core_imports_no_paper_and_no_pipeline():
    bad = {m: sorted(t for t in deps if _top(t) != "jscc_core")
           for m, deps in GRAPH.items() if _top(m) == "jscc_core"}
    assert not {m: d for m, d in bad.items() if d}


@pytest.mark.parametrize("paper", PAPER_PACKAGES)
def test_a_paper_package_imports_only_the_core_and_itself(paper):
    bad = {m: sorted(t for t in deps if _top(t) not in ("jscc_core", paper))
           for m, deps in GRAPH.items() if _top(m) == paper}
    assert not {m: d for m, d in bad.items() if d}


def test_stage_model_and_figure_toolkit_own_no_paper():
    assert not {t for t in GRAPH["pipelines.stage"] if t.startswith("pipelines")}
    toolkit = {m: deps for m, deps in GRAPH.items() if m.startswith("pipelines.figures")}
    assert not {m: d for m, d in toolkit.items()
                if any(t.split(".")[1] in PAPER_PIPELINES for t in d if t.startswith("pipelines."))}


def _builds_on() -> dict[str, tuple[str, ...]]:
    text = (REPO / "pipelines" / "registry.py").read_text()
    from pipelines.registry import PIPELINES

    assert "builds_on" in text
    return {p.id: p.builds_on for p in PIPELINES}


def test_papers_build_on_earlier_papers_without_a_circle():
    edges = _builds_on()
    assert all(set(deps) <= set(PAPER_PIPELINES) for deps in edges.values())
    assert _cycles({k: set(v) for k, v in edges.items()}) == [] and all(k not in v for k, v in edges.items())


@pytest.mark.parametrize("paper", PAPER_PIPELINES)
def test_a_papers_pipeline_imports_no_other_papers_pipeline_but_those_it_builds_on(paper):
    others = set(PAPER_PIPELINES) - {paper} - set(_builds_on().get(paper, ()))
    mine = {m: deps for m, deps in GRAPH.items() if m.startswith(f"pipelines.{paper}.") or m == f"pipelines.{paper}"}
    assert not {m: sorted(t for t in d if t.startswith("pipelines.") and t.split(".")[1] in others)
                for m, d in mine.items() if any(t.startswith("pipelines.") and t.split(".")[1] in others for t in d)}
