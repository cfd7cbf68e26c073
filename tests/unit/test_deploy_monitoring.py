"""The monitoring files in deploy/ cannot run here, so they are held to the code: every
series the Grafana dashboard queries is one vodstack exports, and Prometheus scrapes the
ports the compose file opens."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import vodstack.metrics  # noqa: F401  (registers every metric)
from vodstack.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def exported_series() -> set[str]:
    return {sample.name for metric in REGISTRY.collect() for sample in metric.samples} | {
        metric.name for metric in REGISTRY.collect()
    }


def test_every_series_on_the_dashboard_is_exported() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "vodstack.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(queries) >= 15
    used = {name for query in queries for name in re.findall(r"\bvodstack_\w+", query)}
    # Histograms and counters without observations still export their series names in
    # the registry's description of them.
    exported = exported_series()
    for metric in REGISTRY.collect():
        if metric.name.startswith("vodstack_"):
            kind = metric.type
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
            exported |= {metric.name + s for s in suffixes.get(kind, [""])}
    assert used, "the dashboard queries no vodstack series"
    assert not used - exported, f"not exported: {sorted(used - exported)}"


def test_prometheus_scrapes_the_ports_the_services_listen_on() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = {
        target
        for job in scrape["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    services = compose["services"]
    for target in targets:
        name, port = target.split(":")
        command = services[name]["command"]
        listens = command[command.index("--port") + 1] if "--port" in command else None
        metrics = (
            command[command.index("--metrics-port") + 1] if "--metrics-port" in command else None
        )
        assert port in (listens, metrics), f"{target}: {name} runs {command}"
    workers = {name for name, s in services.items() if "worker" in s.get("command", [])}
    assert workers <= {t.split(":")[0] for t in targets}, "a worker is not scraped"


def test_only_nginx_and_storage_face_the_world() -> None:
    """The services' own ports (and with them /metrics) are reached on the inside only;
    what the compose file publishes beyond nginx and MinIO's API is for this machine."""
    services = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]
    public = {
        name: port
        for name, service in services.items()
        for port in service.get("ports", [])
        if not str(port).startswith("127.0.0.1:")
    }
    assert public == {"nginx": "8080:80", "minio": "9000:9000"}


def test_the_services_trust_nginx_and_only_it() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    nginx = compose["services"]["nginx"]["networks"]["default"]["ipv4_address"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(nginx) in ipaddress.ip_network(subnet)
    trusted = compose["x-vodstack"]["environment"]["VODSTACK_TRUSTED_PROXIES"]
    assert trusted == nginx
    assert Settings(trusted_proxies=trusted, _env_file=None).trusted_proxies == nginx
