from __future__ import annotations

import json

import pytest

from ykmake.monitoring.errors.fingerprint import error_fingerprint, innermost_app_frame


def _raise(kind: type[Exception], text: str) -> Exception:
    try:
        raise kind(text)
    except Exception as exc:  # noqa: BLE001 - returned for fingerprinting
        return exc


def _raise_elsewhere(kind: type[Exception], text: str) -> Exception:
    try:
        raise kind(text)
    except Exception as exc:  # noqa: BLE001
        return exc


def _raise_in_a_library() -> Exception:
    try:
        json.loads("{")  # raised inside the stdlib, called from here
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize("text", ["id 1 not found", "id 2 not found"])
def test_errors_of_one_type_at_one_place_are_one_kind_whatever_the_message(text: str) -> None:
    assert error_fingerprint(_raise(KeyError, text)) == error_fingerprint(_raise(KeyError, "x"))


def test_types_and_places_make_different_kinds() -> None:
    base = error_fingerprint(_raise(KeyError, "x"))
    assert base != error_fingerprint(_raise(ValueError, "x"))
    assert base != error_fingerprint(_raise_elsewhere(KeyError, "x"))


def test_the_place_is_the_innermost_frame_of_application_code() -> None:
    assert innermost_app_frame(_raise_in_a_library()) == "test_fingerprint.py:_raise_in_a_library"
    assert innermost_app_frame(KeyError("never raised")) is None
