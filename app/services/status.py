"""The status cache: the last probe result of every Spark and enabled service, in memory.

``/api/status`` reads it and so never waits on the network. The probes write it through
``record_spark`` / ``record_service``, which also:

* publish an event when something changes state — ``service`` (``{key, state, latency_ms,
  detail}``) when a service goes up or down, ``spark`` (``{name, reachable, detail}``) when a
  Spark becomes reachable or unreachable; the first result after startup counts as a change;
* feed the Prometheus gauges (``spark_service_up``, the GPU gauges per Spark).

A disabled service has a fixed ``disabled`` entry and is never recorded (it is never probed).
Everything here is synchronous and non-blocking; callers are the event loop's tasks.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from app.clock import Clock, isoformat
from app.cluster.gpu import GpuSample
from app.config import Config
from app.events import EventBus
from app.metrics import Metrics
from app.services.probes import ServiceProbe, SparkProbe
from app.services.registry import Service, ServiceRegistry

# "loading": the head's vLLM does not answer yet because a swap is loading it (real vLLM
# refuses connections until its start completes): not "down".
ServiceStateName = Literal["up", "down", "loading", "disabled"]
NOT_CHECKED = "not checked yet"


class ServiceStatus(msgspec.Struct, frozen=True):
    key: str
    name: str
    kind: str
    state: ServiceStateName
    latency_ms: float | None
    detail: str
    checked_at: str | None
    models: tuple[str, ...] = ()


class SparkStatus(msgspec.Struct, frozen=True):
    name: str
    host: str
    role: Literal["head", "worker"]
    reachable: bool | None  # None until the first probe answers (or times out)
    gpu: GpuSample | None
    detail: str
    checked_at: str | None
    # Where the other Sparks reach this one (launch-cluster.sh's -n, the weights copy); None
    # when the config gives no cluster_address and ``host`` is used for that too.
    cluster_address: str | None = None


def _initial_service(service: Service) -> ServiceStatus:
    if service.disabled:
        return ServiceStatus(
            service.key,
            service.name,
            service.kind,
            "disabled",
            None,
            "disabled in the config",
            None,
        )
    if service.url is None:
        # Nothing to probe (its Spark is not configured): down from the start, and stays so.
        where = f"Spark {service.node!r}" if service.node else "its Spark"
        detail = f"no address: {where} is not configured"
        return ServiceStatus(service.key, service.name, service.kind, "down", None, detail, None)
    return ServiceStatus(service.key, service.name, service.kind, "down", None, NOT_CHECKED, None)


class StatusCache:
    def __init__(
        self,
        config: Config,
        registry: ServiceRegistry,
        *,
        events: EventBus,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._events = events
        self._metrics = metrics
        self._clock = clock
        self._services = {s.key: _initial_service(s) for s in registry.all()}
        self._probed_services: set[str] = set()
        self._sparks = {
            spark.name: SparkStatus(
                name=spark.name,
                host=spark.host,
                role="head" if index == 0 else "worker",
                reachable=None,
                gpu=None,
                detail=NOT_CHECKED,
                checked_at=None,
                cluster_address=spark.cluster_address,
            )
            for index, spark in enumerate(config.sparks)
        }

    def services(self) -> list[ServiceStatus]:
        """Every service in registry order, disabled ones with state ``disabled``."""
        return list(self._services.values())

    def service(self, key: str) -> ServiceStatus | None:
        return self._services.get(key)

    def sparks(self) -> list[SparkStatus]:
        """Every configured Spark, head first."""
        return list(self._sparks.values())

    def record_service(
        self, key: str, probe: ServiceProbe, *, loading: str | None = None
    ) -> ServiceStatus | None:
        """Store a probe result for an enabled service; returns the new status (None for an
        unknown or disabled key, which is ignored). ``loading`` names the model a swap is
        loading there: a probe that finds nothing answering is then ``loading``, not down."""
        old = self._services.get(key)
        if old is None or old.state == "disabled":
            return None
        state: ServiceStateName = "up" if probe.up else ("loading" if loading else "down")
        new = msgspec.structs.replace(
            old,
            state=state,
            latency_ms=probe.latency_ms,
            detail=f"loading {loading} (a swap is starting it)"
            if state == "loading"
            else probe.detail,
            checked_at=isoformat(self._clock.now()),
            models=probe.models,
        )
        self._services[key] = new
        self._metrics.service_state(key, probe.up)
        first = key not in self._probed_services
        self._probed_services.add(key)
        if first or new.state != old.state:
            self._events.publish(
                "service",
                {
                    "key": key,
                    "state": new.state,
                    "latency_ms": new.latency_ms,
                    "detail": new.detail,
                },
            )
        return new

    def record_spark(self, name: str, probe: SparkProbe) -> SparkStatus | None:
        """Store a probe result for a configured Spark; returns its new status."""
        old = self._sparks.get(name)
        if old is None:
            return None
        new = msgspec.structs.replace(
            old,
            reachable=probe.reachable,
            gpu=probe.gpu,
            detail=probe.detail,
            checked_at=isoformat(self._clock.now()),
        )
        self._sparks[name] = new
        gpu = probe.gpu
        if gpu is not None:
            self._metrics.gpu_sample(
                name, gpu.utilization_pct, gpu.memory_used_mib, gpu.memory_total_mib
            )
        else:
            self._metrics.gpu_unavailable(name)
        if new.reachable != old.reachable:
            self._events.publish(
                "spark", {"name": name, "reachable": new.reachable, "detail": new.detail}
            )
        return new
