"""End to end with a real Prometheus: the shipped config/prometheus.yml, its addresses and
targets rewritten to loopback, scrapes running tlsdiag daemons in both patterns (/metrics of
each daemon, sharded too, and /probe multi-target, spread by hashmod too), and the series
users alert on come out of Prometheus's query API for every configured target."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import yaml

from diagnostics.daemon.schedule import shard_of
from tests.support import monitoring, servers
from tests.support.monitoring import Daemon, Prometheus, alert_names, query
from tests.support.processes import wait_for

pytestmark = pytest.mark.skipif(
    monitoring.PROMETHEUS is None or servers.OPENSSL is None,
    reason="needs prometheus (Debian package prometheus)",
)

# The jobs config/prometheus.yml ships; the README explains each.
JOBS = ("tlsdiag", "tlsdiag-shards", "tlsdiag-probe", "tlsdiag-probe-hashmod")
ALERTED = ("probe_success", "probe_ssl_earliest_cert_expiry")


def shipped() -> dict[str, Any]:
    """config/prometheus.yml as the user gets it."""
    loaded: dict[str, Any] = yaml.safe_load((monitoring.SHIPPED / "prometheus.yml").read_text())
    return loaded


def is_probe_job(job: dict[str, Any]) -> bool:
    return bool(job.get("metrics_path") == "/probe")


def shards_wanted(config: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Every daemon address of the /metrics jobs, with the ``--shard`` its daemon needs: a job
    listing one daemon runs it whole, a job listing N runs shards 1/N … N/N."""
    wanted = []
    for job in config["scrape_configs"]:
        if is_probe_job(job):
            continue
        addresses = [a for static in job["static_configs"] for a in static["targets"]]
        for number, address in enumerate(addresses, 1):
            shard = f"{number}/{len(addresses)}" if len(addresses) > 1 else None
            wanted.append((address, shard))
    return wanted


def rewrite(config: dict[str, Any], address_of: dict[str, str], urls: list[str]) -> dict[str, Any]:
    """The shipped configuration on loopback: every daemon address replaced by a running
    daemon's, the /probe jobs' targets by ``urls``, scrapes every second; relabelling, params,
    paths and rule files stay as shipped."""
    config = copy.deepcopy(config)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(monitoring.SHIPPED / rule) for rule in config["rule_files"]]
    for job in config["scrape_configs"]:
        job.update(scrape_interval="1s", scrape_timeout="1s")
        if is_probe_job(job):
            job["static_configs"] = [{"targets": urls}]
            for rule in job["relabel_configs"]:
                if rule.get("target_label") == "__address__":
                    rule["replacement"] = address_of[rule["replacement"]]
        else:
            for static in job["static_configs"]:
                static["targets"] = [address_of[a] for a in static["targets"]]
    return config


