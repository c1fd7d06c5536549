"""Small builders over grafana-foundation-sdk, so each panel of a dashboard reads in a few lines."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    FieldColorModeId,
    GridPos,
    Threshold,
    ThresholdsMode,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

__all__ = [
    "DATASOURCE",
    "INSTANCE",
    "Step",
    "query",
    "stat_panel",
    "table_panel",
    "thresholds",
    "timeseries_panel",
]

# The seed's dashboard and our datasource provisioning agree on this uid.
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
# Every panel on the app's own series filters by the dashboard's variables.
INSTANCE = 'job="$job", instance=~"$instance"'

Step = tuple[float | None, str]  # (from value, colour); None is the base step


def query(
    expr: str, legend: str = "", *, ref: str = "A", instant: bool = False
) -> prometheus.Dataquery:
    """A Prometheus query on the provisioned datasource."""
    built = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        built = built.legend_format(legend)
    if instant:
        built = built.instant().format(PromQueryFormat.TABLE)
    return built


def thresholds(*steps: Step) -> dashboard_builders.ThresholdsConfig:
    """Absolute thresholds, e.g. ``thresholds((None, "green"), (500, "orange"))``."""
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=v, color=c) for v, c in steps])
    )


def _grid(width: int, height: int) -> GridPos:
    return GridPos(h=height, w=width)


def timeseries_panel(
    panel_id: int,
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    steps: Sequence[Step] = ((None, "green"),),
    width: int = 12,
    height: int = 8,
    axis_label: str = "",
    threshold_lines: bool = False,
) -> timeseries.Panel:
    """A line chart with a table legend (last, mean, max), as the seed's panels have."""
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .grid_pos(_grid(width, height))
        .targets(list(targets))
        .thresholds(thresholds(*steps))
        .fill_opacity(10)
        .gradient_mode(common.GraphGradientMode.OPACITY)
        .line_width(1)
        .show_points(common.VisibilityMode.AUTO)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "mean", "max"])
        )
        .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI))
    )
    if axis_label:
        panel = panel.axis_label(axis_label)
    if threshold_lines:
        style = common_builders.GraphThresholdsStyleConfig().mode(
            common.GraphTresholdsStyleMode.LINE  # sic: the SDK spells it so
        )
        panel = panel.thresholds_style(style)
    return panel


def stat_panel(
    panel_id: int,
    title: str,
    description: str,
    unit: str,
    target: prometheus.Dataquery,
    *,
    steps: Sequence[Step] = ((None, "green"),),
    width: int = 6,
    height: int = 8,
) -> stat.Panel:
    """A single big number, coloured by its thresholds, with a sparkline."""
    return (
        stat.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .grid_pos(_grid(width, height))
        .with_target(target)
        .thresholds(thresholds(*steps))
        .color_scheme(dashboard_builders.FieldColor().mode(FieldColorModeId.THRESHOLDS))
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
    )


def table_panel(
    panel_id: int, title: str, description: str, target: prometheus.Dataquery, *, height: int = 8
) -> table.Panel:
    """A full-width table of an instant query."""
    return (
        table.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .grid_pos(_grid(24, height))
        .with_target(target)
    )
