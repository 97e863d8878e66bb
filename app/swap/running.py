"""What the head serves: the one owner of the served model's state.

The swap engine and the status monitor write to it; the proxy, ``/api/status`` and the model
routes read it. It also owns the head's vLLM URL (computed once, from the config) and the
"a real swap is in progress" flag the proxy and the weights-delete rule consult.

States (``ModelState``) and the only transitions allowed between them (``ALLOWED``)::

    unknown ──► stopped | loading | ready        (discovery at startup, or the first swap)
    stopped ──► loading | ready                  (a launch; a model someone started by hand)
    loading ──► ready | failed | stopped         (verified; failed to load; cancelled)
    ready   ──► ready | failed | stopped         (another model seen; two lost probes; a swap)
    failed  ──► ready | stopped                  (a recovered engine; the next swap)

A change to the same state with another model (``ready`` → ``ready``) is a transition too; a
change to an equal value is no change at all. Anything else raises :class:`ForbiddenTransition`:
a bug, never a user's doing. Every change is published once as a ``model`` event.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

import httpx
import msgspec

from app.catalog.store import Catalog
from app.config import Config
from app.events import EventBus
from app.services import vllm
from app.swap.jobs import Phase

log = logging.getLogger("spark_control.swap")

# A ``ready`` model becomes ``failed`` after this many failed probes in a row (one lost probe
# on a busy head is not a crash).
DOWN_PROBES_BEFORE_FAILED = 2


class ModelState(enum.StrEnum):
    UNKNOWN = "unknown"
    STOPPED = "stopped"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


S = ModelState
ALLOWED: dict[ModelState, frozenset[ModelState]] = {
    S.UNKNOWN: frozenset({S.STOPPED, S.LOADING, S.READY}),
    S.STOPPED: frozenset({S.LOADING, S.READY}),
    S.LOADING: frozenset({S.READY, S.FAILED, S.STOPPED}),
    S.READY: frozenset({S.READY, S.FAILED, S.STOPPED}),
    S.FAILED: frozenset({S.READY, S.STOPPED}),
}


class ForbiddenTransition(RuntimeError):
    """A change of the served model that the state table does not allow (a bug)."""

    def __init__(self, old: ModelState, new: ModelState) -> None:
        super().__init__(f"the served model cannot go from {old.value} to {new.value}")
        self.old = old
        self.new = new


class RunningModel(msgspec.Struct, frozen=True):
    """One snapshot of what the head serves (``key`` is None when the catalog does not know
    the served name, or nothing is served)."""

    key: str | None
    state: ModelState
    served_name: str | None = None

    @property
    def serving(self) -> bool:
        """The head answers with this model."""
        return self.state == ModelState.READY

    def occupies(self, key: str) -> bool:
        """``key`` is the model the head serves or is loading (its weights are in use)."""
        return self.key == key and self.state in (ModelState.READY, ModelState.LOADING)


def head_url(config: Config) -> str | None:
    """The head's vLLM base URL, or None when no Spark is configured."""
    head = config.head
    return vllm.base_url(head.host, config.vllm.port) if head is not None else None


