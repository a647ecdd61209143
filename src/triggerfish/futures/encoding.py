"""Calls, results and exceptions as JSON where they can be, as pickles where allowed.

The wire format is ``triggerfish.model.pyfutures``'s. A callable travels as ``module:qualname``
when that name imports to the very same object (``builtins:pow``, ``math:sqrt``, a function of
an installed module), otherwise pickled. Arguments travel as JSON when they come back equal and
of the same types (a tuple does not: it would come back a list), otherwise pickled. A result
that is not exact JSON is pickled when the job says so (``pickle_results``); without pickle, a
JSON value comes back as JSON's nearest (a tuple as a list), anything else fails the call with
a ``TypeError`` that says why.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import math
import pickle
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from triggerfish.futures.errors import PickleRefused, RemoteError

JSON = dict[str, Any]
Call = tuple[Sequence[Any], Mapping[str, Any]]
_SCALARS = (str, int, bool, type(None))
NEED_PICKLE = (
    "start the supervisor with --allow-pickle (TRIGGERFISH_ALLOW_PICKLE=1) to send it pickled"
)


# ------------------------------------------------------------------ names of callables


def resolve(ref: str) -> Any:
    """The object named ``module:qualname`` (ImportError / AttributeError when it is not)."""
    module, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def reference(fn: Any) -> str | None:
    """``module:qualname`` of ``fn`` when that name imports to ``fn`` itself, else None (a
    lambda, a closure, a bound method, anything of ``__main__``)."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or module == "__main__":
        return None
    if "<" in qualname:  # <lambda>, <locals>
        return None
    ref = f"{module}:{qualname}"
    try:
        return ref if resolve(ref) is fn else None
    except (ImportError, AttributeError):
        return None


def _pickled(value: Any) -> str:
    """cloudpickle's: lambdas and closures too (by value); what imports, by reference."""
    import cloudpickle  # (only when something needs pickle: the job type's loop stays lean)

    data = cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return base64.b64encode(data).decode()


def _unpickled(text: str) -> Any:
    return pickle.loads(base64.b64decode(text))  # (only where the supervisor allows pickles)


def encode_fn(fn: Callable[..., Any], allow_pickle: bool) -> JSON:
    """The job package's part naming the callable: ``fn`` or ``fn_pickle``."""
    ref = reference(fn)
    if ref is not None:
        return {"fn": ref}
    what = getattr(fn, "__qualname__", None) or repr(fn)
    if not allow_pickle:
        raise PickleRefused(
            f"{what} cannot be named as module:qualname on the workers (a lambda, a closure, "
            f"or code of __main__), so it needs pickle, which this supervisor refuses: "
            f"{NEED_PICKLE}, or move it to a module the workers import",
            field="fn",
        )
    try:
        return {"fn_pickle": _pickled(fn)}
    except Exception as exc:  # (pickle raises many types)
        raise PickleRefused(f"{what} cannot be pickled: {exc}", field="fn") from exc


def load_fn(package: Mapping[str, Any]) -> Callable[..., Any]:
    """The callable a job package names (raises what importing or unpickling raises)."""
    if "fn" in package:
        fn = resolve(str(package["fn"]))
    elif "fn_pickle" in package:
        fn = _unpickled(str(package["fn_pickle"]))
    else:
        raise ValueError("the job's package names no callable (fn or fn_pickle)")
    if not callable(fn):
        raise TypeError(f"{package.get('fn', 'the pickled fn')} is not callable")
    return fn  # type: ignore[no-any-return]


# ------------------------------------------------------------------ JSON, exactly


def exact_json(value: Any) -> bool:
    """True when ``value`` goes through JSON and comes back equal, with the same types."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(exact_json(v) for v in value)
    if kind is dict:
        return all(type(k) is str and exact_json(v) for k, v in value.items())
    return False


def loose_json(value: Any) -> Any:
    """``value`` as JSON's nearest (a tuple as a list); TypeError / ValueError when it has none."""
    return json.loads(json.dumps(value, allow_nan=False))


# ------------------------------------------------------------------ calls


def encode_calls(calls: Sequence[Call], allow_pickle: bool) -> JSON:
    """An item's package: ``{"calls": [[args, kwargs], ...]}``, or ``calls_pickle``."""
    if all(
        all(exact_json(a) for a in args) and all(exact_json(v) for v in kwargs.values())
        for args, kwargs in calls
    ):
        return {"calls": [[list(args), dict(kwargs)] for args, kwargs in calls]}
    if not allow_pickle:
        raise PickleRefused(
            f"the arguments of a call are not JSON (they would not come back equal and of the "
            f"same types), so they need pickle, which this supervisor refuses: {NEED_PICKLE}",
            field="args",
        )
    try:
        return {"calls_pickle": _pickled([(tuple(a), dict(k)) for a, k in calls])}
    except Exception as exc:
        raise PickleRefused(f"the arguments of a call cannot be pickled: {exc}",
                            field="args") from exc  # fmt: skip


