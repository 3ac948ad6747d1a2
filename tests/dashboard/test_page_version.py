"""The page version walls report follows every page module, not only the entry module."""

from dashboard import boards


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
