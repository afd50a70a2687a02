"""The architecture, kept true by walking every module's imports with `ast`.

- Domain modules (all of `dealroom` except `dealroom/web/`, `app.py` and `__main__.py`) never
  import Starlette or `dealroom.web`: the web layer imports the domain, never the reverse.
- The storage package never imports `dealroom.web`.
- `dealroom/web/*` never imports `dealroom.__main__` (the CLI sits above the web layer).

Imports anywhere in a module count, including ones inside functions and `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import dealroom

PACKAGE_DIR = Path(dealroom.__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
ENTRY_POINTS = {"dealroom.app", "dealroom.__main__"}


@dataclass(frozen=True)
class Import:
    line: int
    statement: str  # as written, e.g. "from ..web import render"
    targets: tuple[str, ...]  # absolute module names it may import


def module_name(path: Path, root: Path = PACKAGE_DIR) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name a (possibly relative) `from` import refers to."""
    if level == 0:
        return name or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 > len(package) - 1:
        raise ValueError(f"relative import beyond the top-level package in {module}")
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(source: str, module: str, is_package: bool = False) -> list[Import]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = tuple(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(module, is_package, node.level, node.module)
            # `from . import web` / `from dealroom import web` import the submodule `web`.
            targets = (base, *(f"{base}.{alias.name}" for alias in node.names if alias.name != "*"))
        else:
            continue
        found.append(Import(node.lineno, ast.unparse(node), targets))
    return sorted(found, key=lambda i: i.line)


def is_within(target: str, package: str) -> bool:
    return target == package or target.startswith(package + ".")


def all_modules() -> list[tuple[str, Path]]:
    modules = [(module_name(p), p) for p in sorted(PACKAGE_DIR.rglob("*.py"))]
    assert len(modules) > 10, f"found suspiciously few modules under {PACKAGE_DIR}"
    return modules


def module_imports(module: str, path: Path) -> list[Import]:
    return imports_of(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")


def is_web(module: str) -> bool:
    return is_within(module, "dealroom.web")


def violations(modules: list[tuple[str, Path]], forbidden: tuple[str, ...]) -> list[str]:
    problems = []
    for module, path in modules:
        for imp in module_imports(module, path):
            hits = [t for t in imp.targets if any(is_within(t, f) for f in forbidden)]
            if hits:
                where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                problems.append(
                    f"{module} ({where}:{imp.line}) imports {hits[0]}: `{imp.statement}`"
                )
    return problems


def test_domain_never_imports_starlette_or_the_web_layer() -> None:
    domain = [(m, p) for m, p in all_modules() if not is_web(m) and m not in ENTRY_POINTS]
    problems = violations(domain, ("starlette", "dealroom.web"))
    assert not problems, "domain modules must not depend on the web layer:\n" + "\n".join(problems)


def test_storage_never_imports_the_web_layer() -> None:
    storage = [(m, p) for m, p in all_modules() if is_within(m, "dealroom.storage")]
    assert storage, "no dealroom.storage modules found"
    problems = violations(storage, ("dealroom.web",))
    assert not problems, "storage must not depend on the web layer:\n" + "\n".join(problems)


def test_web_never_imports_the_cli() -> None:
    web = [(m, p) for m, p in all_modules() if is_web(m)]
    assert web, "no dealroom.web modules found"
    problems = violations(web, ("dealroom.__main__",))
    assert not problems, "the web layer must not import the CLI:\n" + "\n".join(problems)


# The checker itself: each of these spellings must be seen as importing dealroom.web.
@pytest.mark.parametrize(
    ("module", "is_package", "source"),
    [
        ("dealroom.rooms", False, "from .web import render"),
        ("dealroom.rooms", False, "from . import web"),
        ("dealroom.rooms", False, "from .web.render import render"),
        ("dealroom.rooms", False, "from dealroom import web"),
        ("dealroom.rooms", False, "import dealroom.web.render"),
        ("dealroom.rooms", False, "def f():\n    from .web import htmx"),
        ("dealroom.storage.s3", False, "from ..web import render"),
        ("dealroom.storage.s3", False, "from .. import web"),
        ("dealroom.storage", True, "from ..web.forms import Form"),
        ("dealroom.crm.hubspot", False, "from ..web.render import render"),
    ],
)
def test_checker_sees_web_imports(module: str, is_package: bool, source: str) -> None:
    targets = [t for imp in imports_of(source, module, is_package) for t in imp.targets]
    assert any(is_within(t, "dealroom.web") for t in targets), targets


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("dealroom.rooms", "from .webhooks import send"),  # a name that merely starts with "web"
        ("dealroom.crm.webhook", "from . import webhook"),
        ("dealroom.storage.s3", "from ..errors import DealroomError"),
        ("dealroom.rooms", "import dealroom.webapp"),
    ],
)
def test_checker_allows_lookalikes(module: str, source: str) -> None:
    targets = [t for imp in imports_of(source, module) for t in imp.targets]
    assert not any(is_within(t, "dealroom.web") for t in targets), targets


def test_relative_import_above_the_package_is_an_error() -> None:
    with pytest.raises(ValueError, match="beyond the top-level package"):
        imports_of("from ...web import render", "dealroom.rooms")


def test_failure_message_names_module_and_import(tmp_path: Path) -> None:
    root = tmp_path / "dealroom"
    (root / "storage").mkdir(parents=True)
    path = root / "storage" / "bad.py"
    path.write_text("import os\n\nfrom starlette.requests import Request\n", encoding="utf-8")
    module = module_name(path, root)
    assert module == "dealroom.storage.bad"
    (problem,) = violations([(module, path)], ("starlette", "dealroom.web"))
    assert problem.startswith("dealroom.storage.bad (")
    assert f"{path}:3" in problem
    assert problem.endswith("imports starlette.requests: `from starlette.requests import Request`")
