"""``sparks[].cluster_address``: the address the Sparks reach one another at over the ConnectX
link, checked like ``host``; what the launch and the weights copy use."""

from __future__ import annotations

from typing import Any

import pytest

from app.catalog.models import ModelDef
from app.config import ConfigError, parse_config
from app.swap.plan import SwapPlan


def sparks(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"sparks": list(entries)}


HEAD = {"name": "spark1", "host": "192.168.1.50"}
WORKER = {"name": "spark2", "host": "192.168.1.51"}


def test_cluster_address_defaults_to_the_host() -> None:
    config = parse_config(sparks(HEAD, WORKER), {})
    assert [s.cluster_address for s in config.sparks] == [None, None]
    assert [s.peer_address for s in config.sparks] == ["192.168.1.50", "192.168.1.51"]


def test_cluster_address_is_read_and_used_as_the_peer_address() -> None:
    config = parse_config(
        sparks(
            {**HEAD, "cluster_address": "192.168.100.10"},
            {**WORKER, "cluster_address": "fe80::2"},
        ),
        {},
    )
    assert [s.host for s in config.sparks] == ["192.168.1.50", "192.168.1.51"]
    assert [s.peer_address for s in config.sparks] == ["192.168.100.10", "fe80::2"]


def test_null_cluster_address_means_the_host() -> None:
    config = parse_config(sparks({**HEAD, "cluster_address": None}), {})
    assert config.sparks[0].peer_address == "192.168.1.50"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "192.168.100.11\n",
        "spark2\x00",
        "a b",
        "-oProxyCommand=x",
        "$(reboot)",
        "host;rm",
        "x" * 300,
        "10.0.0.1,10.0.0.2",  # would split launch-cluster.sh's -n list
    ],
)
def test_bad_cluster_address_is_refused_with_one_line(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(sparks({**HEAD, "cluster_address": value}), {})
    message = str(err.value)
    assert message.startswith("config: $.sparks[0]")
    assert "cluster_address" in message
    assert "\n" not in message and "\x00" not in message


def test_cluster_address_must_be_a_string() -> None:
    with pytest.raises(ConfigError, match=r"\$\.sparks\[0\]\.cluster_address: expected str"):
        parse_config(sparks({**HEAD, "cluster_address": 10}), {})


def test_two_sparks_cannot_share_a_cluster_address() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            sparks(
                {**HEAD, "cluster_address": "192.168.100.10"},
                {**WORKER, "cluster_address": "192.168.100.10"},
            ),
            {},
        )
    assert str(err.value) == (
        "config: $.sparks[1].cluster_address: '192.168.100.10' is already the cluster-link "
        "address of Spark 'spark1'; each Spark needs its own"
    )


def test_cluster_address_cannot_be_another_sparks_host() -> None:
    # spark2 has no cluster address, so the others reach it at its host: a clash.
    with pytest.raises(ConfigError) as err:
        parse_config(sparks({**HEAD, "cluster_address": "192.168.1.51"}, WORKER), {})
    assert str(err.value) == (
        "config: $.sparks[1].host: '192.168.1.51' is already the cluster-link address of "
        "Spark 'spark1'; each Spark needs its own"
    )
    with pytest.raises(ConfigError, match=r"\$\.sparks\[1\]\.cluster_address: .*'spark1'"):
        parse_config(sparks(HEAD, {**WORKER, "cluster_address": "192.168.1.50"}), {})


def test_cluster_address_may_equal_its_own_host_and_hosts_may_repeat() -> None:
    config = parse_config(
        sparks(
            {**HEAD, "cluster_address": "192.168.1.50"},
            {"name": "spark2", "host": "192.168.1.50", "ssh_port": 2222, "cluster_address": "x2"},
        ),
        {},
    )
    assert [s.peer_address for s in config.sparks] == ["192.168.1.50", "x2"]


def launch_hosts(config_data: dict[str, Any]) -> str:
    plan = SwapPlan(parse_config(config_data, {}), ModelDef(key="m", repo="org/m"))
    launch = plan.stop()
    return launch.split(" -n ", 1)[1].split(" ", 1)[0]


def test_the_launch_names_the_cluster_addresses_head_first() -> None:
    data = sparks(
        {**HEAD, "cluster_address": "192.168.100.10"},
        {**WORKER, "cluster_address": "192.168.100.11"},
    )
    assert launch_hosts(data) == "192.168.100.10,192.168.100.11"
    # a Spark without one is named by its host, as before
    assert launch_hosts(sparks(HEAD, {**WORKER, "cluster_address": "10.9.9.9"})) == (
        "192.168.1.50,10.9.9.9"
    )
    assert launch_hosts(sparks(HEAD, WORKER)) == "192.168.1.50,192.168.1.51"


@pytest.mark.parametrize("field", ["name", "host", "ssh_user", "cluster_address"])
def test_a_trailing_newline_is_refused_in_every_spark_field(field: str) -> None:
    entry = {**HEAD, "ssh_user": "nvidia", "cluster_address": "10.0.0.1"}
    entry[field] += "\n"
    with pytest.raises(ConfigError) as err:
        parse_config(sparks(entry), {})
    assert str(err.value) == f"config: $.sparks[0]: {field} must not contain control characters"
