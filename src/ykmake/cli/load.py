"""``ykmake load``: bounded traffic against a YkMake service on loopback, then a summary.

The plan, its bounds and the run are in :mod:`ykmake.cli.load_engine`; this module is the
command: it checks that something answers, shows a progress bar on stderr while the run goes,
and prints the summary on stdout (it can be piped or saved).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ykmake.cli._shared import console, err_console, fail
from ykmake.cli.load_engine import (
    MAX_CONCURRENCY,
    MAX_DURATION_SECONDS,
    MAX_RATE,
    MAX_REQUESTS,
    MAX_SLOW_MS,
)

if TYPE_CHECKING:
    from rich.table import Table

    from ykmake.cli.load_engine import LoadPlan, LoadStats

__all__ = ["load_command", "summary_tables"]


def _status_order(item: tuple[int | str, int]) -> tuple[bool, str]:
    return isinstance(item[0], str), str(item[0])


def summary_tables(stats: LoadStats) -> tuple[Table, Table]:
    """Requests by status, and latency percentiles with the throughput."""
    from rich.table import Table

    by_status = Table(title="Requests by status", title_justify="left")
    by_status.add_column("status")
    by_status.add_column("requests", justify="right")
    by_status.add_column("share", justify="right")
    # Status codes in order, then transport errors (refused, timed out) by name.
    for outcome, count in sorted(stats.outcomes.items(), key=_status_order):
        by_status.add_row(str(outcome), str(count), f"{count / stats.sent:.1%}")
    latency = Table(title="Latency (answered requests)", title_justify="left")
    for name in ("p50", "p95", "p99", "max", "req/s"):
        latency.add_column(name, justify="right")
    cells = [stats.percentile(p) for p in (50, 95, 99, 100)]
    latency.add_row(
        *("-" if c is None else f"{c * 1000:.1f} ms" for c in cells), f"{stats.per_second:.1f}"
    )
    return by_status, latency


def _probe(plan: LoadPlan) -> str | None:
    """Why the run cannot start (nothing listening, no debug routes), or None."""
    import httpx

    try:
        with httpx.Client(base_url=plan.url, timeout=5.0) as client:
            client.get("/health")
            if plan.error_rate or plan.slow_rate:
                debug = client.get("/api/debug/slow", params={"ms": 0})
                if debug.status_code == httpx.codes.NOT_FOUND:
                    return (
                        f"{plan.url} has no /api/debug routes (YKMAKE_ENV=production?); "
                        "run without --error-rate and --slow-rate"
                    )
    except httpx.TransportError as exc:
        return f"nothing answers at {plan.url} ({type(exc).__name__}); start it with `ykmake serve`"
    return None


def _run_with_progress(plan: LoadPlan) -> tuple[LoadStats, bool]:
    """Run ``plan`` under a progress bar; the figures, and whether Ctrl-C cut it short."""
    import asyncio

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from ykmake.cli.load_engine import LoadStats, run_load

    stats = LoadStats()
    with Progress(
        SpinnerColumn(),
        TextColumn(f"[bold]{plan.url}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[server_errors]} 5xx[/]"),
        TimeElapsedColumn(),
        TextColumn(f"of {plan.duration:g}s max"),
        console=err_console,
    ) as progress:
        task = progress.add_task("load", total=plan.requests, server_errors=0)

        def advance(outcome: int | str) -> None:
            progress.update(task, advance=1, server_errors=stats.server_errors)

        try:
            asyncio.run(run_load(plan, stats=stats, on_result=advance))
        except KeyboardInterrupt:
            return stats, True
    return stats, False


def load_command(
    url: Annotated[
        str, typer.Option(metavar="URL", help="Origin of the service; loopback only.")
    ] = "http://127.0.0.1:8000",
    requests: Annotated[
        int,
        typer.Option("--requests", "-n", metavar="N", help=f"Requests to send (1-{MAX_REQUESTS})."),
    ] = 1000,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", "-c", metavar="N", help=f"Requests in flight (1-{MAX_CONCURRENCY})."
        ),
    ] = 10,
    duration: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help=f"Stop after this many seconds (at most {MAX_DURATION_SECONDS:g}).",
        ),
    ] = 60.0,
    rate: Annotated[
        float | None,
        typer.Option(
            metavar="PER_SECOND",
            help=f"Requests per second (default: as fast as answered; at most {MAX_RATE:g}).",
        ),
    ] = None,
    error_rate: Annotated[
        float,
        typer.Option(metavar="SHARE", help="Share of requests to /api/debug/error (a 500), 0-1."),
    ] = 0.0,
    slow_rate: Annotated[
        float, typer.Option(metavar="SHARE", help="Share of requests to /api/debug/slow, 0-1.")
    ] = 0.0,
    slow_ms: Annotated[
        int,
        typer.Option(
            metavar="MS", help=f"How long a slow request takes (ms, at most {MAX_SLOW_MS})."
        ),
    ] = 600,
    token: Annotated[
        str | None,
        typer.Option(
            metavar="TOKEN",
            help="API token (`ykmake users create`): adds /api/me and POST /api/products.",
        ),
    ] = None,
) -> None:
    """Send bounded traffic (errors and slow requests mixed in) to a service on loopback."""
    from ykmake.cli.load_engine import LoadError, LoadPlan

    try:
        plan = LoadPlan(
            url=url,
            requests=requests,
            concurrency=concurrency,
            duration=duration,
            rate=rate,
            error_rate=error_rate,
            slow_rate=slow_rate,
            slow_ms=slow_ms,
            token=token,
        )
    except LoadError as exc:
        fail(str(exc))
    problem = _probe(plan)
    if problem is not None:
        fail(problem, 1)
    stats, interrupted = _run_with_progress(plan)
    console.print(
        f"{stats.sent} requests to {plan.url} in {stats.elapsed:.1f}s"
        f"{' (interrupted)' if interrupted else ''}",
        highlight=False,
    )
    for table in summary_tables(stats):
        console.print(table)
    raise typer.Exit(130 if interrupted else 0)
