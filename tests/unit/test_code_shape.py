"""The shape the codebase keeps, checked rather than hoped for: short functions, and a core
that knows nothing of the database driver."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "vodstack"
MAX_LINES = 60


def _python_files(*, skip: tuple[str, ...] = ()) -> list[Path]:
    return [p for p in SRC.rglob("*.py") if not any(part in skip for part in p.parts)]


def test_no_function_is_longer_than_sixty_lines() -> None:
    too_long = []
    for path in _python_files(skip=("migrations",)):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_LINES:
                    where = f"{path.relative_to(SRC)}:{node.lineno} {node.name}"
                    too_long.append(f"{where} ({lines} lines)")
    assert not too_long, "split these functions: " + ", ".join(too_long)


def test_services_and_the_worker_reach_the_database_only_through_ports() -> None:
    """``db/`` is one adapter among others: the use cases and the worker loop see the store
    protocols of ``ports.py``, never SQLAlchemy or the SQL stores."""
    offenders = []
    for folder in ("services", "worker", "domain"):
        for path in (SRC / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    if name.startswith(("sqlalchemy", "vodstack.db", "psycopg", "aiosqlite")):
                        offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {name}")
    assert not offenders, offenders


# What each layer may import of vodstack itself (docs/architecture.md). The entry points
# that wire the layers together (api, runtime, cli, demo, client) are not listed.
_CORE = {"errors", "settings", "clock", "logs", "metrics", "tracing", "domain", "ports"}
_MAY_IMPORT = {
    "domain": {"domain", "errors"},
    "ports": {"ports", "domain", "errors"},
    "services": _CORE | {"services"},
    "worker": _CORE | {"worker"},
    "adapters": _CORE | {"adapters"},
    "db": _CORE | {"db"},
}


def _vodstack_imports(path: Path) -> list[tuple[int, str]]:
    """(line, first name under vodstack) of each import of vodstack in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "vodstack":
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vodstack."):
            found.append((node.lineno, (node.module or "").split(".")[1]))
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("vodstack.")]
            found += [(node.lineno, name.split(".")[1]) for name in names]
    return found


def test_each_layer_imports_only_the_layers_beneath_it() -> None:
    """The pure rules know nothing of I/O; the use cases, the worker loop and the adapters
    never reach sideways into each other or up into the API."""
    offenders = []
    for layer, allowed in _MAY_IMPORT.items():
        paths = [SRC / f"{layer}.py"] if (SRC / f"{layer}.py").exists() else []
        paths += [p for p in (SRC / layer).rglob("*.py") if "migrations" not in p.parts]
        for path in paths:
            for line, name in _vodstack_imports(path):
                if name not in allowed:
                    offenders.append(f"{path.relative_to(SRC)}:{line} imports vodstack.{name}")
    assert not offenders, "imports across the layers: " + ", ".join(offenders)
