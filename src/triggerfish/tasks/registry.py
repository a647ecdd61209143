"""Services and target resolution, on the workers (in the process that runs tasks).

``register_service(name, obj_or_factory)`` names an object whose marked methods are targets
``"name:method"``. A class or a function is a factory: it is called once, when a task first
needs the service. The module named by ``TRIGGERFISH_TASK_IMPORTS`` (on the worker) is the
place to register them. A target whose first part is not a service is imported as a module.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable
from typing import Any

from triggerfish.errors import TriggerfishError
from triggerfish.tasks.marker import is_task

_services: dict[str, Any] = {}
_factories: dict[str, Callable[[], Any]] = {}
_lock = threading.Lock()


class TargetError(TriggerfishError):
    """A target that cannot be run: missing, not callable, or not marked with ``@task``."""

    code = "bad_target"
    http_status = 422


def register_service(name: str, obj_or_factory: Any) -> None:
    """Make ``name`` a service: ``"name:method"`` calls ``method`` of that object.

    A class or a function is called (once, without arguments) on first use; anything else is
    the service itself. Registering a name again replaces it.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise TargetError(f"service name {name!r} must be an identifier", field="service")
    with _lock:
        _services.pop(name, None)
        _factories.pop(name, None)
        if inspect.isclass(obj_or_factory) or inspect.isfunction(obj_or_factory):
            _factories[name] = obj_or_factory
        else:
            _services[name] = obj_or_factory


def unregister_service(name: str) -> None:
    with _lock:
        _services.pop(name, None)
        _factories.pop(name, None)


def service(name: str) -> Any | None:
    """The service ``name`` (built now if it has a factory), or None."""
    with _lock:
        if name in _services:
            return _services[name]
        factory = _factories.get(name)
    if factory is None:
        return None
    obj = factory()
    with _lock:
        if _factories.get(name) is factory:
            _services[name] = obj
            del _factories[name]
    return obj


def _attr(obj: Any, path: str, target: str, where: str) -> Any:
    for part in path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"target {target!r}: {where} has no attribute {part!r}") from None
    return obj


def resolve(target: str) -> Callable[..., Any]:
    """The callable of ``target``; TargetError saying why it cannot be run."""
    head, sep, path = target.partition(":")
    if not sep or not head or not path:
        raise TargetError(f"target {target!r}: expected 'package.module:function'")
    svc = service(head) if "." not in head else None
    if svc is not None:
        fn = _attr(svc, path, target, f"service {head!r}")
    else:
        try:
            module = importlib.import_module(head)
        except ModuleNotFoundError as exc:
            raise TargetError(
                f"target {target!r}: no service {head!r} is registered and no module "
                f"{exc.name or head!r} can be imported"
            ) from None
        except Exception as exc:
            raise TargetError(f"target {target!r}: importing {head!r} failed: {exc!r}") from None
        fn = _attr(module, path, target, f"module {head!r}")
    if not callable(fn):
        raise TargetError(f"target {target!r} is not callable ({type(fn).__name__})")
    if not is_task(fn):
        raise TargetError(
            f"target {target!r} is not marked with @triggerfish.tasks.task; only marked "
            "callables run as tasks"
        )
    out: Callable[..., Any] = fn
    return out
