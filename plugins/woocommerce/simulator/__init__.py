"""A WooCommerce REST API (wc/v3) simulator that behaves like the recorded WooCommerce 10.0.2 store.

Standalone: nothing here imports ``hub`` or other plugins. See docs/simulator.md.
"""

from .auth import oauth_signature
from .faults import Faults
from .server import RunningSimulator, run_simulator
from .state import SimulatedStore
from .webhooks import sign as webhook_signature

__all__ = [
    "Faults",
    "RunningSimulator",
    "SimulatedStore",
    "oauth_signature",
    "run_simulator",
    "webhook_signature",
]
