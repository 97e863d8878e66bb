"""The commands a swap runs, built from the config and the model (pure; no I/O).

The same functions feed the real engine and the dry run, so a dry run lists exactly the
commands a real swap would run.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.catalog.models import ModelDef, weights_dir
from app.cluster import commands as cmd
from app.config import Config
from app.swap.jobs import PlannedCommand

LAUNCH_SCRIPT = "launch-cluster.sh"
EXTRA_DOCKER_ARGS = "VLLM_SPARK_EXTRA_DOCKER_ARGS"


class SwapPlan:
    """Every command string of a swap to ``model`` on the cluster of ``config``."""

    def __init__(self, config: Config, model: ModelDef) -> None:
        self.config = config
        self.model = model
        self.head = config.sparks[0].name
        self.nodes = [spark.name for spark in config.sparks]
        # launch-cluster.sh runs on the head and reaches the others over the cluster link.
        self.hosts = [spark.peer_address for spark in config.sparks]
        vllm = config.vllm
        self.container = vllm.container
        self.launch_dir = cmd.remote_path(vllm.launch_dir)
        self.hf_home = cmd.remote_path(vllm.hf_home)

    # --- checks ----------------------------------------------------------------------------

    def launch_script_check(self) -> str:
        return cmd.render(cmd.test_executable(cmd.join_path(self.launch_dir, LAUNCH_SCRIPT)))

    def image_check(self) -> str:
        return cmd.render(cmd.image_inspect(self.config.vllm.image))

    def weights_path(self) -> str:
        """Where the weights must be on every node (a directory)."""
        return weights_dir(self.model, self.config.vllm.hf_home)

    def weights_check(self) -> str:
        if self.model.local_path is not None:
            return cmd.render(cmd.test_file(cmd.join_path(self.model.local_path, "config.json")))
        return cmd.render(cmd.test_directory(cmd.join_path(self.weights_path(), "snapshots")))

    def disk_check(self) -> str:
        return cmd.render(cmd.disk_free(self.hf_home))

    # --- stop ------------------------------------------------------------------------------

    def _launch_cluster(
        self,
        verb: str,
        verb_args: Sequence[str] = (),
        *,
        daemon: bool = False,
        env: Sequence[tuple[str, str]] = (),
        container_env: Sequence[str] = (),
    ) -> cmd.Argv:
        return cmd.launch_cluster(
            hosts=self.hosts,
            image=self.config.vllm.image,
            container=self.container,
            verb=verb,
            verb_args=verb_args,
            daemon=daemon,
            env=env,
            container_env=container_env,
        )

    def stop(self) -> str:
        return cmd.render(cmd.cd(self.launch_dir), self._launch_cluster("stop"))

    def container_present(self) -> str:
        return cmd.render(cmd.container_list(self.container))

    def container_remove(self) -> str:
        return cmd.render(cmd.container_remove(self.container))

    def gpu_query(self) -> str:
        return cmd.render(cmd.gpu_query())

    # --- launch ----------------------------------------------------------------------------

    def serve_args(self) -> tuple[str, ...]:
        model = self.model
        return (
            "vllm",
            "serve",
            model.source_ref,
            "--host",
            "0.0.0.0",  # noqa: S104 - vLLM must listen on the cluster network, not only loopback
            "--port",
            str(self.config.vllm.port),
            "--served-model-name",
            model.served_name,
            *model.knobs.vllm_flags(),
        )

    def launch_env(self) -> dict[str, str]:
        """Environment sent over SSH with the launch (secrets travel here, not in argv)."""
        token = self.config.vllm.hf_token
        return {"HF_TOKEN": token} if token else {}

    def launch(self) -> str:
        env: list[tuple[str, str]] = []
        if self.model.local_path is not None:
            # The launch script appends this to `docker run` on every node: the model directory
            # is bind-mounted read-only at the same path, so `vllm serve <path>` finds it.
            path = self.model.local_path
            env.append((EXTRA_DOCKER_ARGS, f"-v {path}:{path}:ro"))
        # `-e HF_TOKEN` without a value: the launch script passes it to `docker run`, which
        # takes the value from the environment the SSH session carries.
        container_env = ("HF_TOKEN",) if self.config.vllm.hf_token else ()
        return cmd.render(
            cmd.cd(self.launch_dir),
            self._launch_cluster(
                "exec", self.serve_args(), daemon=True, env=env, container_env=container_env
            ),
        )

    def processes(self) -> str:
        """The head container's processes: is vLLM still running in it?"""
        return cmd.render(cmd.container_processes(self.container))

    def logs(self, *, tail: int, follow: bool = False) -> str:
        return cmd.render(cmd.container_logs(self.container, tail=tail, follow=follow))

    # --- the whole plan, for dry runs ------------------------------------------------------

    def planned(self) -> list[PlannedCommand]:
        steps: list[PlannedCommand] = [PlannedCommand(n, "true") for n in self.nodes]
        steps.append(PlannedCommand(self.head, self.launch_script_check()))
        steps += [PlannedCommand(n, self.image_check()) for n in self.nodes]
        if self.model.local_path is not None:
            resolve = cmd.render(cmd.real_path(self.model.local_path))
            steps += [PlannedCommand(n, resolve) for n in self.nodes]
        steps += [PlannedCommand(n, self.weights_check()) for n in self.nodes]
        steps.append(PlannedCommand(self.head, self.stop()))
        steps += [PlannedCommand(n, self.container_present()) for n in self.nodes]
        steps += [PlannedCommand(n, self.gpu_query()) for n in self.nodes]
        steps.append(PlannedCommand(self.head, self.launch()))
        steps.append(PlannedCommand(self.head, self.logs(tail=200, follow=True)))
        return steps
