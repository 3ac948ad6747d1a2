"""Tiny typed readers for settings that come from the environment.

Each helper returns the default when the variable is unset or empty, and raises
``ImproperlyConfigured`` naming the variable (never its value, which may be a
secret) when the value cannot be parsed.
"""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    """Return the variable as a string, or ``default`` when unset or empty."""
    value = os.environ.get(name, "")
    return value if value != "" else default


def env_bool(name: str, default: bool = False) -> bool:
    """Return the variable as a boolean (1/true/yes/on, 0/false/no/off)."""
    value = env_str(name).strip().lower()
    if value == "":
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false)")


def env_int(name: str, default: int) -> int:
    """Return the variable as an integer."""
    value = env_str(name).strip()
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer") from None


def env_float(name: str, default: float) -> float:
    """Return the variable as a float."""
    value = env_str(name).strip()
    if value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number") from None


def env_list(name: str, default: list[str]) -> list[str]:
    """Return the variable as a comma-separated list with blanks removed."""
    value = env_str(name)
    if value == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]
