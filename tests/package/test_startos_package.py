"""The StartOS package and the app agree: what the package writes, the app reads intact.

These drive the built bundle (javascript/index.js) with node; `make test` builds it first
(`make check-package`). Run alone without the bundle, they are skipped with that reason.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
import typing
from pathlib import Path

import msgspec
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app import config as app_config
from app import config_rules
from app.config import Config, config_to_dict, load_config
from app.services.registry import ServiceOverride, build_services, load_overrides
from app.web.auth import KeyRing, Principal

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "tests" / "package" / "package_cli.mjs"
NODE = shutil.which("node")

needs_bundle = pytest.mark.skipif(
    NODE is None or not (ROOT / "javascript" / "index.js").exists(),
    reason="needs node and the built bundle: run `make check-package`",
)


def package(*args: str, stdin: str | None = None) -> str:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(CLI), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


FORM = {
    "sparks": [
        {
            "name": "spark1",
            "host": "192.168.1.50",
            "ssh_port": 22,
            "ssh_user": "nvidia",
            "cluster_address": "192.168.100.10",
        },
        {
            "name": "spark2",
            "host": "fe80::1",
            "ssh_port": 2222,
            "ssh_user": "ops",
            "cluster_address": "fd00::11",
        },
        # Words YAML 1.1 (PyYAML) would otherwise read as booleans and numbers.
        {"name": "on", "host": "1:20", "ssh_port": 65535, "ssh_user": "y", "cluster_address": ""},
        {
            "name": "no",
            "host": "0777",
            "ssh_port": 1,
            "ssh_user": "_svc",
            "cluster_address": "2:30",
        },
    ],
    "services": {
        "disabled": ["kokoro", "qdrant"],
        "ssh_users": {"parakeet": "asr", "kokoro": None, "embeddings": "emb", "qdrant": None},
    },
    "vllm": {
        "port": 8000,
        "container": "vllm-gemma4",
        "image": "ghcr.io/owner/vllm-node:25.09@sha256:abc",
        "launch_dir": "~/src/spark vllm docker",
    },
    "webhook": {
        "url": "https://hooks.lan:8443/spark?x=1&y=2",
        "secret": "s3cr3t: with # and 'quotes'",
    },
}


@needs_bundle
def test_config_written_by_configure_sparks_is_read_intact(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    package("save", str(path), stdin=json.dumps(FORM))

    config = load_config(path, env={})

    assert config.warnings == ()
    assert [(s.name, s.host, s.ssh_port, s.ssh_user) for s in config.sparks] == [
        (s["name"], s["host"], s["ssh_port"], s["ssh_user"]) for s in FORM["sparks"]
    ]
    # A blank cluster-link address is left out: the app then uses the host.
    assert [s.cluster_address for s in config.sparks] == [
        "192.168.100.10",
        "fd00::11",
        None,
        "2:30",
    ]
    assert [s.peer_address for s in config.sparks][2] == "1:20"
    assert config.head is not None and config.head.name == "spark1"
    assert config.vllm.port == 8000
    assert config.vllm.container == "vllm-gemma4"
    assert config.vllm.image == FORM["vllm"]["image"]
    assert config.vllm.launch_dir == "~/src/spark vllm docker"
    assert config.services.disabled == ("kokoro", "qdrant")
    assert config.services.ssh_users == {"parakeet": "asr", "embeddings": "emb"}
    assert config.webhook.url == FORM["webhook"]["url"]
    assert config.webhook.secret == FORM["webhook"]["secret"]


@needs_bundle
def test_blank_fields_are_written_as_the_app_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    blank = {
        "sparks": [{"name": "spark1", "host": "spark1.lan", "ssh_port": 22, "ssh_user": "nvidia"}],
        "services": {"disabled": [], "ssh_users": {}},
        "vllm": {"port": None, "container": None, "image": "", "launch_dir": None},
        "webhook": {"url": None, "secret": None},
    }
    package("save", str(path), stdin=json.dumps(blank))

    config = load_config(path, env={})

    assert config.warnings == ()
    defaults = Config()
    assert config.vllm == defaults.vllm
    assert config.webhook == defaults.webhook
    assert config.services == defaults.services


@needs_bundle
def test_seeded_config_holds_every_key_with_the_app_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Compare with the shipped defaults, not the per-test history database conftest.py sets
    # (nothing here opens a database).
    monkeypatch.undo()
    assert Config().storage.database == "/data/spark-control.db"
    path = tmp_path / "config.yaml"
    package("seed", str(path))

    config = load_config(path, env={})

    assert config.warnings == ()
    assert not config.configured
    assert config_to_dict(config) == config_to_dict(Config())
    # Every key of the contract is written out, so the file documents itself.
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(config_to_dict(Config())))


@needs_bundle
def test_package_validates_with_the_app_rules() -> None:
    facts = json.loads(package("facts"))
    patterns = facts["patterns"]

    assert patterns["sparkName"] == config_rules.SPARK_NAME
    assert patterns["serviceKey"] == config_rules.SERVICE_KEY
    assert patterns["host"] == config_rules.HOST
    assert patterns["sshUser"] == config_rules.SSH_USER
    assert patterns["containerName"] == config_rules.CONTAINER_NAME.pattern
    assert patterns["imageRef"] == config_rules.IMAGE_REF.pattern
    assert patterns["remoteDir"] == config_rules.REMOTE_DIR.pattern
    assert tuple(facts["builtinServices"]) == config_rules.BUILTIN_SERVICES
    # An event the package does not know would reset a hand-written event list to the default.
    assert tuple(facts["webhookEvents"]) == typing.get_args(config_rules.WebhookEvent)


def test_lock_pins_every_runtime_dependency_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins = {
        canonicalize_name(m["name"]): m["version"]
        for m in re.finditer(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>[^\s;\\]+)", lock, re.M)
    }
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is missing from requirements.lock"
        assert requirement.specifier.contains(pins[name]), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement.specifier}: "
            "run scripts/lock_requirements.sh"
        )


@needs_bundle
def test_api_keys_created_by_the_package_are_the_keys_the_app_accepts(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    package("save", str(path), stdin=json.dumps(FORM))
    form = {"restart_during_swap": True}
    nightly = package(
        "apikey", str(path), stdin=json.dumps({**form, "name": "cron-nightly", "scope": "operate"})
    )
    webui = package(
        "apikey", str(path), stdin=json.dumps({**form, "name": "open-webui", "scope": "read"})
    )

    config = load_config(path, env={})

    assert config.warnings == ()
    written = yaml.safe_load(path.read_text(encoding="utf-8"))["server"]["api_keys"]
    assert [sorted(entry) for entry in written] == [["key_sha256", "name", "scope"]] * 2
    ring = KeyRing(config.server.api_keys)
    assert ring.match(nightly) == Principal("cron-nightly", "operate")
    assert ring.match(webui) == Principal("open-webui", "read")
    assert ring.match(nightly + "x") is None
    assert nightly not in path.read_text(encoding="utf-8")

    package("revoke", str(path), stdin=json.dumps({**form, "name": "cron-nightly"}))

    ring = KeyRing(load_config(path, env={}).server.api_keys)
    assert ring.match(nightly) is None
    assert ring.match(webui) == Principal("open-webui", "read")


@needs_bundle
def test_swap_behaviour_written_by_the_package_is_read_intact(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    package("seed", str(path))
    form = {
        "drain_timeout_s": 0,
        "hold_timeout_s": 86400,
        "hold_max_requests": 100000,
        "on_failure": "stay_stopped",
        "on_request": True,
        "min_dwell_s": 60,
        "watchdog_enabled": False,
        "watchdog_grace_s": 3600,
        "watchdog_max_restarts": 100,
        "watchdog_window_s": 1,
        "watchdog_backoff_s": None,
        "restart_during_swap": True,
    }
    package("swap", str(path), stdin=json.dumps(form))

    config = load_config(path, env={})

    assert config.warnings == ()
    assert config.swap == app_config.SwapSettings(
        drain_timeout_s=0,
        hold_timeout_s=86400,
        hold_max_requests=100000,
        on_failure="stay_stopped",
        on_request=True,
        min_dwell_s=60,
    )
    assert config.watchdog == app_config.WatchdogSettings(
        enabled=False, grace_s=3600, max_restarts=100, window_s=1, backoff_s=10
    )


@needs_bundle
def test_trusted_proxies_written_by_the_package_are_read_intact(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    package("seed", str(path))
    proxies = ["10.0.3.1", "192.168.1.0/24", "fd00::/8", "10.0.0.7/8", "::1"]
    package(
        "access",
        str(path),
        stdin=json.dumps(
            {"allowed_hosts": [], "trusted_proxies": proxies, "restart_during_swap": True}
        ),
    )

    config = load_config(path, env={})

    assert config.warnings == ()
    assert config.server.trusted_proxies == tuple(proxies)


@needs_bundle
def test_models_and_access_settings_are_read_intact(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    package("save", str(path), stdin=json.dumps(FORM))
    package(
        "models",
        str(path),
        stdin=json.dumps(
            {
                "local_roots": ["/srv/models", "/home/nvidia/my models"],
                "load_timeout_s": 7200,
                "max_upload_mb": 1024,
            }
        ),
    )
    package(
        "access",
        str(path),
        stdin=json.dumps(
            {"allowed_hosts": ["spark.example.org", "*.lan.example"], "trusted_proxies": []}
        ),
    )

    config = load_config(path, env={})

    assert config.warnings == ()
    assert config.models.local_roots == ("/srv/models", "/home/nvidia/my models")
    assert config.vllm.load_timeout_s == 7200
    assert config.limits.max_upload_mb == 1024
    assert config.server.allowed_hosts == ("spark.example.org", "*.lan.example")
    assert [s.name for s in config.sparks] == [s["name"] for s in FORM["sparks"]]


@needs_bundle
def test_services_written_by_the_package_are_the_services_the_app_runs(tmp_path: Path) -> None:
    package(
        "save",
        str(tmp_path / "config.yaml"),
        stdin=json.dumps(
            {
                **FORM,
                "sparks": [
                    {"name": "spark1", "host": "10.0.0.1", "ssh_port": 22, "ssh_user": "nvidia"},
                    {"name": "gpu-b", "host": "10.0.0.2", "ssh_port": 22, "ssh_user": "nvidia"},
                ],
                "services": {"disabled": [], "ssh_users": {}},
            }
        ),
    )
    form = {
        "builtins": {
            "parakeet": {"node": "gpu-b", "port": None},
            "kokoro": {"node": "gpu-b", "port": 8881},
            "embeddings": {"node": None, "port": None},
            "qdrant": {"node": "spark1", "port": None},
        },
        "added": [
            {"key": "vllm-b", "name": "Second vLLM", "kind": "vllm", "node": "gpu-b", "port": 8000},
            {"key": "ollama", "kind": "openai", "url": "http://10.0.0.9:11434"},
        ],
        "restart_during_swap": False,
    }
    package("services", str(tmp_path), stdin=json.dumps(form))

    config = load_config(tmp_path / "config.yaml", env={})
    overrides, warnings = load_overrides(
        config.services.overrides_file.replace("/data", str(tmp_path))
    )
    assert warnings == []
    services = {s.key: s for s in build_services(config, overrides)}

    assert services["parakeet"].url == "http://10.0.0.2:8000"
    assert services["kokoro"].url == "http://10.0.0.2:8881"
    assert services["qdrant"].url == "http://10.0.0.1:6333"
    assert services["vllm-b"].kind == "vllm" and services["vllm-b"].url == "http://10.0.0.2:8000"
    assert services["vllm-b"].name == "Second vLLM"
    assert services["ollama"].url == "http://10.0.0.9:11434"


@needs_bundle
def test_services_patterns_are_the_registry_s() -> None:
    facts = json.loads(package("facts"))
    fields = {f.name: f for f in msgspec.structs.fields(ServiceOverride)}

    def pattern(name: str) -> str:
        annotated = fields[name].type.__args__[0]  # Annotated[str, Meta(pattern=...)] | None
        return next(m.pattern for m in annotated.__metadata__ if getattr(m, "pattern", None))

    assert facts["servicePatterns"]["url"] == pattern("url")
    assert facts["servicePatterns"]["healthPath"] == pattern("health_path")
