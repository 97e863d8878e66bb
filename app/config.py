"""Spark Control's configuration: the YAML file StartOS actions write, plus env overrides.

Contract (see CONFIG.md in the product docs):

* ``load_config(path, env)`` reads the file once. Every key is optional.
* A *soft* setting (vLLM port, container name, image, load timeout, upload limit) that is blank
  or invalid falls back to its default and adds a sentence to ``Config.warnings``; it never
  stops startup.
* A file that is not YAML, or whose structure is wrong, raises :class:`ConfigError` whose
  message is one line naming the field (``config: $.sparks[1].ssh_port: expected int <= 65535``).
* No file at all gives a ``Config`` with no Sparks (``Config.configured`` is False).
* Environment variables override the file: ``VLLM_PORT``, ``VLLM_CONTAINER``,
  ``DISABLED_SERVICES`` (comma list), ``MODELS_OVERRIDES``, ``HF_TOKEN``.

Nothing here is read at import time.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from app.cluster.commands import CONTROL_CHARS, refuse_control_chars
from app.config_rules import (
    BUILTIN_SERVICES as BUILTIN_SERVICES,
)
from app.config_rules import (
    DEFAULT_CONTAINER,
    DEFAULT_DATABASE,
    DEFAULT_HF_ENDPOINT,
    DEFAULT_HF_HOME,
    DEFAULT_IMAGE,
    DEFAULT_LAUNCH_DIR,
    DEFAULT_LOAD_TIMEOUT_S,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_VLLM_PORT,
    HOST,
    SERVICE_KEY,
    SPARK_NAME,
    SSH_USER,
    WebhookEvent,
)

# The patterns, defaults and ConfigError live in app.config_rules (app.config_soft uses them
# too); ConfigError is re-exported here with the functions that raise it.
from app.config_rules import ConfigError as ConfigError
from app.config_soft import apply_soft_settings, type_name
from app.config_soft import parse_service_list as parse_service_list


class Spark(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: Annotated[str, msgspec.Meta(pattern=SPARK_NAME)]
    host: Annotated[str, msgspec.Meta(pattern=HOST)]
    ssh_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 22
    ssh_user: Annotated[str, msgspec.Meta(pattern=SSH_USER)] = "nvidia"
    # The Spark's address on the ConnectX cluster link, as the other Sparks reach it: what
    # launch-cluster.sh's -n list and the head-to-worker weights copy use. None: the same as
    # ``host``. Spark Control itself never connects to it (it may be unreachable from here).
    cluster_address: Annotated[str, msgspec.Meta(pattern=HOST)] | None = None

    def __post_init__(self) -> None:
        # The same patterns serve the StartOS form's JavaScript, where $ is the end of the
        # string: they stay as they are, and this refuses what Python's $ lets through.
        refuse_control_chars(self, "name", "host", "ssh_user", "cluster_address")

    @property
    def peer_address(self) -> str:
        """Where the other Sparks reach this one: the cluster address, else ``host``."""
        return self.cluster_address or self.host


class SshSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    key_file: str = "/data/ssh/id_ed25519"
    known_hosts: str = "/data/ssh/known_hosts"


class VllmSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    port: int = DEFAULT_VLLM_PORT
    container: str = DEFAULT_CONTAINER
    image: str = DEFAULT_IMAGE
    launch_dir: str = DEFAULT_LAUNCH_DIR
    hf_home: str = DEFAULT_HF_HOME
    load_timeout_s: int = DEFAULT_LOAD_TIMEOUT_S
    # A Hugging Face token for gated models: sent to the head over SSH as an environment
    # variable (the Sparks' sshd must AcceptEnv HF_TOKEN), never on a command line.
    hf_token: Annotated[str, msgspec.Meta(max_length=512)] = ""
    # Where weights are downloaded from (the planner's API calls, and HF_ENDPOINT for the `hf`
    # CLI on the head); a mirror or, in the simulator, the fake hub.
    hf_endpoint: str = DEFAULT_HF_ENDPOINT

    def __repr__(self) -> str:  # never let the token reach a log line through repr()
        fields = ", ".join(
            f"{name}={'***' if name == 'hf_token' and value else value!r}"
            for name, value in msgspec.structs.asdict(self).items()
        )
        return f"VllmSettings({fields})"


class ServicesSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    disabled: tuple[Annotated[str, msgspec.Meta(pattern=SERVICE_KEY)], ...] = ()
    overrides_file: str = "/data/services-overrides.yaml"
    ssh_users: dict[
        Annotated[str, msgspec.Meta(pattern=SERVICE_KEY)],
        Annotated[str, msgspec.Meta(pattern=SSH_USER)],
    ] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        # As Spark's: the patterns' $ also matches before a final newline.
        names = (*self.disabled, *self.ssh_users, *self.ssh_users.values())
        if any(CONTROL_CHARS.search(name) for name in names):
            raise ValueError("service keys and SSH users must not contain control characters")


class WebhookSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    url: Annotated[str, msgspec.Meta(max_length=2048)] = ""
    # Signs X-Spark-Signature with the string's UTF-8 bytes (the seed's rule). The Standard
    # Webhooks signature uses the same bytes, or, for a "whsec_<base64>" secret, the decoded
    # base64 (see docs/webhooks.md).
    secret: Annotated[str, msgspec.Meta(max_length=512)] = ""
    events: tuple[WebhookEvent, ...] = ("swap_complete", "swap_failed")
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 0

    def __repr__(self) -> str:  # never let a secret reach a log line through repr()
        return f"WebhookSettings(url={self.url!r}, secret={'***' if self.secret else ''!r})"


class StorageSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The history database (SQLite, WAL) and how long it keeps things."""

    database: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)] = msgspec.field(
        default_factory=lambda: DEFAULT_DATABASE
    )
    history_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 90  # swaps, downloads, deliveries
    gpu_days: Annotated[int, msgspec.Meta(ge=1, le=90)] = 7  # one-minute GPU averages


class ModelsSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    catalog_file: str = ""
    overrides_file: str = "/data/models-overrides.yaml"
    local_roots: tuple[str, ...] = ("/home/nvidia/models",)


class LimitsSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB


# Loopback, and the StartOS 0.4 bridge gateway: StartOS's reverse proxy connects to the service
# container from the host side of lxcbr0, 10.0.3.1 (docs/CONFIG-ADDITIONS.md).
DEFAULT_TRUSTED_PROXIES = ("127.0.0.0/8", "::1", "10.0.3.1")
# An allowed_hosts entry: "*", "*.domain" or a host name / IP literal, optionally with a port.
ALLOWED_HOST = re.compile(
    r"^(\*|(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_.-]{0,252}[A-Za-z0-9_])?\.?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?)$"
)
API_KEY_NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.@-]{0,63}$"


class ApiKey(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An API key: only its SHA-256 is configured, never the key itself. ``scope``: ``read``
    (GET on /api, and /v1), ``operate`` (+ swaps, cancels, the lock, schedules), ``admin``
    (+ catalog changes and deleting weights)."""

    name: Annotated[str, msgspec.Meta(pattern=API_KEY_NAME)]
    key_sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{64}$")]
    scope: Literal["read", "operate", "admin"] = "read"

    def __repr__(self) -> str:
        return f"ApiKey(name={self.name!r}, scope={self.scope!r})"


class ServerSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``allowed_hosts``: names served besides the defaults (``app.web.hosts``);
    ``trusted_proxies``: peers whose X-Forwarded-* headers count; ``api_keys``: when
    non-empty, /api and /v1 need a key (``app.web.auth``)."""

    allowed_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES
    api_keys: tuple[ApiKey, ...] = ()


class SwapSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How a swap treats the clients of the model it replaces and of the one it brings
    (docs/swaps.md)."""

    # Seconds a swap waits for in-flight requests before it stops the model; 0 cuts at once.
    drain_timeout_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 30.0
    # New requests for the incoming model wait for it (at most this many, this long); 0 s
    # answers 503 at once, as before holding existed.
    hold_max_requests: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 256
    hold_timeout_s: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 600.0
    # After a failed swap that had stopped the previous model: relaunch it, or leave it stopped.
    on_failure: Literal["rollback", "stay_stopped"] = "rollback"
    # A /v1 request naming a catalog model that is not served starts a swap to it (opt-in).
    on_request: bool = False
    # A model swapped in on request stays at least this long before a request may replace it.
    min_dwell_s: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 300.0


class WatchdogSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Relaunching a served model that died after it was ready (docs/swaps.md)."""

    enabled: bool = True
    # How long a vLLM that still runs but fails its health checks may stay down before a
    # relaunch (a busy head may miss a probe); one that exited or logged a fatal line is
    # relaunched at once.
    grace_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0
    # Restarts allowed in ``window_s`` before the watchdog gives up; the first waits
    # ``backoff_s``, each next one twice as long.
    max_restarts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    window_s: Annotated[float, msgspec.Meta(ge=1, le=86400)] = 600.0
    backoff_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0


class Config(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The whole configuration. ``warnings`` and ``source`` are derived, never read from YAML."""

    sparks: tuple[Spark, ...] = ()
    ssh: SshSettings = msgspec.field(default_factory=SshSettings)
    vllm: VllmSettings = msgspec.field(default_factory=VllmSettings)
    services: ServicesSettings = msgspec.field(default_factory=ServicesSettings)
    webhook: WebhookSettings = msgspec.field(default_factory=WebhookSettings)
    models: ModelsSettings = msgspec.field(default_factory=ModelsSettings)
    limits: LimitsSettings = msgspec.field(default_factory=LimitsSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    swap: SwapSettings = msgspec.field(default_factory=SwapSettings)
    watchdog: WatchdogSettings = msgspec.field(default_factory=WatchdogSettings)
    warnings: tuple[str, ...] = ()
    source: str | None = None

    @property
    def configured(self) -> bool:
        """True when at least one Spark is configured (the first is the head)."""
        return bool(self.sparks)

    @property
    def head(self) -> Spark | None:
        return self.sparks[0] if self.sparks else None

    def spark(self, name: str) -> Spark | None:
        return next((s for s in self.sparks if s.name == name), None)


def _format_validation_error(err: msgspec.ValidationError) -> str:
    """msgspec says ``Expected `int` <= 65535 - at `$.sparks[1].ssh_port```; we print
    ``config: $.sparks[1].ssh_port: expected int <= 65535``."""
    text = str(err)
    match = re.match(r"^(?P<msg>.*?) - at `(?P<path>[^`]*)`$", text, re.S)
    if match:
        msg = match["msg"].replace("`", "")
        return f"config: {match['path']}: {msg[:1].lower()}{msg[1:]}"
    msg = text.replace("`", "")
    return f"config: $: {msg[:1].lower()}{msg[1:]}"


def _check_unique_sparks(config: Config) -> None:
    seen: set[str] = set()
    for index, spark in enumerate(config.sparks):
        if spark.name in seen:
            raise ConfigError(
                f"config: $.sparks[{index}].name: duplicate Spark name {spark.name!r}"
            )
        seen.add(spark.name)
    # Two Sparks cannot share a cluster-link address: the -n list would name one node twice
    # and the weights copy would go to the wrong one. Only explicit cluster addresses are
    # compared (hosts alone may repeat, with distinct SSH ports, as before).
    for index, spark in enumerate(config.sparks):
        for earlier in config.sparks[:index]:
            if spark.cluster_address is None and earlier.cluster_address is None:
                continue
            if spark.peer_address.lower() == earlier.peer_address.lower():
                field = "cluster_address" if spark.cluster_address else "host"
                raise ConfigError(
                    f"config: $.sparks[{index}].{field}: {spark.peer_address!r} is already "
                    f"the cluster-link address of Spark {earlier.name!r}; each Spark needs "
                    "its own"
                )


def _check_server(server: ServerSettings) -> None:
    for index, entry in enumerate(server.allowed_hosts):
        if not ALLOWED_HOST.fullmatch(entry.strip()):
            raise ConfigError(
                f"config: $.server.allowed_hosts[{index}]: {entry[:60]!r} is not a host name, "
                "'*.domain' or '*'"
            )
    for index, entry in enumerate(server.trusted_proxies):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"config: $.server.trusted_proxies[{index}]: {entry[:60]!r} is not an IP "
                "address or network"
            ) from None
    names = [key.name for key in server.api_keys]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ConfigError(
                f"config: $.server.api_keys[{index}].name: duplicate key name {name!r}"
            )


def parse_config(
    data: Any, env: Mapping[str, str] | None = None, *, source: str | None = None
) -> Config:
    """Validate already-parsed YAML ``data`` (a mapping or None) into a :class:`Config`."""
    env = os.environ if env is None else env
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config: $: expected object, got {type_name(data)}")
    data = {key: (dict(value) if isinstance(value, dict) else value) for key, value in data.items()}
    for derived in ("warnings", "source"):
        if derived in data:
            raise ConfigError(f"config: $: object contains unknown field {derived!r}")
    warnings: list[str] = []
    apply_soft_settings(data, env, warnings)
    try:
        config = msgspec.convert(data, Config, strict=True)
    except msgspec.ValidationError as err:
        raise ConfigError(_format_validation_error(err)) from None
    _check_unique_sparks(config)
    _check_server(config.server)
    return msgspec.structs.replace(config, warnings=tuple(warnings), source=source)


def load_config(
    path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
) -> Config:
    """Read the config file at ``path``; a missing file (or ``None``) means no Sparks configured.

    Raises :class:`ConfigError` for a file that is not YAML or has a wrong structure.
    """
    env = os.environ if env is None else env
    if path is None:
        return parse_config({}, env)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        config = parse_config({}, env)
        return msgspec.structs.replace(config, source=str(file))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config: cannot read {file}: {err.__class__.__name__}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config: $: not valid YAML{where}") from None
    return parse_config(data, env, source=str(file))


def config_to_dict(config: Config) -> dict[str, Any]:
    """The YAML-shaped mapping of ``config`` (derived fields dropped), e.g. to write a file."""
    data: dict[str, Any] = msgspec.to_builtins(config)
    data.pop("warnings", None)
    data.pop("source", None)
    return data
