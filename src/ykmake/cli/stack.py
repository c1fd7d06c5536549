"""``ykmake stack``: run Prometheus + Alertmanager (+ Grafana) on loopback, and check deploy/.

``up`` starts the processes and watches them until Ctrl-C; ``check`` runs promtool and amtool
on deploy/; ``rules`` regenerates the rule files from deploy/slo.yml. Errors of the stack are
one line (plus a log tail when a process failed) and exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ykmake.cli._shared import cli_settings, command_group, console, counted, err_console, fail

if TYPE_CHECKING:
    from types import FrameType

    from pydantic import SecretStr

    from ykmake.settings import Settings
    from ykmake.stack.dependencies import Dependencies
    from ykmake.stack.processes import RunningService, ServiceSpec
    from ykmake.stack.render import RenderedStack

__all__ = ["stack_app"]

_T = TypeVar("_T")

stack_app = command_group(
    "Run the Prometheus/Alertmanager/Grafana stack on loopback and check deploy/.", name="stack"
)

DeployDir = Annotated[
    Path | None,
    typer.Option(
        "--deploy-dir", metavar="PATH", help="The deploy/ directory (default: the checkout's)."
    ),
]


def _port(service: str) -> Any:
    return typer.Option(min=1, max=65535, metavar="PORT", help=f"{service}'s port.")


def _settings(ctx: typer.Context) -> Settings:
    from ykmake.settings import Settings

    found = ctx.find_object(Settings)  # tests hand their own in
    return found if found is not None else cli_settings()


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _optional(tool: str, wanted: bool | None) -> Path | None:
    from ykmake.stack.binaries import find_binary, which_binary

    # None means "if installed"; True insists, so a missing binary is an error then.
    if wanted is False:
        return None
    return find_binary(tool) if wanted else which_binary(tool)


def _dependency(tool: str, target: _T | None, missing: str) -> tuple[_T | None, Path | None]:
    """``target`` and ``tool``'s binary when both are there; else (None, None) and a note."""
    from ykmake.stack.binaries import which_binary

    if target is None:
        console.print(f"{tool}: skipped, {missing}", highlight=False)
        return None, None
    binary = which_binary(tool)
    if binary is None:
        _note_missing(tool)
        return None, None
    return target, binary


def _note_missing(tool: str) -> None:
    from ykmake.stack.binaries import BINARIES

    console.print(f"{tool}: skipped, not installed ({BINARIES[tool].install})", highlight=False)


def _dependencies(settings: Settings) -> tuple[Dependencies, dict[str, Path]]:
    """What the postgres and redis exporters watch, from DATABASE_URL and REDIS_URL."""
    from ykmake.stack.dependencies import Dependencies, postgres_dependency, redis_dependency

    postgres, postgres_binary = _dependency(
        "postgres-exporter",
        postgres_dependency(settings.database_url),
        "DATABASE_URL is not PostgreSQL",
    )
    redis, redis_binary = _dependency(
        "redis-exporter", redis_dependency(settings.redis_url), "REDIS_URL is not set"
    )
    binaries = {"postgres-exporter": postgres_binary, "redis-exporter": redis_binary}
    return Dependencies(postgres, redis), {k: v for k, v in binaries.items() if v is not None}


def _exporter_specs(
    rendered: RenderedStack, dependencies: Dependencies, binaries: dict[str, Path]
) -> list[ServiceSpec]:
    from ykmake.stack.services import (
        node_exporter_service,
        postgres_exporter_service,
        redis_exporter_service,
    )

    specs = []
    if "node-exporter" in binaries:
        specs.append(node_exporter_service(rendered, binaries["node-exporter"]))
    if dependencies.postgres is not None:
        specs.append(postgres_exporter_service(rendered, binaries["postgres-exporter"]))
    if dependencies.redis is not None:
        specs.append(
            redis_exporter_service(rendered, binaries["redis-exporter"], dependencies.redis)
        )
    return specs


