"""What the bridge tells about itself: counts and errors for /readyz, the ops page and metrics."""


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
    details = [
        {
            "id": subscription_id,
            "statistics": len(keys),
            "last_update": max((latest[k]["received"] for k in keys if k in latest), default=None),
            "rates": rates["by_subscription"].get(subscription_id),
        }
        for subscription_id, keys in sorted(held.items())[:200]
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
