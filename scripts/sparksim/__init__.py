"""The Spark simulator: simulated DGX Sparks behind real SSH, for the demo and the tests.

``python -m scripts.sparksim --nodes 2 --config-out PATH`` runs one in the foreground;
``SparkSim`` is the async API (see ``sim``). Faults are documented in ``faults``.

The names are exported lazily: the fakes (``docker``, ``nvidia-smi``, ``launch-cluster.sh``)
import modules of this package under ``python -S`` and must not pay for asyncssh or PyYAML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scripts.sparksim.faults import FAULTS
    from scripts.sparksim.sim import SimNode, SparkSim

__all__ = ["FAULTS", "SimNode", "SparkSim"]


def __getattr__(name: str) -> Any:
    if name in ("SparkSim", "SimNode"):
        from scripts.sparksim import sim

        return getattr(sim, name)
    if name == "FAULTS":
        from scripts.sparksim.faults import FAULTS

        return FAULTS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