def _specs(
    rendered: RenderedStack,
    grafana: bool | None,
    dependencies: Dependencies,
    binaries: dict[str, Path],
) -> list[ServiceSpec]:
    from ykmake.stack.binaries import find_binary
    from ykmake.stack.services import alertmanager_service, grafana_service, prometheus_service

    specs = _exporter_specs(rendered, dependencies, binaries)
    specs.append(alertmanager_service(rendered, find_binary("alertmanager")))
    specs.append(prometheus_service(rendered, find_binary("prometheus")))
    grafana_binary = _optional("grafana", grafana)
    if grafana_binary is not None:
        specs.append(grafana_service(rendered, grafana_binary))
    return specs


def _print_urls(rendered: RenderedStack, services: list[RunningService]) -> None:
    from rich.table import Table

    table = Table(title="YkMake monitoring stack", title_justify="left")
    table.add_column("service")
    table.add_column("URL")
    table.add_column("pid", justify="right")
    for service in services:
        table.add_row(service.spec.name, rendered.url(service.spec.name), str(service.process.pid))
    table.add_row("app (scraped)", f"{rendered.url('app')}/metrics", "-")
    console.print(table)
    if rendered.public_url is not None:
        console.print(f"links in alerts point to [bold]{rendered.public_url}[/]", highlight=False)
    console.print(f"configs and data under [bold]{rendered.data_dir}[/]; Ctrl-C stops everything.")


# The first scrape of every target comes within one scrape interval (15 s) of the start.
FIRST_SCRAPES_SECONDS = 25.0


def _report_first_scrapes(rendered: RenderedStack) -> None:
    """Each target's health once Prometheus has scraped it, and what to change if it can't."""
    import httpx
    from rich.table import Table

    from ykmake.cli._terminal_text import plain
    from ykmake.stack.targets import first_scrapes

    try:
        targets = first_scrapes(rendered.url("prometheus"), timeout=FIRST_SCRAPES_SECONDS)
    except httpx.HTTPError as exc:
        console.print(plain(f"could not ask Prometheus for its targets: {exc}"))
        return
    table = Table(title="First scrapes", title_justify="left")
    for column in ("job", "target", "health", "error"):
        table.add_column(column)
    colours = {"up": "green", "down": "red"}
    for t in targets:
        health = plain(t.health, colours.get(t.health, "yellow"))
        table.add_row(plain(t.job), plain(t.instance), health, plain(t.error))
    console.print(table)
    for t in targets:
        if t.hint is not None:
            console.print(plain(f"{t.job}: {t.hint}", "yellow"))


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _watch(services: list[RunningService]) -> int:
    """Block until Ctrl-C (or SIGTERM): 0; or until a process dies on its own: 1."""
    import signal
    import time

    from ykmake.stack.processes import log_tail

    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while True:
            for service in services:
                code = service.process.poll()
                if code is not None:
                    err_console.print(f"[red]{service.spec.name} exited with code {code}[/]")
                    err_console.print(log_tail(service.spec.log_path), markup=False)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopping…")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


