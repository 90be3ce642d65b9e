"""Generate the Grafana dashboard of a generated service with the Grafana Foundation SDK.

The output is committed as template/deploy/helm/{{service_name}}/dashboards/{{service_name}}.json.jinja:
copier renders it into the generated chart (deploy/helm/<name>/dashboards/<name>.json), which is both the
repository's dashboard file and what the chart's templates/dashboard-configmap.yaml embeds with
.Files.Get. Only the title and uid carry the service name; every query selects the service with the
dashboard variables ($datasource, $namespace, $job, $pod), so the JSON works for any release.

Regenerate after changing this file (tests/test_dashboard.py fails when the committed file drifts):

    .venv/bin/python scripts/gen_dashboard.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import heatmap, stat, timeseries
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import heatmap as hm
from grafana_foundation_sdk.models import prometheus as pm

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "template" / "deploy" / "helm" / "{{service_name}}" / "dashboards" / "{{service_name}}.json.jinja"

#: Placeholders the copier template replaces with the service name (Grafana uids are at most 40 characters).
NAME, UID = "__GOSMITH_SERVICE_NAME__", "__GOSMITH_SERVICE_UID__"

PROMETHEUS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
#: The service's own series (the Prometheus Operator names the job after the metrics Service).
SEL = 'job="$job", namespace="$namespace"'
#: cAdvisor series of the service's pods (every container of the pod, without the pause container).
POD = 'namespace="$namespace", pod=~"$pod", container!="", container!="POD"'
RATE = "[$__rate_interval]"
#: Explore link of a trace in the tracing data source (the exemplar's trace_id field).
TRACE_URL = ('/explore?left={"datasource":"${tracing}","queries":[{"refId":"A","queryType":"traceql",'
             '"query":"${__data.fields.trace_id}"}]}')


def trace_link() -> db.DashboardLink:
    return db.DashboardLink("Trace ${__data.fields.trace_id} in ${tracing}").url(TRACE_URL).target_blank(True)


def query(expr: str, legend: str = "", *, ref: str = "A", exemplar: bool = False, instant: bool = False,
          fmt: pm.PromQueryFormat | None = None) -> prom.Dataquery:
    q = prom.Dataquery().expr(expr).ref_id(ref).datasource(PROMETHEUS).legend_format(legend or "__auto")
    if exemplar:
        q = q.exemplar(True)
    if instant:
        q = q.instant()
    if fmt is not None:
        q = q.format(fmt)
    return q


def series(title: str, description: str, unit: str, *targets: prom.Dataquery, w: int = 8, h: int = 8,
           trace_links: bool = False) -> timeseries.Panel:
    p = (timeseries.Panel().title(title).description(description).datasource(PROMETHEUS).unit(unit)
         .height(h).span(w).fill_opacity(10).line_width(1).show_points(cm.VisibilityMode.NEVER)
         .legend(cb.VizLegendOptions().display_mode(cm.LegendDisplayMode.TABLE)
                 .placement(cm.LegendPlacement.BOTTOM).show_legend(True).calcs(["mean", "max", "lastNotNull"]))
         .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING)))
    if trace_links:
        p = p.data_links([trace_link()])
    for t in targets:
        p = p.with_target(t)
    return p


def single(title: str, description: str, unit: str, target: prom.Dataquery, *, w: int = 4,
           mappings: list[dm.ValueMapping] | None = None, text_mode: cm.BigValueTextMode | None = None) -> stat.Panel:
    p = (stat.Panel().title(title).description(description).datasource(PROMETHEUS).unit(unit).height(4).span(w)
         .graph_mode(cm.BigValueGraphMode.NONE).color_mode(cm.BigValueColorMode.NONE)
         .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
         .with_target(target))
    if mappings:
        p = p.mappings(mappings)
    if text_mode is not None:
        p = p.text_mode(text_mode)
    return p


def none_when(value: str, text: str) -> dm.ValueMap:
    return dm.ValueMap(options={value: dm.ValueMappingResult(text=text, index=0)})


def variables() -> list[db.QueryVariable | db.DatasourceVariable]:
    def labels(name: str, label: str, q: str, description: str) -> db.QueryVariable:
        return (db.QueryVariable(name).label(label).description(description).datasource(PROMETHEUS)
                .query(q)
                .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dm.VariableSort.ALPHABETICAL_ASC))

    return [
        db.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        .description("Prometheus that scrapes the service (the ServiceMonitor's target)."),
        db.DatasourceVariable("tracing").label("Traces").type("tempo")
        .description("Tracing data source the exemplars' trace_id links open."),
        labels("namespace", "Namespace", "label_values(app_build_info, namespace)",
               "Namespace of the release."),
        labels("job", "Service", 'label_values(app_build_info{namespace="$namespace"}, job)',
               "Scrape job of the service: the name of its metrics Service (the release's full name)."),
        labels("pod", "Pod", 'label_values(app_build_info{job="$job", namespace="$namespace"}, pod)',
               "Pods of the service (cAdvisor panels).").multi(True).include_all(True).all_value(".+"),
    ]


def build() -> dict[str, object]:
    red = [
        series("Request rate by route", "Business requests per second, by method and route pattern.", "reqps",
               query(f"sum by (method, route) (rate(http_server_requests_total{{{SEL}}}{RATE}))",
                     "{{method}} {{route}}")),
        series("Error ratio by route (5xx)", "Share of requests answered with a 5xx, by route: the availability "
               "SLI of the SLO alerts (a request cut at the handler deadline is a 503).", "percentunit",
               query(f'sum by (method, route) (rate(http_server_requests_total{{{SEL}, code=~"5.."}}{RATE}))'
                     f" / sum by (method, route) (rate(http_server_requests_total{{{SEL}}}{RATE}))",
                     "{{method}} {{route}}")),
        series("Responses by status code", "Requests per second by status code.", "reqps",
               query(f"sum by (code) (rate(http_server_requests_total{{{SEL}}}{RATE}))", "{{code}}")),
        series("Latency quantiles by route", "p50, p90 and p99 of http_server_request_duration_seconds by route. "
               "Exemplars (dots) carry the trace_id of a sampled request: they open the trace in the tracing "
               "data source.", "s",
               *(query(f"histogram_quantile({q}, sum by (le, method, route) "
                       f"(rate(http_server_request_duration_seconds_bucket{{{SEL}}}{RATE})))",
                       f"p{int(float(q) * 100)} {{{{method}}}} {{{{route}}}}", ref=ref, exemplar=True)
                 for ref, q in (("A", "0.5"), ("B", "0.9"), ("C", "0.99"))),
               w=12, h=9, trace_links=True),
        heatmap.Panel().title("Latency heatmap").description(
            "Requests per histogram bucket of http_server_request_duration_seconds over time; exemplars link "
            "to traces.").datasource(PROMETHEUS).height(9).span(12)
        .with_target(query(f"sum by (le) (rate(http_server_request_duration_seconds_bucket{{{SEL}}}{RATE}))",
                           "{{le}}", exemplar=True, fmt=pm.PromQueryFormat.HEATMAP))
        .calculate(False).y_axis(heatmap.YAxisConfig().unit("s"))
        .cell_values(heatmap.CellValues().unit("reqps"))
        .color(heatmap.HeatmapColorOptions().mode(hm.HeatmapColorMode.SCHEME).scheme("Spectral")
               .fill("dark-orange").scale(hm.HeatmapColorScale.EXPONENTIAL).exponent(0.5).steps(64))
        .show_tooltip().show_legend()
        .exemplars_color("rgba(255,0,255,0.7)")
        .data_links([trace_link()]),
        series("Requests in flight", "Business requests being served right now, per instance.", "short",
               query(f"sum by (instance) (http_server_requests_in_flight{{{SEL}}})", "{{instance}}"), w=24, h=6),
    ]
    limits = [
        single("GOMAXPROCS", "Effective GOMAXPROCS and its source: cgroup (from the CPU limit), env or default.",
               "short", query(f"max by (source) (app_runtime_gomaxprocs{{{SEL}}})", "{{source}}", instant=True),
               text_mode=cm.BigValueTextMode.VALUE_AND_NAME),
        single("GOMEMLIMIT", "Effective GOMEMLIMIT and its source: cgroup (from the memory limit), env or default.",
               "bytes", query(f"max by (source) (app_runtime_gomemlimit_bytes{{{SEL}}})", "{{source}}",
                              instant=True),
               mappings=[none_when("9223372036854775807", "none")], text_mode=cm.BigValueTextMode.VALUE_AND_NAME),
        single("CPU limit (cgroup)", "CPU limit the service read from its cgroup, in cores.", "short",
               query(f"max(app_cgroup_cpu_limit_cores{{{SEL}}})", instant=True),
               mappings=[none_when("0", "no limit")]),
        single("Memory limit (cgroup)", "Memory limit the service read from its cgroup.", "bytes",
               query(f"max(app_cgroup_memory_limit_bytes{{{SEL}}})", instant=True),
               mappings=[none_when("0", "no limit")]),
        single("Build", "Version, commit and Go version of the running binaries (app_build_info), with the number "
               "of instances running each.", "short",
               query(f"count by (version, commit, goversion) (app_build_info{{{SEL}}})",
                     "{{version}} ({{commit}}, {{goversion}})", instant=True),
               w=8, text_mode=cm.BigValueTextMode.VALUE_AND_NAME),
    ]
    runtime = [
        series("CPU usage vs limit", "CPU used per instance against the cgroup CPU limit and GOMAXPROCS.", "short",
               query(f"rate(process_cpu_seconds_total{{{SEL}}}{RATE})", "used {{instance}}"),
               query(f"app_cgroup_cpu_limit_cores{{{SEL}}}", "cgroup limit {{instance}}", ref="B"),
               query(f"app_runtime_gomaxprocs{{{SEL}}}", "GOMAXPROCS {{instance}}", ref="C")),
        series("CPU throttling (cAdvisor)", "Share of CFS periods in which the container was throttled "
               "(container_cpu_cfs_throttled_periods_total / container_cpu_cfs_periods_total, from the kubelet's "
               "cAdvisor): the CPUThrottled alert's ratio.", "percentunit",
               query(f"sum by (pod, container) (rate(container_cpu_cfs_throttled_periods_total{{{POD}}}{RATE}))"
                     f" / sum by (pod, container) (rate(container_cpu_cfs_periods_total{{{POD}}}{RATE}))",
                     "{{pod}}/{{container}}")),
        series("Memory vs GOMEMLIMIT", "Memory the Go runtime counts against its soft limit (sys - released) as "
               "a share of GOMEMLIMIT: the MemoryNearGOMEMLIMIT alert's ratio.", "percentunit",
               query(f"(go_memstats_sys_bytes{{{SEL}}} - go_memstats_heap_released_bytes{{{SEL}}})"
                     f" / ignoring (source) app_runtime_gomemlimit_bytes{{{SEL}}}", "{{instance}}")),
        series("Memory", "Resident memory, Go runtime memory (sys - released) and heap in use per instance.",
               "bytes",
               query(f"process_resident_memory_bytes{{{SEL}}}", "RSS {{instance}}"),
               query(f"go_memstats_sys_bytes{{{SEL}}} - go_memstats_heap_released_bytes{{{SEL}}}",
                     "Go runtime {{instance}}", ref="B"),
               query(f"go_memstats_heap_inuse_bytes{{{SEL}}}", "heap in use {{instance}}", ref="C")),
        series("Heap and GC target", "Live heap against the heap size at which the next GC starts.", "bytes",
               query(f"go_memstats_heap_alloc_bytes{{{SEL}}}", "heap alloc {{instance}}"),
               query(f"go_memstats_next_gc_bytes{{{SEL}}}", "next GC {{instance}}", ref="B")),
        series("GC", "Garbage collections per second and the share of time spent in stop-the-world pauses.",
               "short",
               query(f"rate(go_gc_duration_seconds_count{{{SEL}}}{RATE})", "GCs/s {{instance}}"),
               query(f"rate(go_gc_duration_seconds_sum{{{SEL}}}{RATE})", "pause share {{instance}}", ref="B")),
        series("Goroutines and threads", "Goroutines and OS threads per instance.", "short",
               query(f"go_goroutines{{{SEL}}}", "goroutines {{instance}}"),
               query(f"go_threads{{{SEL}}}", "threads {{instance}}", ref="B")),
    ]
    d = (db.Dashboard(NAME).uid(UID).tags(["gosmith", "go"]).editable().time("now-1h", "now").refresh("30s")
         .timezone("browser").tooltip(dm.DashboardCursorSync.CROSSHAIR)
         .description("RED metrics by route, latency with exemplars, Go runtime limits, GC and heap, CPU throttling "
                      "and build info of a gosmith service. Generated by gosmith (scripts/gen_dashboard.py)."))
    for v in variables():
        d = d.with_variable(v)
    for title, panels in (("Requests (RED)", red), ("Runtime limits and build", limits),
                          ("Go runtime and container", runtime)):
        d = d.with_row(db.Row(title))
        for p in panels:
            d = d.with_panel(p)
    return json.loads(JSONEncoder(sort_keys=True, indent=2).encode(d.build()))


def render() -> str:
    """Return the copier template text: the dashboard JSON, raw except for the service name and uid."""
    text = json.dumps(build(), indent=2, sort_keys=True)
    assert "{% endraw %}" not in text
    text = text.replace(UID, "{% endraw %}{{ service_name[:40] }}{% raw %}")
    text = text.replace(NAME, "{% endraw %}{{ service_name }}{% raw %}")
    return ("{#- Generated by scripts/gen_dashboard.py (Grafana Foundation SDK): edit the script, not this file. -#}\n"
            "{% raw %}" + text + "\n{% endraw %}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help="file to write (default: the template's)")
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