class ServedModel:
    """The served model's state machine. Synchronous writers (``set``/``observe_health``)
    never block; ``discover`` and ``reconcile_after_failure`` make one bounded HTTP probe."""

    def __init__(self, config: Config, *, catalog: Callable[[], Catalog], events: EventBus) -> None:
        self.url = head_url(config)
        self._catalog = catalog
        self._events = events
        self._current = RunningModel(key=None, state=ModelState.UNKNOWN)
        self._version = 0  # bumped on every change: "has it changed since I looked?"
        self._swap_job: str | None = None
        self._down_probes = 0  # consecutive failed health probes of the head
        # Called synchronously with (old, new) after every change (the crash watchdog).
        self.listeners: list[Callable[[RunningModel, RunningModel], None]] = []

    # --- reading -----------------------------------------------------------------------------

    @property
    def current(self) -> RunningModel:
        return self._current

    @property
    def version(self) -> int:
        """Grows by one on every change (a probe compares it to the value it started with)."""
        return self._version

    def loading(self) -> str | None:
        """The model a swap is loading on the head now (its served name), else None."""
        current = self._current
        if current.state != ModelState.LOADING:
            return None
        return current.served_name or current.key or "a model"

    @property
    def swapping(self) -> bool:
        """A real swap is in progress (it alone decides the served model meanwhile)."""
        return self._swap_job is not None

    # --- writing -----------------------------------------------------------------------------

    def set(self, key: str | None, state: ModelState, served_name: str | None = None) -> None:
        """Change what the head serves; raises ForbiddenTransition outside ``ALLOWED``."""
        new = RunningModel(key=key, state=state, served_name=served_name)
        old = self._current
        if new == old:
            return
        if state not in ALLOWED[old.state]:
            raise ForbiddenTransition(old.state, state)
        self._current = new
        self._version += 1
        self._events.publish("model", new)
        for listener in self.listeners:
            listener(old, new)

    def serving(self, served_name: str) -> None:
        """The head answers healthy and lists ``served_name``: that model is ready (with its
        catalog key when the catalog knows the name)."""
        model = self._catalog().by_served_name(served_name)
        self.set(model.key if model else None, ModelState.READY, served_name)

    def swap_began(self, job_id: str) -> None:
        self._swap_job = job_id

    def swap_ended(self, job_id: str) -> None:
        if self._swap_job == job_id:
            self._swap_job = None

    def observe_health(self, seen_version: int, up: bool, models: tuple[str, ...]) -> None:
        """A status probe's verdict on the head's vLLM, probed when ``version`` was
        ``seen_version``.

        Outside a swap, a ``ready`` model whose server fails ``DOWN_PROBES_BEFORE_FAILED``
        probes in a row becomes ``failed``; a healthy server that lists a model is reported as
        serving it (``ready``), whatever was reported before — a recovered engine, or a model
        someone started by hand. Ignored while a swap runs, or when the served model changed
        during the probe (the verdict may predate that change; the swap's own checks decide)."""
        if self.swapping or self._version != seen_version:
            return
        seen = self._current
        if not up:
            self._down_probes += 1
            if seen.state == ModelState.READY and self._down_probes >= DOWN_PROBES_BEFORE_FAILED:
                self.set(seen.key, ModelState.FAILED, seen.served_name)
            return
        self._down_probes = 0
        if models and (seen.state != ModelState.READY or seen.served_name not in models):
            self.serving(seen.served_name if seen.served_name in models else models[0])

    # --- asking the head ---------------------------------------------------------------------

    async def _probe(self, http: httpx.AsyncClient, timeout: float) -> vllm.VllmProbe | None:
        if self.url is None:
            return None
        return await vllm.probe_vllm_endpoint(http, self.url, timeout=timeout)

    async def discover(self, http: httpx.AsyncClient, *, timeout: float) -> RunningModel:
        """Ask the head what it serves (after a restart of Spark Control). The answer is
        dropped when the served model changed meanwhile (a swap began: it knows better)."""
        seen = self._version
        probe = await self._probe(http, timeout)
        if probe is None or self._version != seen:
            return self._current
        if probe.up and probe.models:
            self.serving(probe.models[0])
        elif not probe.up and probe.latency_ms is not None and self._current.state == S.UNKNOWN:
            self.set(None, ModelState.LOADING)
        log.info(
            "running model at startup: %s (%s)",
            self._current.key or self._current.served_name,
            self._current.state.value,
        )
        return self._current

    async def reconcile_after_failure(
        self, http: httpx.AsyncClient, *, timeout: float, phase: Phase | None, model_key: str
    ) -> None:
        """After a failed swap (which reached ``phase``), report what the head really serves:
        a launch whose SSH connection dropped may still have started the model, a preflight
        failure left the previous one running. Bounded by ``timeout``; never raises."""
        try:
            probe = await self._probe(http, timeout)
        except Exception:
            log.exception("could not probe the head after a failed swap to %s", model_key)
            return
        if probe is not None and probe.up and probe.models:
            self.serving(probe.models[0])
        elif phase in (None, Phase.PREFLIGHT):
            return  # nothing was touched; whatever ran before is reported as it was
        elif phase == Phase.STOPPING:
            self.set(None, ModelState.STOPPED)
        else:
            model = self._catalog().get(model_key)
            self.set(model_key, ModelState.FAILED, model.served_name if model else None)
