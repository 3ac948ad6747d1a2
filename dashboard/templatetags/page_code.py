"""Page code served under its version: ``{% page_import_map %}`` and ``{% versioned_static %}``.

WhiteNoise serves the page modules under their plain names with a short cache lifetime
(they are not run through a hashing storage: the modules import each other by relative
name). Without a version in the URL, a wall reloading within that lifetime after a
deploy could run a new ``dashboard.js`` with an old ``socket.js`` from its cache. An
import map (one per page, before any module script) sends every page module's URL to the
same URL with ``?v=<page version>``, relative imports included, so a page loads one
version of all of them: a new deploy is a new set of URLs.
"""

import json

from django import template
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from dashboard import boards

register = template.Library()

# As django.utils.html.json_script escapes: the map is JSON inside a <script> element.
_SCRIPT_SAFE = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def import_map(version: str) -> dict:
    """Pure: the import map sending each page module's static URL to its versioned URL."""
    return {"imports": {static(f"dashboard/{name}"): f"{static(f'dashboard/{name}')}?v={version}"
                        for name in boards.page_modules()}}


@register.simple_tag(takes_context=True)
def page_import_map(context) -> str:
    """The ``<script type="importmap">`` of the page modules, with the response's CSP nonce."""
    text = json.dumps(import_map(boards.page_version()), sort_keys=True).translate(_SCRIPT_SAFE)
    return format_html('<script type="importmap" nonce="{}">{}</script>', context.get("CSP_NONCE", ""),
                       mark_safe(text))  # escaped for a script element just above


@register.simple_tag
def versioned_static(path: str) -> str:
    """``path``'s static URL with the page version (for style sheets, which an import map does not cover)."""
    return f"{static(path)}?v={boards.page_version()}"
