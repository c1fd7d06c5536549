"""Whether the client left: uvicorn's flag where it is what we expect, the public probe else."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message, Receive

from ykmake.monitoring.http.disconnect import GoneCheck, checker_for, probe_receive


def cycle_class(module: str, *, with_flag: bool) -> type:
    """A stand-in for a server's request cycle, whose ``receive`` counts its calls."""

    class RequestResponseCycle:
        def __init__(self, left: bool) -> None:
            if with_flag:
                self.disconnected = left
            self.left = left
            self.received = 0

        async def receive(self) -> Message:
            self.received += 1
            if not self.left:
                await asyncio.Event().wait()  # suspends: the client is still there
            return {"type": "http.disconnect"}

    RequestResponseCycle.__module__ = module
    RequestResponseCycle.__qualname__ = "RequestResponseCycle"
    return RequestResponseCycle


UVICORN = "uvicorn.protocols.http.httptools_impl"


def client_gone(receive: Receive) -> bool:
    """What the middleware does: the check chosen for this server, applied."""
    check: GoneCheck = checker_for(receive)
    return check(receive)


@pytest.mark.parametrize("left", [True, False])
def test_uvicorn_s_flag_is_read_without_calling_receive(left: bool) -> None:
    cycle = cycle_class(UVICORN, with_flag=True)(left)
    assert client_gone(cycle.receive) is left
    assert cycle.received == 0


@pytest.mark.parametrize("module", [UVICORN, "someserver.http"])
@pytest.mark.parametrize("left", [True, False])
def test_the_public_probe_takes_over_without_the_flag(module: str, left: bool) -> None:
    """A uvicorn release without the flag, or another server: receive() is stepped once."""
    cycle = cycle_class(module, with_flag=False)(left)
    assert client_gone(cycle.receive) is left
    assert cycle.received == 1


def test_the_check_is_decided_for_the_server_then_kept() -> None:
    cycle = cycle_class(UVICORN, with_flag=True)(False)
    check = checker_for(cycle.receive)
    assert check is not probe_receive
    cycle.disconnected = True  # the client leaves later: the same check sees it
    assert check(cycle.receive) is True
    assert cycle.received == 0


def test_a_server_with_an_unexpected_flag_type_is_probed() -> None:
    cycle = cycle_class(UVICORN, with_flag=True)(True)
    cycle.disconnected = "yes"  # not what uvicorn keeps there: don't trust it
    assert client_gone(cycle.receive) is True
    assert cycle.received == 1


def test_a_receive_that_is_not_a_coroutine_counts_as_connected() -> None:
    class Pending:  # an awaitable that cannot be stepped without waiting
        def __await__(self) -> object:
            yield None

    assert probe_receive(lambda: Pending()) is False  # type: ignore[arg-type, return-value]


def test_a_receive_that_raises_counts_as_connected() -> None:
    async def receive() -> Message:
        raise RuntimeError("server gone odd")

    assert probe_receive(receive) is False
