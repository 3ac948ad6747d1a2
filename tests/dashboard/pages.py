"""What the dashboard tests look for: a live bridge's status, and tiles in a rendered page."""

import html as html_lib
import re

from statsbridge import frames


def live_status():
    """A bridge status as a live, connected bridge writes it."""
    connection = frames.connection(upstream="connected", service="AVAILABLE", bridge="up")
    return {"connection": connection, "heartbeat": frames.now_ms(), "bridge": "test:1", "started": frames.now_ms(),
            "subscriptions": 1, "statistics": 3, "wanted": 3, "refused": {"sbad": "unknown object"},
            "last_error": None, "last_resubscribe": None, "token_expires_at": None}


def tile_tag(page: str, key: str) -> str:
    """The opening tag of the tile of statistic ``key`` (link or plain)."""
    match = re.search(rf'<(a|div|td) class="tile[^"]*"[^>]*data-statistic="{re.escape(key)}"[^>]*>', page)
    assert match, f"no tile for {key}"
    return match.group(0)


def attribute(tag: str, name: str) -> str:
    """The (unescaped) value of attribute ``name`` in the opening ``tag``."""
    match = re.search(rf'\s{name}="([^"]*)"', tag)
    assert match, f"no {name} in {tag}"
    return html_lib.unescape(match.group(1))
