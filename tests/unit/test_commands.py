"""Quoting in one place: whatever an argument holds, the remote shell sees it as one literal."""

from __future__ import annotations

import os
import subprocess

import pytest

from app.catalog.models import Knobs, ModelDef
from app.cluster import commands as cmd
from app.config import parse_config
from app.swap.plan import SwapPlan

NASTY = [
    "plain",
    "has space",
    "semi;colon",
    "$(touch /tmp/pwned)",
    "`reboot`",
    "it's",
    'double"quote',
    "back\\slash",
    "glob*?[x]",
    "--flag=$HOME",
    "~/not-home",
    "",
    "a && b || c | d > e < f &",
]


def shell_argv(rendered: str, home: str = "/home/sim") -> list[str]:
    """What a real /bin/sh passes to a program for ``rendered`` (one NUL-separated arg each)."""
    out = subprocess.run(
        ["/bin/sh", "-c", f"printf '%s\\0' {rendered}"],
        capture_output=True,
        env={"HOME": home, "PATH": os.environ["PATH"]},
        check=True,
    ).stdout.decode()
    return out.split("\0")[:-1]


@pytest.mark.parametrize("arg", NASTY)
def test_every_argument_arrives_literally(arg: str) -> None:
    assert shell_argv(cmd.render(("printf", arg))[len("printf ") :]) == [arg]


def test_home_paths_expand_only_the_tilde() -> None:
    rendered = cmd.render(("x", cmd.Home("dir with space/$(x)")))[2:]
    assert shell_argv(rendered, home="/home/u") == ["/home/u/dir with space/$(x)"]
    assert shell_argv(cmd.quote_arg(cmd.Home("")), home="/home/u") == ["/home/u"]


def test_remote_path_and_join() -> None:
    assert cmd.remote_path("~/spark-vllm-docker") == cmd.Home("spark-vllm-docker")
    assert isinstance(cmd.join_path(cmd.remote_path("~/a"), "b", "c"), cmd.Home)
    assert cmd.join_path("/abs/", "b") == "/abs/b"
    assert cmd.remote_path("/opt/x") == "/opt/x" and not isinstance(
        cmd.remote_path("/opt/x"), cmd.Home
    )


def test_render_refuses_empty_and_odd_separators() -> None:
    with pytest.raises(ValueError):
        cmd.render()
    with pytest.raises(ValueError):
        cmd.render(())
    with pytest.raises(ValueError):
        cmd.render(("a",), sep="; rm -rf /")


def test_launch_command_for_a_local_model_with_knobs() -> None:
    config = parse_config(
        {
            "sparks": [
                {"name": "spark1", "host": "10.0.0.1"},
                {"name": "spark2", "host": "10.0.0.2"},
            ],
            "vllm": {"port": 8000, "container": "vllm-gemma4"},
        },
        {},
    )
    model = ModelDef(
        key="ten31-v2",
        local_path="/home/nvidia/models/ten31-v2",
        knobs=Knobs(tensor_parallel_size=2, max_model_len=8192, extra_args=("--enforce-eager",)),
    )
    launch = SwapPlan(config, model).launch()
    assert launch == (
        "cd ~/spark-vllm-docker && env "
        "'VLLM_SPARK_EXTRA_DOCKER_ARGS=-v /home/nvidia/models/ten31-v2:/home/nvidia/models/ten31-v2:ro' "
        "./launch-cluster.sh -n 10.0.0.1,10.0.0.2 -t vllm-node --name vllm-gemma4 -d exec vllm serve "
        "/home/nvidia/models/ten31-v2 --host 0.0.0.0 --port 8000 --served-model-name ten31-v2 "
        "--tensor-parallel-size 2 --max-model-len 8192 --enforce-eager"
    )


@pytest.mark.parametrize("char", ["\x00", "\x01", "\n", "\r", "\x1b", "\x7f", "\t"])
def test_render_refuses_control_characters(char: str) -> None:
    """Quoting would make these literal, but SSH refuses a NUL and a newline has no place in a
    command line: the one quoting function refuses them all (a newline is in none of NASTY)."""
    for argv in [("echo", f"a{char}b"), ("test", "-d", cmd.remote_path(f"~/x{char}"))]:
        with pytest.raises(cmd.UnsafeArgument, match="contains a control character"):
            cmd.render(argv)
