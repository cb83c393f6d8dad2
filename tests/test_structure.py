"""The package's structure: no import cycles among its modules (imports
inside functions count too: a cycle is a cycle, whenever it closes), and no
public module asks which backend it holds."""
import ast
import pathlib

import fastconv

PACKAGE = pathlib.Path(fastconv.__file__).parent


def _module_name(path):
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _modules():
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(current, is_package, level, name):
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level:
        base = base[: len(base) - (level - 1)]
        return ".".join(base + ([name] if name else []))
    return name


def import_graph():
    """{module: {modules of the package it imports}}, a `from pkg import mod`
    counted as importing pkg.mod when that is a module."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node.level, node.module)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in modules:  # fastconv.x.y imported as a name inside fastconv.x
                    t = t.rpartition(".")[0]
                if t and t != name and t.startswith("fastconv"):
                    edges.add(t)
        graph[name] = edges
    return graph


def cycles(graph):
    """Every elementary cycle's nodes, found by depth-first search (the graph is small)."""
    found, state = [], {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_no_import_cycles():
    bad = [" -> ".join(c) for c in cycles(import_graph())]
    assert not bad, "import cycles:\n" + "\n".join(bad)


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


BACKEND_NAMES = {"_core", "_cpu", "_gpu", "_fastconv"}


def _backend_tests(tree):
    """The lines of tree that compare something with a backend by identity
    (`kern is _core`, `k is not _gpu`, ...)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            for side in [node.left] + node.comparators:
                name = side.id if isinstance(side, ast.Name) else side.attr if isinstance(side, ast.Attribute) else None
                if name in BACKEND_NAMES:
                    lines.append(node.lineno)
    return lines


def test_no_module_asks_which_backend_it_holds():
    # a backend is called through its interface (fastconv._backend.kernels); only the backends
    # themselves and the dispatcher may name one
    exempt = ("fastconv._cpu", "fastconv._gpu", "fastconv._ext", "fastconv._backend")
    bad = []
    for name, path in _modules().items():
        if name.startswith(exempt):
            continue
        bad += [f"{name}:{line}" for line in _backend_tests(ast.parse(path.read_text()))]
    assert not bad, "backend identity tests: " + ", ".join(bad)


def test_the_backend_test_finder_finds_them():
    assert _backend_tests(ast.parse("if kern is _core: pass\nif k is not m._gpu: pass\n")) == [1, 2]
    assert _backend_tests(ast.parse("if xp is np: pass\n")) == []


def test_the_backends_have_one_interface():
    from fastconv import _cpu, _gpu

    def interface(mod):
        flags = ("can_measure", "winograd_weight_gradient", "winograd_1d")
        return {n for n in dir(mod) if not n.startswith("_") and (callable(getattr(mod, n)) or n in flags)
                and getattr(getattr(mod, n), "__module__", mod.__name__) != "builtins"}

    cpu, gpu = interface(_cpu), interface(_gpu)
    # the CPU binding module's own helpers (threads, SIMD) are not part of a backend
    assert gpu <= cpu, f"the CPU backend lacks {sorted(gpu - cpu)}"
    assert cpu <= gpu | {"filter_model", "conv", "fft"}, f"the GPU backend lacks {sorted(cpu - gpu)}"
