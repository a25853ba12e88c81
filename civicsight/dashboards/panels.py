"""Panel shapes the dashboards share, on the SDK's typed builders: every panel gets its
options set (a panel without them does not survive the SDK's own JSON round trip)."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import heatmap, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DataSourceRef, DataTransformerConfig

Query = cogbuilder.Builder[cogvariants.Dataquery]


def legend() -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def tooltip() -> cb.VizTooltipOptions:
    return (
        cb.VizTooltipOptions()
        .mode(common.TooltipDisplayMode.MULTI)
        .sort(common.SortOrder.DESCENDING)
    )


def series(
    title: str,
    source: DataSourceRef,
    queries: Sequence[Query],
    unit: str,
    description: str,
    *,
    bars: bool = False,
    width: int = 12,
) -> timeseries.Panel:
    """A time series panel (lines, or bars for 15-minute bins)."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(source)
        .targets(list(queries))
        .unit(unit)
        .legend(legend())
        .tooltip(tooltip())
        .span(width)
        .height(8)
    )
    if bars:
        return panel.draw_style(common.GraphDrawStyle.BARS).fill_opacity(80)
    return panel.draw_style(common.GraphDrawStyle.LINE).line_width(1).fill_opacity(10)


def heat(
    title: str, source: DataSourceRef, query: Query, unit: str, description: str
) -> heatmap.Panel:
    """A heatmap of a Prometheus histogram's buckets (already bucketed: no calculation)."""
    return (
        heatmap.Panel()
        .title(title)
        .description(description)
        .datasource(source)
        .with_target(query)
        .calculate(False)
        .y_axis(heatmap.YAxisConfig().unit(unit))
        .color(heatmap.HeatmapColorOptions().scheme("Oranges").steps(64))
        .show_legend()
        .hide_from(cb.HideSeriesConfig().legend(False).tooltip(False).viz(False))
        .span(12)
        .height(8)
    )


def rows(
    title: str,
    source: DataSourceRef,
    query: Query,
    description: str,
    transformations: list[DataTransformerConfig] | None = None,
    width: int = 12,
) -> table.Panel:
    """A table of rows, as they come or transformed."""
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(source)
        .with_target(query)
        .transformations(transformations or [])
        .show_header(True)
        .span(width)
        .height(9)
    )


def single(
    title: str, source: DataSourceRef, query: Query, unit: str, description: str, width: int
) -> stat.Panel:
    """One value per series (health)."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(source)
        .with_target(query)
        .unit(unit)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .span(width)
        .height(4)
    )


def transform(id_: str, options: dict[str, object]) -> DataTransformerConfig:
    return DataTransformerConfig(id_val=id_, options=options)
