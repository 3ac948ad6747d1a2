"""docs/architecture.md names every module, so the map cannot fall behind the tree."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("alerts", "contactboard", "dashboard", "statsbridge")


def modules() -> list[Path]:
    """Every Python module of the packages and every page module, migrations and __init__ aside."""
    found = [
        path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
        if path.name != "__init__.py" and "migrations" not in path.parts
    ]
    return sorted(found + list((ROOT / "static" / "dashboard").glob("*.js")))


def test_the_architecture_doc_names_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text()
    # A module is named by its file name; a management command by its command name.
    missing = [str(path.relative_to(ROOT)) for path in modules() if path.name not in text and f"`{path.stem}`" not in text]
    assert not missing, f"docs/architecture.md does not name: {missing}"


def test_the_check_sees_every_package():
    names = {path.relative_to(ROOT).parts[0] for path in modules()}
    assert names == {*PACKAGES, "static"}