@stack_app.command()
def up(
    ctx: typer.Context,
    data_dir: Annotated[
        Path, typer.Option(metavar="PATH", help="Configs, secrets and TSDB data.")
    ] = Path(".ykmake/stack"),
    deploy_dir: DeployDir = None,
    prometheus_port: Annotated[int, _port("Prometheus")] = 9090,
    alertmanager_port: Annotated[int, _port("Alertmanager")] = 9093,
    grafana_port: Annotated[int, _port("Grafana")] = 3001,
    node_exporter_port: Annotated[int, _port("node-exporter")] = 9100,
    postgres_exporter_port: Annotated[int, _port("postgres-exporter")] = 9187,
    redis_exporter_port: Annotated[int, _port("redis-exporter")] = 9121,
    app_port: Annotated[
        int,
        typer.Option(min=1, max=65535, metavar="PORT", help="Where `ykmake serve` listens."),
    ] = 8000,
    public_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Where people reach the stack (a reverse proxy): links in alerts point to "
            "URL/prometheus and URL/alertmanager. Default: the loopback URLs.",
        ),
    ] = None,
    grafana: Annotated[
        bool | None,
        typer.Option("--grafana/--no-grafana", help="Default: if grafana-server is on PATH."),
    ] = None,
    node_exporter: Annotated[
        bool | None,
        typer.Option("--node-exporter/--no-node-exporter", help="Default: if it is on PATH."),
    ] = None,
    ready_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="How long each process may take to start.")
    ] = 60.0,
) -> None:
    """Start Prometheus and Alertmanager (and Grafana and the exporters) on 127.0.0.1.

    node-exporter runs when it is installed; postgres-exporter when DATABASE_URL is PostgreSQL
    and redis-exporter when REDIS_URL is set, each if installed (else a one-line note).
    """
    from ykmake.stack.errors import StackError
    from ykmake.stack.processes import running_services
    from ykmake.stack.render import (
        RenderOptions,
        StackPorts,
        StackSecrets,
        default_deploy_dir,
        render_stack,
    )

    settings = _settings(ctx)
    try:
        node_binary = _optional("node-exporter", node_exporter)
        if node_binary is None and node_exporter is None:
            _note_missing("node-exporter")
        dependencies, binaries = _dependencies(settings)
        if node_binary is not None:
            binaries["node-exporter"] = node_binary
        rendered = render_stack(
            data_dir,
            deploy_dir=deploy_dir or default_deploy_dir(),
            ports=StackPorts(
                prometheus_port,
                alertmanager_port,
                grafana_port,
                node_exporter_port,
                app_port,
                postgres_exporter_port,
                redis_exporter_port,
            ),
            secrets=StackSecrets(
                _secret(settings.metrics_token),
                _secret(settings.alertmanager_webhook_token),
                _secret(settings.slack_webhook_url),
            ),
            options=RenderOptions(node_exporter=node_binary is not None, public_url=public_url),
            dependencies=dependencies,
        )
        specs = _specs(rendered, grafana, dependencies, binaries)
        with running_services(specs, ready_timeout=ready_timeout) as services:
            _print_urls(rendered, services)
            _report_first_scrapes(rendered)
            code = _watch(services)
    except StackError as exc:
        fail(str(exc), 1)
    except KeyboardInterrupt:  # Ctrl-C while starting: the context manager has stopped them
        code = 0
    console.print("stopped.")
    raise typer.Exit(code)


@stack_app.command()
def check(deploy_dir: DeployDir = None) -> None:
    """Run promtool check config/rules, promtool test rules and amtool check-config."""
    import tempfile

    from ykmake.stack.checks import run_checks
    from ykmake.stack.errors import StackError
    from ykmake.stack.render import default_deploy_dir

    directory = (deploy_dir or default_deploy_dir()).resolve()
    try:
        with tempfile.TemporaryDirectory(prefix="ykmake-check-") as work:
            results = run_checks(directory, Path(work))
    except StackError as exc:
        fail(str(exc), 1)
    for result in results:
        mark = "[green]ok[/]  " if result.ok else "[red]FAIL[/]"
        console.print(f"{mark} {result.name}", highlight=False)
        if not result.ok:
            console.print(result.output, markup=False, highlight=False)
    passed = sum(r.ok for r in results)
    console.print(f"{passed} of {len(results)} checks passed", highlight=False)
    raise typer.Exit(0 if passed == len(results) else 1)


@stack_app.command()
def rules(
    deploy_dir: DeployDir = None,
    check_only: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 1 if the files are stale.")
    ] = False,
) -> None:
    """Regenerate the Prometheus rules and SLO rule tests from deploy/slo.yml."""
    from ykmake.stack.errors import StackError
    from ykmake.stack.generate import stale_generated, write_generated
    from ykmake.stack.render import default_deploy_dir

    directory = deploy_dir or default_deploy_dir()
    try:
        if check_only:
            stale = stale_generated(directory)
            for relative in stale:
                err_console.print(f"stale: {directory / relative}", highlight=False)
            if not stale:
                console.print(f"generated files in {directory} are up to date", highlight=False)
            raise typer.Exit(1 if stale else 0)
        written = write_generated(directory)
    except StackError as exc:
        fail(str(exc), 1)
    for path in written.changed:
        console.print(f"wrote {path}", highlight=False)
    if not written.changed:
        files = counted(len(written.unchanged), "generated file")
        console.print(f"unchanged: {files} in {directory}", highlight=False)
