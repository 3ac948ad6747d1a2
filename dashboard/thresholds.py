"""Threshold levels with hysteresis: pure, mirrored by ``levelFor`` in static/dashboard/thresholds.js.

A value enters a worse level as soon as it reaches that level's threshold, but leaves a
level it is already in only after moving ``hysteresis`` back past the threshold, so a
value wobbling on the line does not make the tile flicker.
"""

OK = "ok"
WARNING = "warning"
CRITICAL = "critical"
NONE = "none"  # no thresholds, or no number to compare

_RANK = {NONE: 0, OK: 0, WARNING: 1, CRITICAL: 2}

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
PALETTE = {OK: "#0072B2", WARNING: "#E69F00", CRITICAL: "#D55E00", NONE: "#56657a"}


def level(
    value: float | None,
    warning: float | None,
    critical: float | None,
    direction: str = "above",
    hysteresis: float = 0.0,
    previous: str = NONE,
) -> str:
    """Return the threshold level of ``value`` given the level it was at before.

    ``direction`` is ``"above"`` (higher is worse) or ``"below"`` (lower is worse).
    """
    if value is None or (warning is None and critical is None):
        return NONE
    sign = 1.0 if direction == "above" else -1.0
    signed = sign * value
    held = _RANK.get(previous, 0)

    def reached(threshold: float | None, rank: int) -> bool:
        if threshold is None:
            return False
        margin = hysteresis if held >= rank else 0.0
        return signed >= sign * threshold - margin

    if reached(critical, 2):
        return CRITICAL
    if reached(warning, 1):
        return WARNING
    return OK


def cue(level_name: str, direction: str = "above") -> dict:
    """Return the non-colour cue of a level: an icon and a word, or empty for OK/none."""
    high = direction == "above"
    if level_name == WARNING:
        return {"icon": "▲" if high else "▼", "text": "HIGH" if high else "LOW"}
    if level_name == CRITICAL:
        return {"icon": "▲▲" if high else "▼▼", "text": "CRITICAL HIGH" if high else "CRITICAL LOW"}
    return {"icon": "", "text": ""}
