"""A long stack is cut in the middle: its first line and its innermost frames stay."""

from __future__ import annotations

import pytest

from ykmake.monitoring.alerts.stack_text import cut_middle

FRAMES = [f'  File "app/step_{i}.py", line {i}, in step_{i}\n    step_{i + 1}()' for i in range(80)]
STACK = "\n".join(
    ["Traceback (most recent call last):", *FRAMES, "PaymentProviderError: card declined"]
)


def test_a_stack_that_fits_is_left_as_it_is() -> None:
    assert cut_middle(STACK, len(STACK)) == STACK


def test_a_long_stack_keeps_its_first_line_and_its_end_around_a_marker() -> None:
    cut = cut_middle(STACK, 1000)

    lines = cut.split("\n")
    assert len(cut) <= 1000
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "PaymentProviderError: card declined"
    assert lines[-2:] == STACK.split("\n")[-2:]  # the innermost frame, then the exception
    (marker,) = [line for line in lines if "cut" in line]
    dropped = len(STACK.split("\n")) - len(lines) + 1
    assert marker == f"… {dropped} lines cut …"
    assert "\n".join(lines[lines.index(marker) + 1 :]) in STACK  # whole lines, in order
    assert STACK.endswith("\n".join(lines[lines.index(marker) + 1 :]))


def test_the_end_gets_most_of_the_room_and_starts_at_a_frame() -> None:
    lines = cut_middle(STACK, 2000).split("\n")
    marker = next(i for i, line in enumerate(lines) if line.startswith("… "))
    assert 4 * marker < len(lines) - marker
    assert lines[marker + 1].startswith('  File "app/step_')


def test_a_last_line_too_long_to_keep_whole_keeps_its_start() -> None:
    stack = "Traceback (most recent call last):\n  File x\nValueError: " + "x" * 5000
    cut = cut_middle(stack, 300)
    assert len(cut) <= 300
    assert cut.startswith("Traceback (most recent call last):\n")
    assert cut.split("\n")[-1].startswith("ValueError: xxx")
    assert cut.endswith("…")


@pytest.mark.parametrize("limit", [0, 1, 5, 20, 37, 100, 2999])
@pytest.mark.parametrize(
    "text",
    [
        STACK,
        "x" * 4000,
        "\n" * 500,
        "a\n" + "b" * 3000,
        "a" * 3000 + "\nb",
        STACK * 3,
        "a\n" + "… 99999 lines cut …\n" * 200 + "b",
    ],
)
def test_the_result_never_exceeds_the_limit(text: str, limit: int) -> None:
    assert len(cut_middle(text, limit)) <= limit


def test_a_stack_cut_again_counts_the_lines_cut_before() -> None:
    once = cut_middle(STACK, 2000)
    twice = cut_middle(once, 600)

    def counted(text: str) -> int:
        (marker,) = [line for line in text.split("\n") if line.endswith("cut …")]
        return int(marker.split()[1])

    assert counted(twice) == len(STACK.split("\n")) - len(twice.split("\n")) + 1
    assert counted(twice) > counted(once)
