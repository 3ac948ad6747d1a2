"""The page version walls report follows every page module, not only the entry module."""

import json
import re

from dashboard import boards
from dashboard.templatetags import page_code


def _write(folder, files):
    for name, text in files.items():
        (folder / name).write_text(text)


def test_a_change_to_any_page_module_or_style_sheet_is_a_new_version(tmp_path, monkeypatch):
    monkeypatch.setattr(boards, "_PAGE_CODE", tmp_path)
    _write(tmp_path, {"dashboard.js": "export {};", "socket.js": "let a = 1;", "dashboard.css": "a{}"})
    first = boards.page_version()
    assert first == boards.page_version()  # stable while nothing changes

    (tmp_path / "socket.js").write_text("let a = 2;")
    second = boards.page_version()
    (tmp_path / "dashboard.css").write_text("a{color:red}")
    third = boards.page_version()

    assert len({first, second, third}) == 3


def test_renaming_a_module_is_a_new_version(tmp_path, monkeypatch):
    monkeypatch.setattr(boards, "_PAGE_CODE", tmp_path)
    _write(tmp_path, {"a.js": "x", "b.js": "y"})
    before = boards.page_version()
    (tmp_path / "b.js").rename(tmp_path / "c.js")
    assert boards.page_version() != before


def test_pages_load_every_module_under_the_page_version(client, admin_user, demo):
    """Relative imports included: a deploy gives a wall a new set of module URLs, never a
    mix of cached old modules and new ones."""
    client.force_login(admin_user)
    page = client.get("/d/overview/").content.decode()
    version = boards.page_version()
    match = re.search(r'<script type="importmap" nonce="([^"]+)">(.*?)</script>', page)
    assert match, "no import map on the desk page"
    nonce, text = match.groups()
    assert nonce and nonce in page.split("</head>")[1]  # the same nonce as the page's module script
    imports = json.loads(text)["imports"]
    assert set(imports) == {f"/static/dashboard/{name}" for name in boards.page_modules()}
    assert "/static/dashboard/socket.js" in imports
    assert all(target == f"{url}?v={version}" for url, target in imports.items())
    assert f'href="/static/dashboard/dashboard.css?v={version}"' in page
    assert page.index('type="importmap"') < page.index('type="module"')  # a map after a module is ignored


def test_the_import_map_is_escaped_for_a_script_element(monkeypatch):
    monkeypatch.setattr(boards, "page_modules", lambda: ["</script><b>.js"])
    text = page_code.page_import_map({"CSP_NONCE": "n"})
    assert text.count("</script>") == 1 and "<b>" not in text


def test_every_template_compiles():
    """A tag used without its ``{% load %}`` (as ``versioned_static`` once was on the editor
    list) fails only when that page is rendered; compiling every template finds it at once."""
    from pathlib import Path

    from django.conf import settings
    from django.template.loader import get_template

    root = Path(settings.BASE_DIR) / "templates"
    names = sorted(str(path.relative_to(root)) for path in root.rglob("*.html"))
    assert len(names) > 20
    for name in names:
        get_template(name)  # raises TemplateSyntaxError naming the template
