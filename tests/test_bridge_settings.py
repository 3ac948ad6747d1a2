"""The bridge's settings object: typed, defaults stated once, unknown keys refused."""

import dataclasses

import pytest
from django.core.exceptions import ImproperlyConfigured

from statsbridge.conf import BridgeSettings, bridge_settings


def test_defaults_and_overrides_are_typed():
    built = BridgeSettings.from_mapping({"FRAME_FLOOR_SECONDS": "0.5", "SUBSCRIPTION_BATCH_SIZE": 7})
    assert built.frame_floor_seconds == 0.5 and built.subscription_batch_size == 7
    assert built.heartbeat_seconds == BridgeSettings().heartbeat_seconds
    assert BridgeSettings.from_mapping({"SUBSCRIPTION_CREATE_WINDOW": "3"}).subscription_create_window == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.frame_floor_seconds = 1.0


def test_unknown_keys_are_refused_by_name():
    with pytest.raises(ImproperlyConfigured, match="TICK_SECOND'"):
        BridgeSettings.from_mapping({"TICK_SECOND": 0.5})


def test_a_value_of_the_wrong_type_is_refused():
    with pytest.raises(ImproperlyConfigured, match="POLL_SECONDS"):
        BridgeSettings.from_mapping({"POLL_SECONDS": "soon"})


def test_reloaded_when_the_django_setting_changes(settings):
    settings.BRIDGE = {**settings.BRIDGE, "KEY_PREFIX": "first"}
    assert bridge_settings().key_prefix == "first"
    settings.BRIDGE = {**settings.BRIDGE, "KEY_PREFIX": "second"}
    assert bridge_settings().key_prefix == "second"
    assert bridge_settings() is bridge_settings()
