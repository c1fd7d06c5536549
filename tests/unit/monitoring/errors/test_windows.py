from __future__ import annotations

from ykmake.monitoring.errors.windows import ErrorWindows, Sighting


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_of_a_kind_is_new_and_its_repeats_are_not_until_the_window_ends() -> None:
    clock = Clock()
    windows = ErrorWindows(60.0, 0, clock=clock)
    assert windows.see("a", sentry=False) == Sighting(new=True, to_sentry=False)
    clock.now += 59.9
    assert windows.see("a", sentry=False).new is False
    assert windows.see("b", sentry=False).new is True  # another kind has its own window
    clock.now += 0.1  # 60 s after the first "a"
    assert windows.see("a", sentry=False).new is True


def test_sentry_gets_its_budget_per_kind_and_window() -> None:
    clock = Clock()
    windows = ErrorWindows(60.0, 2, clock=clock)
    assert [windows.see("a", sentry=True).to_sentry for _ in range(4)] == [
        True,
        True,
        False,
        False,
    ]
    assert windows.see("b", sentry=True).to_sentry is True
    clock.now += 60
    assert windows.see("a", sentry=True).to_sentry is True  # a new window, a new budget


def test_without_sentry_nothing_is_sent_and_a_zero_budget_sends_nothing() -> None:
    assert ErrorWindows(60.0, 5).see("a", sentry=False).to_sentry is False
    assert ErrorWindows(60.0, 0).see("a", sentry=True).to_sentry is False


def test_memory_is_bounded_by_forgetting_the_kind_seen_longest_ago() -> None:
    windows = ErrorWindows(3600.0, 1)
    for i in range(10_001):
        windows.see(f"kind-{i}", sentry=False)
    assert windows.see("kind-10000", sentry=False).new is False  # remembered
    assert windows.see("kind-0", sentry=False).new is True  # forgotten: new again
