"""The config file contract: fallbacks, env overrides, exit-2 errors, no file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ConfigError, load_config, parse_config, parse_service_list
from app.services.registry import load_overrides

FULL = """
sparks:
  - name: spark1
    host: 192.168.1.50
    ssh_port: 22
    ssh_user: nvidia
  - name: spark2
    host: 192.168.1.51
    ssh_user: nvidia
ssh:
  key_file: /data/ssh/id_ed25519
  known_hosts: /data/ssh/known_hosts
vllm:
  port: 8000
  container: vllm-gemma4
  image: vllm-node
  launch_dir: ~/spark-vllm-docker
  hf_home: ~/.cache/huggingface
  load_timeout_s: 1800
services:
  disabled: [parakeet, kokoro]
  overrides_file: /data/services-overrides.yaml
  ssh_users: {parakeet: asr}
webhook:
  url: "http://10.0.0.9:8080/hook"
  secret: "abc"
models:
  catalog_file: ""
  overrides_file: /data/models-overrides.yaml
  local_roots: [/home/nvidia/models]
limits:
  max_upload_mb: 200
server:
  allowed_hosts: []
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_full_file_is_read_intact(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), env={})
    assert [s.name for s in config.sparks] == ["spark1", "spark2"]
    assert config.head is not None and config.head.host == "192.168.1.50"
    assert config.sparks[1].ssh_port == 22
    assert config.vllm.port == 8000
    assert config.vllm.container == "vllm-gemma4"
    assert config.services.disabled == ("parakeet", "kokoro")
    assert config.services.ssh_users == {"parakeet": "asr"}
    assert config.webhook.url == "http://10.0.0.9:8080/hook"
    assert config.models.local_roots == ("/home/nvidia/models",)
    assert config.warnings == ()
    assert config.configured


def test_secret_is_not_in_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), env={})
    assert "abc" not in repr(config.webhook)


def test_no_file_means_no_sparks(tmp_path: Path) -> None:
    config = load_config(tmp_path / "absent.yaml", env={})
    assert config.sparks == ()
    assert not config.configured
    assert config.vllm.port == 8888
    assert load_config(None, env={}).configured is False


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), env={})
    assert not config.configured
    assert config.vllm.container == "vllm_node"


@pytest.mark.parametrize("value", ["''", "'   '", "null"])
def test_blank_port_falls_back_to_8888(tmp_path: Path, value: str) -> None:
    config = load_config(write(tmp_path, f"vllm:\n  port: {value}\n"), env={})
    assert config.vllm.port == 8888


@pytest.mark.parametrize("value", ["abc", "70000", "0", "-1", "8.5", "true", "[1]"])
def test_invalid_port_falls_back_with_warning(tmp_path: Path, value: str) -> None:
    config = load_config(write(tmp_path, f"vllm:\n  port: {value}\n"), env={})
    assert config.vllm.port == 8888
    assert len(config.warnings) == 1
    assert "vllm.port" in config.warnings[0] and "8888" in config.warnings[0]


def test_port_as_numeric_string_is_accepted(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "vllm:\n  port: '8000'\n"), env={}).vllm.port == 8000


@pytest.mark.parametrize("value", ["''", "'a;b'", "'$(reboot)'", "'-rm'", "'has space'"])
def test_blank_or_invalid_container_falls_back(tmp_path: Path, value: str) -> None:
    config = load_config(write(tmp_path, f"vllm:\n  container: {value}\n"), env={})
    assert config.vllm.container == "vllm_node"
    assert any("vllm.container" in w for w in config.warnings)


def test_env_overrides_win(tmp_path: Path) -> None:
    env = {
        "VLLM_PORT": "8000",
        "VLLM_CONTAINER": "vllm-gemma4",
        "DISABLED_SERVICES": " Parakeet , kokoro,,kokoro ",
        "MODELS_OVERRIDES": "/tmp/overrides.yaml",
    }
    config = load_config(write(tmp_path, FULL), env=env)
    assert config.vllm.port == 8000
    assert config.vllm.container == "vllm-gemma4"
    assert config.services.disabled == ("parakeet", "kokoro")
    assert config.models.overrides_file == "/tmp/overrides.yaml"


def test_bad_env_port_falls_back_and_names_the_variable(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), env={"VLLM_PORT": "eighty"})
    assert config.vllm.port == 8888
    assert any("VLLM_PORT" in w for w in config.warnings)
    config = load_config(write(tmp_path, FULL), env={"VLLM_PORT": ""})
    assert config.vllm.port == 8888


