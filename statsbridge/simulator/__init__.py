"""A wire-faithful stand-in for a Genesys tenant's Authentication, Statistics and notifications APIs.

It imports nothing else of this project: it stands for a remote service.
"""

from .app import RunningSimulator, SimulatorThread, create_app, start_simulator
from .config import SimulatorConfig

__all__ = ["RunningSimulator", "SimulatorConfig", "SimulatorThread", "create_app", "start_simulator"]
