"""The typed environment readers behind settings."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from dashboard.env import env_bool, env_float, env_int, env_list, env_str


def test_defaults_when_unset(monkeypatch):
    monkeypatch.delenv("X_TEST", raising=False)
    assert env_str("X_TEST", "d") == "d"
    assert env_bool("X_TEST", True) is True
    assert env_int("X_TEST", 7) == 7
    assert env_float("X_TEST", 0.5) == 0.5
    assert env_list("X_TEST", ["a"]) == ["a"]


def test_parsed_values(monkeypatch):
    monkeypatch.setenv("X_TEST", " yes ")
    assert env_bool("X_TEST") is True
    monkeypatch.setenv("X_TEST", "off")
    assert env_bool("X_TEST", True) is False
    monkeypatch.setenv("X_TEST", "42")
    assert env_int("X_TEST", 0) == 42
    monkeypatch.setenv("X_TEST", "a, b,,c ")
    assert env_list("X_TEST", []) == ["a", "b", "c"]


@pytest.mark.parametrize("reader", [env_bool, lambda n: env_int(n, 0), lambda n: env_float(n, 0.0)])
def test_bad_values_name_the_variable_not_the_value(monkeypatch, reader):
    monkeypatch.setenv("X_TEST", "s3cr3t-garbage")
    with pytest.raises(ImproperlyConfigured) as err:
        reader("X_TEST")
    assert "X_TEST" in str(err.value)
    assert "s3cr3t" not in str(err.value)
