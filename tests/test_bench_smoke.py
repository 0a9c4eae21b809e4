"""Each benchmark runs end to end at tiny sizes (benchmarks are not tests: no targets here)."""

from __future__ import annotations

import shutil

import pytest

from bench import (
    fanout,
    library_overhead,
    paging,
    plan_scale,
    provider_calls,
    proxy_paging,
    proxy_throughput,
    relay,
    slow_clients,
    token_storm,
    write_floor_parts,
    write_path,
)
from gateway.testing.postgres import server_available


async def test_library_overhead_runs() -> None:
    assert await library_overhead.run(calls=20, rounds=1) > 0


async def test_paging_runs() -> None:
    assert await paging.run(webhooks=300, rounds=1) > 0


async def test_proxy_paging_runs() -> None:
    assert await proxy_paging.run(webhooks=(150,), rounds=1) in (True, False)


async def test_fanout_runs() -> None:
    assert await fanout.run(accounts=3, latency=0.01, rounds=1) > 0


async def test_token_storm_runs() -> None:
    assert await token_storm.run(calls=20) == 1


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
async def test_proxy_throughput_runs() -> None:
    throughput, latency = await proxy_throughput.run(seconds=1, connections=5, rounds=1)
    assert throughput > 0 and latency > 0


async def test_slow_clients_runs() -> None:
    assert await slow_clients.run(attackers=20, seconds=1) > 0


@pytest.mark.skipif(
    shutil.which("wrk") is None or not server_available(), reason="needs wrk and PostgreSQL"
)
async def test_write_path_runs() -> None:
    assert await write_path.run(seconds=1, connections=5, rounds=1) > 0


@pytest.mark.skipif(
    shutil.which("wrk") is None or not server_available(), reason="needs wrk and PostgreSQL"
)
async def test_write_floor_parts_runs() -> None:
    assert await write_floor_parts.run(seconds=1, connections=5, rounds=1) > 0


async def test_plan_scale_runs() -> None:
    assert await plan_scale.run(accounts=2, webhooks=20, latency=0.0) > 0


@pytest.mark.skipif(not server_available(), reason="needs PostgreSQL")
async def test_provider_calls_runs() -> None:
    assert await provider_calls.run(latency=0.01, rounds=1, rate=50, creates=20) in (True, False)


@pytest.mark.skipif(
    shutil.which("wrk") is None or not server_available(), reason="needs wrk and PostgreSQL"
)
async def test_relay_runs() -> None:
    ratio = await relay.run(seconds=1, connections=5, rounds=1, paced_seconds=0.5, burst_count=200)
    assert ratio > 0
