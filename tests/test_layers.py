"""Layers, checked on the source with ``ast``: the library never imports the benchmark (except the lazy hand-off of
``s3-magic bench`` in cli.py), and the benchmark beside it (``benchmarks/``) uses only the library's public API —
the names in ``s3_magic.__all__`` — never a submodule (``s3_magic.engine``, the store, ...), a private name, or a
run's internals (``.ctx``, ``.store``)."""

from __future__ import annotations

import ast
from pathlib import Path

import s3_magic

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "s3_magic"
BENCHMARK = ROOT / "benchmarks"
#: the benchmark package and the benchmark scripts beside it held to the public API
PUBLIC_API_ONLY = [BENCHMARK / "s3_magic_bench", BENCHMARK / "tune_final.py", BENCHMARK / "tune_qa_student.py"]
#: attributes of a Session that reach the run's internals (its RunContext, its RunStore)
INTERNALS = {"ctx", "store"}


def python_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.rglob("*.py") if "egg-info" not in str(p) and "/results/" not in str(p))


def imports(tree: ast.AST) -> list[tuple[ast.stmt, str, list[str], bool]]:
    """Every import as (node, module, imported names, inside a function?)."""
    found: list[tuple[ast.stmt, str, list[str], bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend((child, alias.name, [], inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child, child.module, [alias.name for alias in child.names], inner))
            visit(child, inner)

    visit(tree, False)
    return found


def public_api_violations(source: str, where: str = "<code>") -> list[str]:
    """What in ``source`` goes past the public API of s3_magic (also in code strings it runs, e.g. subprocesses)."""
    tree = ast.parse(source)
    out = []
    for node, module, names, _ in imports(tree):
        line = f"{where}:{node.lineno}"
        if module.split(".")[0] != "s3_magic":
            continue
        if module != "s3_magic":
            out.append(f"{line} imports the submodule {module}")
            continue
        out += [f"{line} imports s3_magic.{n}, which is not in s3_magic.__all__" for n in names
                if n not in s3_magic.__all__ or n.startswith("_")]  # fmt: skip
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            private = node.attr.startswith("_") and not node.attr.endswith("__")
            if private or node.attr in INTERNALS:
                out.append(f"{where}:{node.lineno} reads .{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "s3_magic" in node.value:
            try:
                code = ast.parse(node.value)
            except SyntaxError:
                continue
            if imports(code):
                out += public_api_violations(node.value, f"{where}:{node.lineno} (code string)")
    return out


def test_the_library_does_not_import_the_benchmark():
    found = []
    for path in python_files(LIBRARY):
        for node, module, _, in_function in imports(ast.parse(path.read_text())):
            if module.split(".")[0] == "s3_magic_bench":
                found.append((path.relative_to(ROOT).as_posix(), node.lineno, in_function))
    assert found, "s3-magic bench hands off to the benchmark package"
    assert [(path, lazy) for path, _, lazy in found] == [("s3_magic/cli.py", True)], (
        "only the bench command of s3_magic/cli.py imports s3_magic_bench, inside the command"
    )


def test_the_benchmark_uses_only_the_public_api():
    files = [path for part in PUBLIC_API_ONLY for path in python_files(part)]
    assert BENCHMARK / "s3_magic_bench" / "arms.py" in files and BENCHMARK / "tune_final.py" in files
    used: set[str] = set()
    problems = []
    for path in files:
        source = path.read_text()
        problems += public_api_violations(source, path.relative_to(ROOT).as_posix())
        used |= {n for _, module, names, _ in imports(ast.parse(source)) if module == "s3_magic" for n in names}
    assert problems == []
    assert {"Session", "Deduper", "get_backend", "make_student"} <= used, "the checks above read real imports"


def test_the_check_catches_what_it_forbids():
    bad = (
        "from s3_magic.engine.loop import ensure_data\n"
        "import s3_magic.store\n"
        "from s3_magic import Session, _LAZY\n"
        "def f(session):\n"
        "    from s3_magic.llm.local import LocalBackend\n"
        "    return session.ctx._llm, session.store\n"
        'CODE = """\nfrom s3_magic.engine.context import RunContext\n"""\n'
    )
    problems = public_api_violations(bad)
    assert len(problems) == 8, problems
    assert public_api_violations("from s3_magic import Session, load_examples\nSession.run_ids('x').__len__()") == []
