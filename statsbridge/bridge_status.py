"""What the bridge tells about itself: counts and errors for /readyz, the ops page and metrics."""

import time

# The newest value time per subscription walks every held statistic: at 100,000 that cost
# 10 % of a recovery's CPU when done on every heartbeat (4 a second). The ops page shows
# the age in whole seconds, so once a second is enough.
LAST_UPDATE_EVERY_SECONDS = 1.0


def current_config_error(bridge) -> str | None:
    """The login or API-key refusal in force (secret-free text), or None.

    The token provider's is current (it clears once a login works again); else the
    last one the REST worker or the CometD client stopped on, until a session is up.
    """
    tokens = bridge.link.tokens
    if tokens is not None and tokens.last_error is not None:
        return str(tokens.last_error)
    return bridge.config_error


def status_extra(bridge) -> dict:
    """The status's extra fields of ``bridge`` (written with every status)."""
    tokens = bridge.link.tokens
    switch = bridge.switch
    held = bridge.held
    latest = bridge.fanout.latest
    rates = bridge.update_rates.snapshot(held)
    shown = sorted(held.items())[:200]
    newest = last_updates(bridge, shown, latest, time.monotonic())
    details = [
        {
            "id": subscription_id,
            "statistics": len(keys),
            "last_update": newest.get(subscription_id),
            "rates": rates["by_subscription"].get(subscription_id),
        }
        for subscription_id, keys in shown
    ]
    return {
        "updates": {"total": rates["total"], "windows": rates["windows"], "rates": rates["rates"]},
        "mode": "polling" if switch.polling and switch.polling_since is not None else "streaming",
        "poll_seconds": switch.poll_seconds,
        "polling_since": switch.polling_since,
        "retrying": dict(sorted(bridge.book.retrying().items())[:50]),
        "lost": bridge.book.lost_total,
        "subscriptions": len(held),
        "subscription_details": details,
        "statistics": sum(len(k) for k in held.values()),
        "wanted": len(bridge.fanout.routes.wanted),
        "refused": dict(sorted(bridge.failed.items())[:50]),
        "last_error": bridge.last_error,
        "config_error": current_config_error(bridge),
        "last_resubscribe": bridge.worker.last_resubscribe,
        "token_expires_at": tokens.expires_at if tokens is not None else None,
    }


def last_updates(holder, shown: list, latest: dict, now: float) -> dict:
    """Newest ``received`` per subscription of ``shown`` (id, keys) pairs, kept on ``holder`` and
    recomputed when ``LAST_UPDATE_EVERY_SECONDS`` old or when the subscriptions changed."""
    ids = [subscription_id for subscription_id, _keys in shown]
    cached = getattr(holder, "_last_updates", None)
    if cached is not None and cached[1] == ids and now - cached[0] < LAST_UPDATE_EVERY_SECONDS:
        return cached[2]
    newest = {subscription_id: max((latest[k]["received"] for k in keys if k in latest), default=None)
              for subscription_id, keys in shown}
    holder._last_updates = (now, ids, newest)
    return newest
