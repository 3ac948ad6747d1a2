"""The apps depend one way: the project package (``contactboard``) wires ``dashboard``,
which builds on ``statsbridge``; nothing imports back up. The bridge gets what it needs
from the dashboards through settings naming callables (``BRIDGE_ROUTES_SOURCE``,
``REQUEST_BODY_LIMITS_SOURCE``, ``ASGI_APPLICATION``), never an import; ``alerts`` builds on
both and reaches the bridge through ``BRIDGE_OBSERVERS``.

Every import is checked, function-local ones included, and the module names handed to
``import_module``/``import_string``/``__import__`` as literal strings.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DYNAMIC_IMPORTS = {"import_module", "import_string", "__import__"}


def imported_modules(tree: ast.AST):
    """``(line, module name)`` of every import in ``tree``, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name in DYNAMIC_IMPORTS and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def imports_of(package: str, forbidden: tuple[str, ...]) -> list[str]:
    """``file:line module`` of each import in ``package`` of a module of the ``forbidden`` packages."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, module in imported_modules(tree):
            if module.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(ROOT)}:{line} {module}")
    return found


@pytest.mark.parametrize("package, forbidden", [
    ("statsbridge", ("dashboard", "contactboard", "alerts")),
    ("dashboard", ("contactboard", "alerts")),
    ("alerts", ("contactboard",)),
])
def test_no_app_imports_what_builds_on_it(package, forbidden):
    assert (ROOT / package).is_dir()
    offending = imports_of(package, forbidden)
    assert offending == [], f"{package} must not import {' or '.join(forbidden)}:\n" + "\n".join(offending)


def test_the_check_sees_function_local_and_dynamic_imports():
    source = (
        "def f():\n"
        "    from dashboard.models import Dashboard\n"
        "    import contactboard.asgi\n"
        "    return import_string('dashboard.wanted.bridge_routes')\n"
    )
    assert list(imported_modules(ast.parse(source))) == [
        (2, "dashboard.models"), (3, "contactboard.asgi"), (4, "dashboard.wanted.bridge_routes")]
