"""End to end with a real Prometheus: the shipped config/prometheus.yml, its addresses and
targets rewritten to loopback, scrapes running tlsdiag daemons in both patterns (/metrics of
each daemon, sharded too, and /probe multi-target, spread by hashmod too), and the series
users alert on come out of Prometheus's query API for every configured target."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from diagnostics.daemon.schedule import shard_of
from tests.support import monitoring, servers
from tests.support.monitoring import Daemon, Prometheus, query
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


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Prometheus, list[Daemon], list[str], float]]:
    """A TLS server, the daemons the shipped config names, and Prometheus scraping them:
    (Prometheus, daemons, probed URLs, the chain's earliest not-after); one for the module."""
    tmp_path = tmp_path_factory.mktemp("prometheus-stack")
    files = servers.write_pki(tmp_path / "pki")
    config = shipped()
    wanted = shards_wanted(config)
    with monitoring.tls_server(tmp_path, files) as server:
        base = f"127.0.0.1:{server.port}"
        urls = [f"https://{base}", f"tls://{base}", f"https://{base}/status"]
        with monitoring.daemons(
            tmp_path, urls, files.root, [shard for _, shard in wanted]
        ) as running:
            address_of = {
                shipped: d.address for (shipped, _), d in zip(wanted, running, strict=True)
            }
            local = rewrite(config, address_of, urls)
            with monitoring.prometheus(tmp_path, local) as prometheus:
                expiry = min(c.not_valid_after_utc for c in files.chain.served)
                yield prometheus, running, urls, expiry.timestamp()


def test_both_patterns_reach_prometheus(
    stack: tuple[Prometheus, list[Daemon], list[str], float],
) -> None:
    """Every shipped job yields probe_success and probe_ssl_earliest_cert_expiry for every
    target: once per job (shards and hashmod split the targets, never repeat them), with the
    chain's end date, probe_success 1, and in /probe jobs `instance` set to the URL."""
    prometheus, running, urls, expiry = stack
    config = shipped()
    assert [job["job_name"] for job in config["scrape_configs"]] == list(JOBS)

    def series(job: str, url: str, name: str) -> list[dict[str, Any]]:
        # The last sample of the past minute: a scrape that fails (a probe slower than the 1 s
        # scrape timeout on a busy machine) marks the series stale until the next one.
        return query(prometheus, f'last_over_time({name}{{job="{job}", target="{url}"}}[1m])')

    def complete() -> bool:
        return all(
            len(series(job, url, name)) == 1 for job in JOBS for url in urls for name in ALERTED
        )

    wait_for("every job's series in Prometheus", complete, prometheus.server.process)
    shards = {d.address: d for d in running[1:]}
    for job in JOBS:
        for url in urls:
            (success,) = series(job, url, "probe_success")
            (ends,) = series(job, url, "probe_ssl_earliest_cert_expiry")
            assert success["value"][1] == "1", (job, url)
            assert float(ends["value"][1]) == expiry, (job, url)
            instance = success["metric"]["instance"]
            if job.startswith("tlsdiag-probe"):
                assert instance == url
            elif job == "tlsdiag-shards":
                # The daemon of the target's shard, as `tlsdiag daemon --shard K/N` splits.
                order = list(shards)
                assert order.index(instance) + 1 == shard_of(url, len(order))
            else:
                assert instance == running[0].address


def test_hashmod_routes_each_target_to_one_daemon(
    stack: tuple[Prometheus, list[Daemon], list[str], float],
) -> None:
    """The hashmod job asks the daemon that its relabelling picks, by the hash of the URL."""
    prometheus, running, urls, _ = stack
    daemons = [d.address for d in running[1:]]

    def scraped() -> dict[str, str]:
        data = monitoring.api(prometheus, "targets", state="active") or {}
        found = {}
        for target in data.get("activeTargets", []):
            if target["labels"].get("job") == "tlsdiag-probe-hashmod" and target["health"] == "up":
                found[target["labels"]["instance"]] = target["scrapeUrl"]
        return found if len(found) == len(urls) else {}

    urls_scraped = wait_for("the hashmod targets up", scraped, prometheus.server.process)
    for url in urls:
        daemon = daemons[prometheus_hashmod(url, len(daemons))]
        assert urls_scraped[url].startswith(f"http://{daemon}/probe?"), (url, urls_scraped[url])
