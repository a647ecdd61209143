"""The Python client of the supervisor's HTTP API."""

from triggerfish.client.client import Client
from triggerfish.client.errors import ClientError, WaitTimeout
from triggerfish.client.targets import Target, parse_target

__all__ = ["Client", "ClientError", "Target", "WaitTimeout", "parse_target"]