def test_disabled_services_as_comma_string_in_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "services:\n  disabled: 'parakeet,qdrant'\n"), env={})
    assert config.services.disabled == ("parakeet", "qdrant")


def test_parse_service_list() -> None:
    assert parse_service_list("") == ()
    assert parse_service_list("a, b ,A") == ("a", "b")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "sparks:\n  - {name: spark1, host: h1}\n  - {name: spark2, host: h2, ssh_port: 70000}\n",
            "config: $.sparks[1].ssh_port: expected int <= 65535",
        ),
        ("sparks: {name: x}\n", "config: $.sparks: expected array, got object"),
        ("sparks:\n  - {host: h1}\n", "config: $.sparks[0]: object missing required field name"),
        (
            "sparks:\n  - {name: 'Bad Name', host: h1}\n",
            "config: $.sparks[0].name: expected str matching regex",
        ),
        (
            "sparks:\n  - {name: a, host: 'h; rm -rf /'}\n",
            "config: $.sparks[0].host: expected str matching regex",
        ),
        (
            "sparks:\n  - {name: a, host: h}\n  - {name: a, host: g}\n",
            "config: $.sparks[1].name: duplicate Spark name 'a'",
        ),
        (
            # Python's $ also matches before a final newline: the pattern alone would pass these.
            'services:\n  disabled: ["parakeet\\n"]\n',
            "config: $.services: service keys and SSH users must not contain control characters",
        ),
        (
            'services:\n  ssh_users: {parakeet: "bob\\n"}\n',
            "config: $.services: service keys and SSH users must not contain control characters",
        ),
        ("vllm: 5\n", "config: $.vllm: expected object, got int"),
        ("bogus: 1\n", "config: $: object contains unknown field bogus"),
        ("[1, 2]\n", "config: $: expected object, got array"),
        ("sparks: [\n", "config: $: not valid YAML"),
    ],
)
def test_structural_errors_name_the_field(tmp_path: Path, text: str, line: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert str(err.value).startswith(line), str(err.value)
    assert "\n" not in str(err.value)


def test_parse_config_rejects_derived_keys() -> None:
    with pytest.raises(ConfigError):
        parse_config({"warnings": ["x"]}, {})


def test_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "sparks:\n  - {name: spark1, host: h1, ssh_port: 70000}\n")
    result = subprocess.run(
        [sys.executable, "-m", "app", "--config", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "config: $.sparks[0].ssh_port: expected int <= 65535"


def test_webhook_events_and_storage_settings() -> None:
    config = parse_config({}, {})
    assert config.webhook.events == ("swap_complete", "swap_failed")
    assert config.webhook.retries == 0
    assert config.storage.history_days == 90 and config.storage.gpu_days == 7
    chosen = parse_config(
        {"webhook": {"events": ["lock_expired", "spark_unreachable", "nonsense", 7], "retries": 2}},
        {},
    )
    assert chosen.webhook.events == ("lock_expired", "spark_unreachable")
    assert chosen.webhook.retries == 2
    assert any("'nonsense'" in w and "ignored" in w for w in chosen.warnings)
    with pytest.raises(ConfigError, match=r"\$\.webhook\.retries"):
        parse_config({"webhook": {"retries": 99}}, {})
    with pytest.raises(ConfigError, match=r"\$\.storage\.database"):
        parse_config({"storage": {"database": ""}}, {})


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ('{key: "ollama\\n", url: "http://10.0.0.9:11434"}', "key"),
        ('{key: ollama, url: "http://10.0.0.9:11434\\n"}', "url"),
        ('{key: ollama, node: "spark1\\n", port: 11434}', "node"),
        ('{key: ollama, url: "http://10.0.0.9:11434", health_path: "/health\\n"}', "health_path"),
    ],
)
def test_a_services_override_ending_in_a_newline_is_refused(
    tmp_path: Path, entry: str, field: str
) -> None:
    path = tmp_path / "services-overrides.yaml"
    path.write_text(f"services:\n  - {entry}\n", encoding="utf-8")
    overrides, warnings = load_overrides(str(path))
    assert overrides == ()
    assert len(warnings) == 1 and f"{field} must not contain control characters" in warnings[0]
    # A description may span lines (a YAML block scalar keeps its final newline).
    path.write_text("services:\n  - key: ollama\n    description: |\n      two\n      lines\n")
    assert load_overrides(str(path))[0][0].description == "two\nlines\n"
