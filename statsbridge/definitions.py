"""Validation of custom Stat Server statistic definitions.

A custom definition is sent upstream as-is in ``POST /subscriptions``; Stat Server
rejects a bad one with a terse error long after the admin saved it. Checking every
field here, with one message per field, lets the admin form explain the mistake.
"""

import re

from django.core.exceptions import ValidationError

NOTIFICATION_MODES = ("Changes", "Periodical", "Immediate", "NoNotification", "Reset")
INTERVAL_TYPES = ("GrowingWindow", "SlidingWindow", "SelectionBased")
CATEGORIES = (
    "CurrentNumber",
    "CurrentMaxNumber",
    "CurrentMinNumber",
    "CurrentState",
    "CurrentStateReasons",
    "CurrentTime",
    "CurrentRatio",
    "CurrentAverageTime",
    "CurrentMaxTime",
    "CurrentMinTime",
    "TotalNumber",
    "TotalTime",
    "TotalAdjustedNumber",
    "TotalAdjustedTime",
    "TotalNumberInTimeRange",
    "TotalNumberInTimeRangePercentage",
    "TotalAverageTime",
    "TotalMaxTime",
    "TotalMinTime",
    "AverageTime",
    "AverageNumber",
    "MaxTime",
    "MinTime",
    "ServiceFactor",
    "EstimTimeToComplete",
    "Formula",
    "JavaCategory",
)
SUBJECTS = ("DNStatus", "AgentStatus", "DNAction", "PlaceStatus", "Action")
MASK_TYPES = ("DN", "Agent", "Place", "Group", "Queue")

# Time categories return seconds; ratio categories return a share of 100.
TIME_CATEGORIES = frozenset(c for c in CATEGORIES if c.endswith("Time") or c == "EstimTimeToComplete")
PERCENT_CATEGORIES = frozenset({"ServiceFactor", "CurrentRatio", "TotalNumberInTimeRangePercentage"})

REQUIRED = ("category", "subject", "mainMask", "notificationMode")
_INTEGER_FIELDS = {"notificationFrequency": 1, "insensitivity": 0, "intervalLength": 1}
_STRING_FIELDS = ("mainMask", "relMask", "dynamicFilter")
KNOWN_FIELDS = frozenset(
    {
        "notificationMode",
        "notificationFrequency",
        "insensitivity",
        "category",
        "subject",
        "intervalType",
        "intervalLength",
        "mainMask",
        "relMask",
        "dynamicTimeProfile",
        "dynamicFilter",
        "maskType",
    }
)
# "00:00", or growing-window ranges such as "08:00-17:00" / "00:00+00:15".
_TIME_PROFILE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(([-+])([01]\d|2[0-4]):[0-5]\d)?(,([01]\d|2[0-3]):[0-5]\d)*$")
_MASK = re.compile(r"^[A-Za-z*!,\s_]+$")


def _choice(field: str, value, choices: tuple[str, ...]) -> str | None:
    if not isinstance(value, str) or value not in choices:
        return f"{field} must be one of {', '.join(choices)} (got {value!r})."
    return None


def definition_errors(definition) -> dict[str, str]:
    """Return ``{field: message}`` for everything wrong with a definition (empty when valid)."""
    if not isinstance(definition, dict):
        return {"definition": "A definition must be a JSON object of Stat Server fields."}
    errors: dict[str, str] = {}
    for field in sorted(set(definition) - KNOWN_FIELDS):
        errors[field] = f"{field} is not a Stat Server definition field (known: {', '.join(sorted(KNOWN_FIELDS))})."
    for field in REQUIRED:
        if definition.get(field) in (None, ""):
            errors[field] = f"{field} is required."
    checks = {
        "notificationMode": NOTIFICATION_MODES,
        "category": CATEGORIES,
        "subject": SUBJECTS,
        "intervalType": INTERVAL_TYPES,
        "maskType": MASK_TYPES,
    }
    for field, choices in checks.items():
        if field in definition and field not in errors:
            message = _choice(field, definition[field], choices)
            if message:
                errors[field] = message
    for field, minimum in _INTEGER_FIELDS.items():
        value = definition.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            errors[field] = f"{field} must be a whole number of at least {minimum} (got {value!r})."
    for field in _STRING_FIELDS:
        value = definition.get(field)
        if value is None or field in errors:
            continue
        if not isinstance(value, str) or len(value) > 1000:
            errors[field] = f"{field} must be text of at most 1000 characters."
        elif not value.isprintable():
            # PostgreSQL refuses NUL in JSON text, and Stat Server has no use for
            # control characters: refuse them here rather than fail at save.
            errors[field] = f"{field} must not contain control characters."
        elif field != "dynamicFilter" and not _MASK.match(value):
            errors[field] = f"{field} must be a list of action or status names, e.g. CallInbound,CallOutbound or *."
    profile = definition.get("dynamicTimeProfile")
    if profile is not None and (not isinstance(profile, str) or not _TIME_PROFILE.match(profile)):
        errors["dynamicTimeProfile"] = "dynamicTimeProfile must be a time of day such as 00:00 (or 08:00-17:00)."
    errors.update(_cross_field_errors(definition, errors))
    return errors


def _cross_field_errors(definition: dict, errors: dict[str, str]) -> dict[str, str]:
    """Rules that tie fields together."""
    found: dict[str, str] = {}
    mode = definition.get("notificationMode")
    if mode == "Periodical" and definition.get("notificationFrequency") is None:
        found["notificationFrequency"] = "notificationFrequency (seconds) is required when notificationMode is Periodical."
    interval = definition.get("intervalType")
    if interval in ("SlidingWindow", "SelectionBased") and definition.get("intervalLength") is None:
        found["intervalLength"] = f"intervalLength is required when intervalType is {interval}."
    if interval == "GrowingWindow" and definition.get("intervalLength") is not None:
        found.setdefault("intervalLength", "intervalLength applies only to SlidingWindow and SelectionBased intervals.")
    if definition.get("category") == "CurrentState" and definition.get("subject") not in (
        None,
        "DNStatus",
        "AgentStatus",
        "PlaceStatus",
    ):
        found.setdefault("subject", "A CurrentState statistic needs subject DNStatus, AgentStatus or PlaceStatus.")
    return {field: message for field, message in found.items() if field not in errors}


def validate_definition(definition) -> None:
    """Raise ``ValidationError`` (one message per bad field) unless the definition is valid."""
    errors = definition_errors(definition)
    if errors:
        raise ValidationError({"definition": [message for _, message in sorted(errors.items())]})
