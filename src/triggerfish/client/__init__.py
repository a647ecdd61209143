"""The Python client of the supervisor's HTTP API."""

from triggerfish.client.client import Client
from triggerfish.client.errors import CannotFinish, ClientError, Unreachable, WaitTimeout
from triggerfish.client.targets import Target, parse_target

__all__ = [
    "CannotFinish",
    "Client",
    "ClientError",
    "Target",
    "Unreachable",
    "WaitTimeout",
    "parse_target",
]
