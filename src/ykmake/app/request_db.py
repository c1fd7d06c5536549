"""The request path's way to the database: its work in threads of its own, under deadlines.

A request hands :meth:`RequestDatabase.run` a function of a session. It runs in one of this
object's threads, as many as the engine has connections, with a session opened and closed
inside that one call. So a connection is never held while its request waits for a thread,
and the app's other sync work (anyio's shared threads) never waits behind the database.

The request waits at most ``pool_timeout`` for a thread (each holds a connection: every
connection is busy) and at most ``timeout`` overall, then gets :class:`DatabaseUnavailableError`
(a 503, see :mod:`ykmake.app.unavailable`), as it does when SQLAlchemy times out or the
connection fails. Work given up on is abandoned: its thread may still be blocked on a server
that stopped answering (nothing interrupts a blocking read), but its next statement or
commit is refused, so it ends as soon as the server answers, having changed nothing more.
A hanging database holds at most these threads; meanwhile every request fails fast.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from ykmake.errors import YkmakeError

__all__ = ["AbandonedWorkError", "DatabaseUnavailableError", "RequestDatabase"]

P = ParamSpec("P")
T = TypeVar("T")

_QUERY_CANCELED: Final = "57014"  # PostgreSQL's SQLSTATE for statement_timeout


class DatabaseUnavailableError(YkmakeError):
    """The database did not serve a request in time, or failed it: ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AbandonedWorkError(YkmakeError):
    """Raised in work whose request stopped waiting, at its next statement or commit."""


class _Call:
    """One piece of work; ``abandoned`` once its request stopped waiting for it."""

    __slots__ = ("abandoned",)

    def __init__(self) -> None:
        self.abandoned = False


_call: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("ykmake_db_call", default=None)


def _refuse_if_abandoned() -> None:
    call = _call.get()
    if call is not None and call.abandoned:
        msg = "the request stopped waiting for this work"
        raise AbandonedWorkError(msg)


def _before_statement(*_event: Any) -> None:
    _refuse_if_abandoned()


def _before_commit(_conn: Any) -> None:
    _refuse_if_abandoned()


class RequestDatabase:
    """Runs the request path's database work (see the module docstring).

    Args:
        engine: the service's engine.
        threads: how many pieces of work run at once: the engine's connections.
        pool_timeout: the longest wait for a thread, so for a connection (seconds).
        timeout: the longest wait for the work, all included (seconds).
    """

    def __init__(
        self, engine: Engine, *, threads: int, pool_timeout: float, timeout: float
    ) -> None:
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.timeout = timeout
        self.pool_timeout = min(pool_timeout, timeout)
        self._size = threads
        self._threads: ThreadPoolExecutor | None = None  # started by the first work
        event.listen(engine, "before_cursor_execute", _before_statement)
        event.listen(engine, "commit", _before_commit)

    async def run(
        self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``work(session, *args, **kwargs)`` in a thread of the database's, within deadlines.

        Raises:
            DatabaseUnavailableError: no connection, or no answer, in time; or the connection
                failed (SQLAlchemy's OperationalError, the pool's TimeoutError).
        """
        call = _Call()
        bound = functools.partial(work, **kwargs)
        # The request's context goes along: its log fields, its Sentry scope.
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self._size, thread_name_prefix="ykmake-db")
        started = self._threads.submit(
            contextvars.copy_context().run, self._in_session, call, bound, *args
        )
        result = asyncio.wrap_future(started)
        try:
            return await self._wait(result, started)
        except (OperationalError, PoolTimeoutError) as exc:
            raise DatabaseUnavailableError(self._reason(exc)) from exc
        finally:
            if not result.done():  # given up on, or the request was cancelled
                call.abandoned = True
                started.cancel()  # work still queued never starts: now, not on the next turn
                result.cancel()

    async def _wait(self, result: asyncio.Future[T], work: Future[T]) -> T:
        began = time.monotonic()
        finished, _ = await asyncio.wait({result}, timeout=self.pool_timeout)
        if not finished and not (work.running() or work.done()):
            msg = f"no database connection was free within {self.pool_timeout:g}s"
            raise DatabaseUnavailableError(msg)
        left = self.timeout - (time.monotonic() - began)
        finished, _ = await asyncio.wait({result}, timeout=max(left, 0.0))
        if not finished:
            msg = f"the database did not answer within {self.timeout:g}s"
            raise DatabaseUnavailableError(msg)
        return result.result()

    def _in_session(self, call: _Call, work: Callable[..., T], *args: Any) -> T:
        _call.set(call)  # this thread's copy of the request's context
        with self.sessions() as session:
            return work(session, *args)

    def _reason(self, exc: OperationalError | PoolTimeoutError) -> str:
        if isinstance(exc, PoolTimeoutError):
            return f"no database connection was free within {self.pool_timeout:g}s"
        if getattr(exc.orig, "sqlstate", None) == _QUERY_CANCELED:
            return "a database statement ran past its time limit"
        if exc.connection_invalidated:
            return "the connection to the database was lost"
        return "the database is unavailable"

    def close(self) -> None:
        """Stop the threads: work still queued is dropped, running work ends on its own (the
        next work starts new threads)."""
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None
