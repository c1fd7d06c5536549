"""Start stack processes, wait until they answer, and always stop them."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from ykmake.stack.errors import ServiceStartError

__all__ = [
    "RunningService",
    "ServiceSpec",
    "log_tail",
    "running_services",
    "start_service",
    "stop_service",
    "wait_ready",
]

_TAIL_LINES = 15


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one process: its argv, the URL that answers 200 once it is ready, its log,
    and variables set in its environment on top of ours (file paths, never secrets: a secret
    goes in a 0600 file the process reads)."""

    name: str
    argv: tuple[str, ...]
    ready_url: str
    log_path: Path
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RunningService:
    """A started process and the spec it came from."""

    spec: ServiceSpec
    process: subprocess.Popen[bytes]


def log_tail(path: Path, lines: int = _TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' when there is none)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def start_service(spec: ServiceSpec) -> RunningService:
    """Start ``spec`` with its output appended to its log file.

    The process gets its own session, so a Ctrl-C in the terminal reaches only us and we stop
    the stack in order instead of every process racing to exit.
    """
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **dict(spec.env)} if spec.env else None
    with spec.log_path.open("ab") as log:
        process = subprocess.Popen(
            spec.argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return RunningService(spec, process)


def wait_ready(service: RunningService, *, timeout: float = 30.0, poll: float = 0.1) -> None:
    """Poll the service's ready URL until it answers 200, it exits, or ``timeout`` passes.

    Raises:
        ServiceStartError: the process exited first or the deadline passed (with its log's tail).
    """
    spec = service.spec
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while True:
            code = service.process.poll()
            if code is not None:
                msg = f"{spec.name} exited with code {code} before it was ready; {spec.log_path}:\n"
                raise ServiceStartError(msg + log_tail(spec.log_path))
            try:
                if client.get(spec.ready_url).status_code == httpx.codes.OK:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() >= deadline:
                msg = (
                    f"{spec.name} did not answer {spec.ready_url} within {timeout:g}s; "
                    f"{spec.log_path}:\n"
                )
                raise ServiceStartError(msg + log_tail(spec.log_path))
            time.sleep(poll)


def stop_service(service: RunningService, *, timeout: float = 10.0) -> int:
    """Stop the process: SIGTERM, then SIGKILL once ``timeout`` passes. Returns its exit code."""
    process = service.process
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


@contextmanager
def running_services(
    specs: Sequence[ServiceSpec], *, ready_timeout: float = 30.0
) -> Iterator[list[RunningService]]:
    """Start each spec in order and wait until it is ready; stop them all (reversed) on exit.

    Raises:
        ServiceStartError: a process exited or did not get ready; those already started are stopped.
    """
    with ExitStack() as stack:
        services: list[RunningService] = []
        for spec in specs:
            service = start_service(spec)
            stack.callback(stop_service, service)
            wait_ready(service, timeout=ready_timeout)
            services.append(service)
        yield services