def prometheus_hashmod(value: str, modulus: int) -> int:
    """Prometheus's ``hashmod``: the last 8 bytes of the MD5 of the value, modulo."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus


@attrs.frozen
class Stack:
    """What the fixture runs: Prometheus, the daemons (the first unsharded, then the shards),
    the healthy URLs, one URL whose port refuses, and the served chain's earliest not-after."""

    prometheus: Prometheus
    daemons: list[Daemon]
    good: list[str]
    refused: str
    expiry: float

    @property
    def urls(self) -> list[str]:
        return [*self.good, self.refused]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A TLS server, a closed port, the daemons the shipped config names, and Prometheus
    scraping them with the shipped rules; one for the module."""
    tmp_path = tmp_path_factory.mktemp("prometheus-stack")
    files = servers.write_pki(tmp_path / "pki")
    config = shipped()
    wanted = shards_wanted(config)
    with monitoring.tls_server(tmp_path, files) as server, servers.ClosedPort() as closed:
        base = f"127.0.0.1:{server.port}"
        good = [f"https://{base}", f"tls://{base}", f"https://{base}/status"]
        urls = [*good, closed.url()]
        shards = [shard for _, shard in wanted]
        with monitoring.daemons(tmp_path, urls, files.root, shards) as running:
            address_of = {
                shipped: d.address for (shipped, _), d in zip(wanted, running, strict=True)
            }
            local = rewrite(config, address_of, urls)
            with monitoring.prometheus(tmp_path, local) as prometheus:
                expiry = min(c.not_valid_after_utc for c in files.chain.served).timestamp()
                yield Stack(prometheus, running, good, closed.url(), expiry)


def test_both_patterns_reach_prometheus(stack: Stack) -> None:
    """Every shipped job yields probe_success and probe_ssl_earliest_cert_expiry for every
    target: once per job (shards and hashmod split the targets, never repeat them), with the
    chain's end date and probe_success 1 (0 for the refused port, which has no expiry), and in
    /probe jobs `instance` set to the URL."""
    config = shipped()
    assert [job["job_name"] for job in config["scrape_configs"]] == list(JOBS)

    def series(job: str, url: str, name: str) -> list[dict[str, Any]]:
        # The last sample of the past minute: a scrape that fails (a probe slower than the 1 s
        # scrape timeout on a busy machine) marks the series stale until the next one.
        expression = f'last_over_time({name}{{job="{job}", target="{url}"}}[1m])'
        return query(stack.prometheus, expression)

    def complete() -> bool:
        return all(
            len(series(job, url, name)) == 1
            for job in JOBS
            for url in stack.good
            for name in ALERTED
        ) and all(len(series(job, stack.refused, "probe_success")) == 1 for job in JOBS)

    wait_for("every job's series in Prometheus", complete, stack.prometheus.server.process)
    shards = [d.address for d in stack.daemons[1:]]
    for job in JOBS:
        for url in stack.urls:
            (success,) = series(job, url, "probe_success")
            ends = series(job, url, "probe_ssl_earliest_cert_expiry")
            if url == stack.refused:
                assert (success["value"][1], ends) == ("0", []), (job, url)
            else:
                assert success["value"][1] == "1", (job, url)
                assert [float(e["value"][1]) for e in ends] == [stack.expiry], (job, url)
            instance = success["metric"]["instance"]
            if job.startswith("tlsdiag-probe"):
                assert instance == url
            elif job == "tlsdiag-shards":
                # The daemon of the target's shard, as `tlsdiag daemon --shard K/N` splits.
                assert shards.index(instance) + 1 == shard_of(url, len(shards))
            else:
                assert instance == stack.daemons[0].address


def test_shipped_rules_run_on_real_series(stack: Stack) -> None:
    """Prometheus evaluates every shipped rule without error, and TLSProbeFailing is pending
    (its `for:` not yet over) for the refused port in every job, named after its finding, and
    for no healthy target."""
    wanted = {(job, stack.refused) for job in JOBS}

    def pending() -> set[tuple[str, str]]:
        data = monitoring.api(stack.prometheus, "alerts") or {}
        failing = [
            a["labels"]
            for a in data.get("alerts", [])
            if a["labels"]["alertname"] == "TLSProbeFailing"
        ]
        assert all(labels["target"] == stack.refused for labels in failing), failing
        assert all(labels.get("id") == "connection_refused" for labels in failing), failing
        return {(labels["job"], labels["target"]) for labels in failing}

    wait_for(
        "TLSProbeFailing pending", lambda: pending() == wanted, stack.prometheus.server.process
    )

    def evaluated() -> list[dict[str, Any]]:
        data = monitoring.api(stack.prometheus, "rules", type="alert") or {}
        rules = [r for g in data.get("groups", []) for r in g["rules"]]
        done = rules and all(not r["lastEvaluation"].startswith("0001") for r in rules)
        return rules if done else []

    rules = wait_for("every rule evaluated", evaluated, stack.prometheus.server.process)
    assert {(r["name"], r["health"], r.get("lastError", "")) for r in rules} == {
        (name, "ok", "") for name in alert_names()
    }


def test_hashmod_routes_each_target_to_one_daemon(stack: Stack) -> None:
    """The hashmod job asks the daemon that its relabelling picks, by the hash of the URL."""
    daemons = [d.address for d in stack.daemons[1:]]

    def scraped() -> dict[str, str]:
        data = monitoring.api(stack.prometheus, "targets", state="active") or {}
        found = {}
        for target in data.get("activeTargets", []):
            if target["labels"].get("job") == "tlsdiag-probe-hashmod" and target["health"] == "up":
                found[target["labels"]["instance"]] = target["scrapeUrl"]
        return found if len(found) == len(stack.urls) else {}

    urls_scraped = wait_for("the hashmod targets up", scraped, stack.prometheus.server.process)
    for url in stack.urls:
        daemon = daemons[prometheus_hashmod(url, len(daemons))]
        assert urls_scraped[url].startswith(f"http://{daemon}/probe?"), (url, urls_scraped[url])
