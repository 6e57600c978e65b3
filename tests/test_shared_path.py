"""conftest.shared_path(): a missing ../shared skips a test on a developer's machine and fails
it under CI=true; a present file is returned in both cases."""
from __future__ import annotations

import pytest

import conftest


@pytest.fixture
def no_shared(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "SHARED", tmp_path / "missing-shared")
    return tmp_path / "missing-shared"


def test_missing_shared_skips_outside_ci(no_shared, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="is not present"):
        conftest.shared_path("seed-example", "qkeras_3layer.json")


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_missing_shared_fails_under_ci(no_shared, monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI must provide ../shared") as e:
        conftest.shared_path("seed-example", "qkeras_3layer.json")
    assert str(no_shared / "seed-example" / "qkeras_3layer.json") in str(e.value)


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_ci_not_true_still_skips(no_shared, monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception):
        conftest.shared_path("example-models", "KERAS_3layer.json")


@pytest.mark.parametrize("ci", [None, "true"])
def test_present_file_is_returned(tmp_path, monkeypatch, ci):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x.json").write_text("{}")
    monkeypatch.setattr(conftest, "SHARED", tmp_path)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    assert conftest.shared_path("m", "x.json") == tmp_path / "m" / "x.json"
