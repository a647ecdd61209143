"""triggerfish: a job supervisor for render farms and background work."""

from triggerfish.errors import TriggerfishError

__version__ = "0.1.0"

__all__ = ["Client", "TriggerfishError", "__version__"]


def __getattr__(name: str) -> object:
    # The client pulls in httpx; keep `import triggerfish` light for the pure core.
    if name == "Client":
        from triggerfish.client.client import Client

        return Client
    raise AttributeError(name)
