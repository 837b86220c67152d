"""The Grafana dashboard and the alert rules name metrics the daemon really exports.

Every PromQL expression of deploy/ is parsed (promql-parser, and Prometheus' own parser
through promtool) and each metric it selects is looked up in a real scrape of a daemon that
polled the simulator and delivered a transition. Names the contract announces but the
daemon does not export yet (SPEC §9) are listed in COMING; anything else unknown fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import promql_parser
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy_tools import DEPLOY, run, tool
from tests.harness import DaemonProcess, Receiver, Sim, free_port, wait_baseline, write_config

DASHBOARD = DEPLOY / "grafana" / "llamacloud-notifier.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"

# Named by SPEC §9 and being added by another branch; drop a name here once it is exported.
COMING = {
    "notifier_last_successful_poll_timestamp_seconds",
    "notifier_outbox_oldest_pending_age_seconds",
    "notifier_build_info",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
}
# Series Prometheus makes itself for every target it scrapes.
FROM_PROMETHEUS = {"up"}
# What Grafana puts in place of its variables before a query is sent.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$instance": ".+",
    "$source": ".+",
    "$channel": ".+",
}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def as_prometheus_sees_it(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def dashboard_queries() -> dict[str, str]:
    """Every query of the dashboard, panel targets and variables, keyed by where it is."""
    queries = {
        f"panel {p['title']!r} {t['refId']}": as_prometheus_sees_it(t["expr"])
        for p in panels()
        for t in p.get("targets", [])
    }
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
            assert found, variable["query"]
            queries[f"variable {variable['name']}"] = as_prometheus_sees_it(found.group(1))
    return queries


def alert_queries() -> dict[str, str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return {f"alert {r['alert']}": r["expr"] for g in rules["groups"] for r in g["rules"]}


def selected_metrics(node: Any) -> Iterator[str]:
    """The metric names an expression selects, walked through promql-parser's tree."""
    if isinstance(node, promql_parser.VectorSelector):
        names = [m.value for m in node.matchers.matchers if m.name == "__name__"]
        assert node.name or names, f"a selector without a metric name: {node}"
        yield from [node.name] if node.name else names
        return
    if isinstance(node, promql_parser.MatrixSelector):
        yield from selected_metrics(node.vector_selector)
        return
    for child in ("expr", "lhs", "rhs", "param"):
        if isinstance(getattr(node, child, None), promql_parser.Expr):
            yield from selected_metrics(getattr(node, child))
    for argument in getattr(node, "args", None) or []:
        yield from selected_metrics(argument)


def exported(text: str) -> set[str]:
    """Sample names of a scrape, with the series each declared family will have."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {sample.name for sample in family.samples}
        base = family.name
        names |= {base + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


async def scrape_a_working_daemon(tmp_path: Path, sim: Sim, receiver: Receiver) -> str:
    """/metrics of a daemon that polled the simulator and delivered a transition."""
    port = free_port()
    config = write_config(
        tmp_path / "notifier.yaml",
        sim.url,
        receiver.url,
        http={"enabled": True, "listen": f"127.0.0.1:{port}"},
    )
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        await wait_baseline(tmp_path / "notifier.db")
        job = await sim.create("extract_v2")
        await sim.set_status(job, "RUNNING")
        await receiver.wait_for(lambda: bool(receiver.transitions(job)))
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as answer,
        ):
            assert answer.status == 200
            return await answer.text()
    finally:
        assert await daemon.terminate() == 0, daemon.log_text()[-2000:]


async def test_every_metric_named_in_deploy_is_exported(
    tmp_path: Path, sim: Sim, receiver: Receiver
) -> None:
    """Alerts and dashboard select only metrics of a real scrape (or announced in SPEC §9)."""
    scrape = await scrape_a_working_daemon(tmp_path, sim, receiver)
    names = exported(scrape)
    assert {"notifier_polls_total", "notifier_deliveries_total", "notifier_outbox_rows"} <= names
    queries = {**alert_queries(), **dashboard_queries()}
    unknown = {
        where: sorted(
            set(selected_metrics(promql_parser.parse(expr))) - names - COMING - FROM_PROMETHEUS
        )
        for where, expr in queries.items()
    }
    assert {where: n for where, n in unknown.items() if n} == {}
    # The dashboard is one for all the metrics: each family of the daemon has a panel.
    shown = {
        m for e in dashboard_queries().values() for m in selected_metrics(promql_parser.parse(e))
    }
    families = {
        f.name
        for f in text_string_to_metric_families(scrape)
        if f.name.startswith("notifier_") and not f.name.endswith("_created")  # creation times
    }
    assert {f for f in families if not any(m.startswith(f) for m in shown)} == set()


def test_the_name_check_catches_a_misspelt_metric() -> None:
    """The walk finds selectors inside functions, aggregations and binary operators."""
    expr = 'sum by (a) (rate(notifier_pols_total{x="1"}[5m])) / on (a) count(up) > bool 2'
    assert set(selected_metrics(promql_parser.parse(expr))) == {"notifier_pols_total", "up"}


def test_dashboard_queries_pass_prometheus_own_parser(tmp_path: Path) -> None:
    """Each query, as Grafana sends it, is a valid expression to promtool (as a recording rule)."""
    queries = dashboard_queries()
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": e}
                    for i, e in enumerate(queries.values())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = run(tool("promtool"), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_dashboard_is_a_well_formed_grafana_dashboard() -> None:
    """What Grafana's import needs: uid, schema version, unique ids, a 24-column grid, sources."""
    board = dashboard()
    assert board["uid"] == "llamacloud-notifier" and board["schemaVersion"] >= 36
    assert board["title"] and board["time"] and "id" not in board  # id is the importer's to give
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids))
    occupied: set[tuple[int, int]] = set()
    for panel in panels():
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"{panel['title']!r} overlaps another panel"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["type"] in ("timeseries", "stat") and panel["title"] and panel["description"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])
    used = set(re.findall(r"\$(\w+)", DASHBOARD.read_text())) - {
        "__rate_interval",
        "__interval",
        "__all",
    }
    assert used <= set(variables), used - set(variables)
