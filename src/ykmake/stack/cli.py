"""``ykmake stack``: run Prometheus + Alertmanager (+ Grafana) on loopback, and check deploy/."""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from ykmake.errors import SettingsError
from ykmake.settings import Settings, load_settings
from ykmake.stack.binaries import find_binary, which_binary
from ykmake.stack.checks import run_checks
from ykmake.stack.errors import StackError
from ykmake.stack.generate import stale_generated, write_generated
from ykmake.stack.processes import RunningService, ServiceSpec, log_tail, running_services
from ykmake.stack.render import (
    RenderedStack,
    RenderOptions,
    StackPorts,
    StackSecrets,
    default_deploy_dir,
    render_stack,
)
from ykmake.stack.services import (
    alertmanager_service,
    grafana_service,
    node_exporter_service,
    prometheus_service,
)

__all__ = ["stack_app"]

stack_app = typer.Typer(
    name="stack",
    help="Run the Prometheus/Alertmanager/Grafana stack on loopback and check deploy/.",
    no_args_is_help=True,
)
# soft_wrap: paths in messages stay on one line, whatever the terminal's width.
_console = Console(soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True)

DeployDir = Annotated[
    Path | None,
    typer.Option("--deploy-dir", help="The deploy/ directory (default: the checkout's)."),
]


def _settings(ctx: typer.Context) -> Settings:
    found = ctx.find_object(Settings)
    return found if found is not None else load_settings()


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _optional(tool: str, wanted: bool | None) -> Path | None:
    # None means "if installed"; True insists, so a missing binary is an error then.
    if wanted is False:
        return None
    return find_binary(tool) if wanted else which_binary(tool)


def _specs(
    rendered: RenderedStack, grafana: bool | None, node_exporter: Path | None
) -> list[ServiceSpec]:
    specs = []
    if node_exporter is not None:
        specs.append(node_exporter_service(rendered, node_exporter))
    specs.append(alertmanager_service(rendered, find_binary("alertmanager")))
    specs.append(prometheus_service(rendered, find_binary("prometheus")))
    grafana_binary = _optional("grafana", grafana)
    if grafana_binary is not None:
        specs.append(grafana_service(rendered, grafana_binary))
    return specs


def _print_urls(rendered: RenderedStack, services: list[RunningService]) -> None:
    table = Table(title="YkMake monitoring stack", title_justify="left")
    table.add_column("service")
    table.add_column("URL")
    table.add_column("pid", justify="right")
    for service in services:
        table.add_row(service.spec.name, rendered.url(service.spec.name), str(service.process.pid))
    table.add_row("app (scraped)", f"{rendered.url('app')}/metrics", "-")
    _console.print(table)
    _console.print(f"configs and data under [bold]{rendered.data_dir}[/]; Ctrl-C stops everything.")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _watch(services: list[RunningService]) -> int:
    """Block until Ctrl-C (or SIGTERM): 0; or until a process dies on its own: 1."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while True:
            for service in services:
                code = service.process.poll()
                if code is not None:
                    _err.print(f"[red]{service.spec.name} exited with code {code}[/]")
                    _err.print(log_tail(service.spec.log_path), markup=False)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        _console.print("stopping…")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


@stack_app.command()
def up(
    ctx: typer.Context,
    data_dir: Annotated[Path, typer.Option(help="Configs, secrets and TSDB data.")] = Path(
        ".ykmake/stack"
    ),
    deploy_dir: DeployDir = None,
    prometheus_port: int = 9090,
    alertmanager_port: int = 9093,
    grafana_port: int = 3001,
    node_exporter_port: int = 9100,
    app_port: Annotated[int, typer.Option(help="Where `ykmake serve` listens.")] = 8000,
    grafana: Annotated[
        bool | None,
        typer.Option("--grafana/--no-grafana", help="Default: if grafana-server is on PATH."),
    ] = None,
    node_exporter: Annotated[
        bool | None,
        typer.Option("--node-exporter/--no-node-exporter", help="Default: if it is on PATH."),
    ] = None,
    ready_timeout: Annotated[float, typer.Option(help="Seconds each process may take.")] = 60.0,
) -> None:
    """Start Prometheus and Alertmanager (and Grafana, node-exporter) on 127.0.0.1."""
    try:
        settings = _settings(ctx)
        node_binary = _optional("node-exporter", node_exporter)
        rendered = render_stack(
            data_dir,
            deploy_dir=deploy_dir or default_deploy_dir(),
            ports=StackPorts(
                prometheus_port, alertmanager_port, grafana_port, node_exporter_port, app_port
            ),
            secrets=StackSecrets(
                _secret(settings.metrics_token),
                _secret(settings.alertmanager_webhook_token),
                _secret(settings.slack_webhook_url),
            ),
            options=RenderOptions(node_exporter=node_binary is not None),
        )
        specs = _specs(rendered, grafana, node_binary)
        with running_services(specs, ready_timeout=ready_timeout) as services:
            _print_urls(rendered, services)
            code = _watch(services)
    except (StackError, SettingsError) as exc:
        _err.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:  # Ctrl-C while starting: the context manager has stopped them
        _console.print("stopped.")
        raise typer.Exit(0) from None
    _console.print("stopped.")
    raise typer.Exit(code)


@stack_app.command()
def check(deploy_dir: DeployDir = None) -> None:
    """Run promtool check config/rules, promtool test rules and amtool check-config."""
    directory = (deploy_dir or default_deploy_dir()).resolve()
    try:
        with tempfile.TemporaryDirectory(prefix="ykmake-check-") as work:
            results = run_checks(directory, Path(work))
    except StackError as exc:
        _err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    for result in results:
        mark = "[green]ok[/]  " if result.ok else "[red]FAIL[/]"
        _console.print(f"{mark} {result.name}", highlight=False)
        if not result.ok:
            _console.print(result.output, markup=False, highlight=False)
    raise typer.Exit(0 if all(r.ok for r in results) else 1)


@stack_app.command()
def rules(
    deploy_dir: DeployDir = None,
    check_only: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 1 if the files are stale.")
    ] = False,
) -> None:
    """Regenerate the Prometheus rules and SLO rule tests from deploy/slo.yml."""
    directory = deploy_dir or default_deploy_dir()
    try:
        if check_only:
            stale = stale_generated(directory)
            for path in stale:
                _err.print(f"stale: {directory / path}", highlight=False)
            raise typer.Exit(1 if stale else 0)
        for written in write_generated(directory):
            _console.print(f"wrote {written}", highlight=False)
    except StackError as exc:
        _err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
