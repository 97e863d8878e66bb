"""The served model's state machine: only the table's transitions happen, every change is one
``model`` event, and probes of the head move it the way a user watching the dashboard expects."""

from __future__ import annotations

import itertools

import httpx
import pytest

from app.catalog.store import Catalog, load_base_catalog, make_catalog
from app.config import parse_config
from app.events import EventBus
from app.swap.jobs import Phase
from app.swap.running import (
    ALLOWED,
    DOWN_PROBES_BEFORE_FAILED,
    ForbiddenTransition,
    ModelState,
    RunningModel,
    ServedModel,
    head_url,
)

S = ModelState
CATALOG = make_catalog(load_base_catalog(""))
GEMMA = CATALOG.get("gemma-3-27b")


def catalog() -> Catalog:
    return CATALOG


def served_model(events: EventBus | None = None, host: str = "10.0.0.1") -> ServedModel:
    config = parse_config({"sparks": [{"name": "spark1", "host": host}]}, {})
    return ServedModel(config, catalog=catalog, events=events or EventBus())


def put(model: ServedModel, state: ModelState) -> None:
    """Drive ``model`` into ``state`` along allowed transitions."""
    path = {
        S.UNKNOWN: [],
        S.STOPPED: [S.STOPPED],
        S.LOADING: [S.STOPPED, S.LOADING],
        S.READY: [S.READY],
        S.FAILED: [S.STOPPED, S.LOADING, S.FAILED],
    }[state]
    for step in path:
        model.set("gemma-3-27b" if step != S.STOPPED else None, step, "gemma")


def test_every_state_has_a_row_and_nothing_returns_to_unknown() -> None:
    assert set(ALLOWED) == set(ModelState)
    assert all(S.UNKNOWN not in targets for targets in ALLOWED.values())


@pytest.mark.parametrize(("old", "new"), list(itertools.product(ModelState, ModelState)))
def test_a_transition_happens_exactly_when_the_table_allows_it(
    old: ModelState, new: ModelState
) -> None:
    model = served_model()
    put(model, old)
    assert model.current.state == old
    before = model.version
    if new in ALLOWED[old]:
        model.set("other-key", new, "other")
        assert model.current == RunningModel("other-key", new, "other")
        assert model.version == before + 1
    else:
        with pytest.raises(ForbiddenTransition, match=f"from {old.value} to {new.value}"):
            model.set("other-key", new, "other")
        assert model.current.state == old and model.version == before


async def test_each_change_is_published_once_and_an_equal_value_is_no_change() -> None:
    bus = EventBus()
    model = served_model(bus)
    async with bus.subscribe() as sub:
        model.set(None, S.STOPPED)
        model.set(None, S.STOPPED)
        model.set("gemma-3-27b", S.LOADING, "gemma")
        first, second = await sub.next(1), await sub.next(1)
        with pytest.raises(TimeoutError):
            await sub.next(0.01)
    assert (first.kind, first.data) == (
        "model",
        {"key": None, "state": "stopped", "served_name": None},
    )
    assert second.data == {"key": "gemma-3-27b", "state": "loading", "served_name": "gemma"}


def test_the_head_url_is_computed_once_from_the_config() -> None:
    assert served_model().url == "http://10.0.0.1:8888"
    assert served_model(host="fd00::1").url == "http://[fd00::1]:8888"
    assert head_url(parse_config({}, {})) is None


def test_a_ready_model_fails_only_after_consecutive_lost_probes() -> None:
    model = served_model()
    assert GEMMA is not None
    model.set(GEMMA.key, S.READY, GEMMA.served_name)
    for _ in range(DOWN_PROBES_BEFORE_FAILED - 1):
        model.observe_health(model.version, False, ())
        model.observe_health(model.version, True, (GEMMA.served_name,))  # answers again
    assert model.current.state == S.READY
    for _ in range(DOWN_PROBES_BEFORE_FAILED):
        model.observe_health(model.version, False, ())
    assert model.current == RunningModel(GEMMA.key, S.FAILED, GEMMA.served_name)
    model.observe_health(model.version, True, (GEMMA.served_name,))
    assert model.current == RunningModel(GEMMA.key, S.READY, GEMMA.served_name)


def test_a_model_started_by_hand_is_reported_with_its_catalog_key_or_only_its_name() -> None:
    model = served_model()
    assert GEMMA is not None
    model.observe_health(model.version, True, (GEMMA.served_name,))
    assert model.current == RunningModel(GEMMA.key, S.READY, GEMMA.served_name)
    model.observe_health(model.version, True, ("someone/else",))
    assert model.current == RunningModel(None, S.READY, "someone/else")


def test_probes_are_ignored_during_a_swap_and_when_they_predate_a_change() -> None:
    model = served_model()
    model.swap_began("job1")
    assert model.swapping
    model.observe_health(model.version, True, ("someone/else",))
    assert model.current.state == S.UNKNOWN
    model.swap_ended("other-job")
    assert model.swapping
    model.swap_ended("job1")
    assert not model.swapping
    stale = model.version
    model.set(None, S.STOPPED)
    model.observe_health(stale, True, ("someone/else",))
    assert model.current.state == S.STOPPED


def vllm_head(models: list[str] | None, status: int = 200) -> httpx.AsyncClient:
    """An HTTP client whose head answers /health with ``status`` and lists ``models``."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(status)
        return httpx.Response(200, json={"data": [{"id": m} for m in models or []]})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


async def test_discovery_reports_what_the_head_serves_or_that_it_loads() -> None:
    assert GEMMA is not None
    async with vllm_head([GEMMA.served_name]) as http:
        model = served_model()
        found = await model.discover(http, timeout=1)
        assert found == RunningModel(GEMMA.key, S.READY, GEMMA.served_name)
    async with vllm_head(None, status=503) as http:
        model = served_model()
        assert (await model.discover(http, timeout=1)).state == S.LOADING


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        (None, S.LOADING),
        (Phase.PREFLIGHT, S.LOADING),
        (Phase.STOPPING, S.STOPPED),
        (Phase.LOADING, S.FAILED),
    ],
)
async def test_after_a_failed_swap_the_phase_reached_decides_when_the_head_is_down(
    phase: Phase | None, expected: ModelState
) -> None:
    model = served_model()
    model.set(None, S.STOPPED)
    model.set("gemma-3-27b", S.LOADING, "gemma")
    if phase == Phase.STOPPING:
        model.set(None, S.STOPPED)
    async with vllm_head(None, status=503) as http:
        await model.reconcile_after_failure(http, timeout=1, phase=phase, model_key="gemma-3-27b")
    assert model.current.state == expected


async def test_after_a_failed_swap_a_healthy_head_is_reported_as_serving() -> None:
    assert GEMMA is not None
    model = served_model()
    model.set(None, S.STOPPED)
    async with vllm_head([GEMMA.served_name]) as http:
        await model.reconcile_after_failure(
            http, timeout=1, phase=Phase.LAUNCHING, model_key="other"
        )
    assert model.current == RunningModel(GEMMA.key, S.READY, GEMMA.served_name)