def decode_calls(package: Mapping[str, Any]) -> list[Call]:
    if "calls" in package:
        return [(args, kwargs) for args, kwargs in package["calls"]]
    if "calls_pickle" in package:
        return list(_unpickled(str(package["calls_pickle"])))
    raise ValueError("the item's package holds no calls (calls or calls_pickle)")


# ------------------------------------------------------------------ results and exceptions


def encode_error(exc: BaseException, allow_pickle: bool) -> JSON:
    """An exception as ``{"type", "args", "message", "traceback"}`` (+ ``pickle``)."""
    kind = type(exc)
    out: JSON = {
        "type": f"{kind.__module__}:{kind.__qualname__}",
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }
    if all(exact_json(a) for a in exc.args):
        out["args"] = list(exc.args)
    if allow_pickle:
        with contextlib.suppress(Exception):  # (then type and args only)
            out["pickle"] = _pickled(exc)
    return out


def decode_error(err: Mapping[str, Any], where: str = "") -> BaseException:
    """The exception back, of its own type and args, its remote traceback as a note; a
    ``RemoteError`` when it cannot be rebuilt."""
    tb = str(err.get("traceback") or "")
    exc = _rebuilt(err)
    if exc is None:
        kind = str(err.get("type") or "an exception")
        exc = RemoteError(f"{kind.rpartition(':')[2]}: {err.get('message', '')}{where}",
                          type=kind, traceback=tb)  # fmt: skip
    if tb:
        exc.add_note(f"Raised on the farm{where}:\n{tb.rstrip()}")
    return exc


def _rebuilt(err: Mapping[str, Any]) -> BaseException | None:
    if "pickle" in err:
        with contextlib.suppress(Exception):  # (then by type and args)
            exc = _unpickled(str(err["pickle"]))
            if isinstance(exc, BaseException):
                return exc
    if "args" not in err:
        return None
    try:
        kind = resolve(str(err.get("type")))
        if isinstance(kind, type) and issubclass(kind, BaseException):
            return kind(*err["args"])
    except Exception:  # an import that fails, a constructor that wants more
        return None
    return None


def encode_results(results: list[Any], error: BaseException | None, allow_pickle: bool) -> JSON:
    """An item's result package: the return values in order (``results`` or
    ``results_pickle``), and the exception that stopped the chunk (``error``)."""
    out: JSON
    if all(exact_json(r) for r in results):
        out = {"results": results}
    elif allow_pickle:
        try:
            out = {"results_pickle": _pickled(results)}
        except Exception as exc:
            return _unencodable(results, exc, allow_pickle)
    else:
        try:
            out = {"results": [loose_json(r) for r in results]}
        except (TypeError, ValueError) as exc:
            return _unencodable(results, exc, allow_pickle)
    if error is not None:
        out["error"] = encode_error(error, allow_pickle)
    return out


def _unencodable(results: list[Any], why: Exception, allow_pickle: bool) -> JSON:
    """The results up to the first that cannot be sent, then a TypeError saying why."""
    good: list[Any] = []
    for r in results:
        if not (exact_json(r) or _sendable(r, allow_pickle)):
            break
        good.append(r)
    how = "pickled" if allow_pickle else f"sent as JSON ({NEED_PICKLE})"
    err = TypeError(f"the return value {_short(results[len(good)])} cannot be {how}: {why}")
    return encode_results(good, err, allow_pickle)


def _sendable(value: Any, allow_pickle: bool) -> bool:
    try:
        _pickled(value) if allow_pickle else loose_json(value)
    except Exception:
        return False
    return True


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


Outcome = tuple[list[Any], BaseException | None]  # return values, the exception after them


def decode_results(package: Mapping[str, Any], where: str = "") -> Outcome:
    """``(return values, the exception after them or None)`` of an item's result package."""
    if "results_pickle" in package:
        results = list(_unpickled(str(package["results_pickle"])))
    else:
        results = list(package.get("results") or [])
    err = package.get("error")
    return results, (decode_error(err, where) if isinstance(err, Mapping) else None)


def run_calls(fn: Callable[..., Any], calls: Iterable[Call]) -> Outcome:
    """Run the calls in order until one raises: ``(return values, that exception or None)``."""
    results: list[Any] = []
    try:
        for args, kwargs in calls:
            results.append(fn(*args, **kwargs))
    except Exception as exc:
        return results, exc
    return results, None
