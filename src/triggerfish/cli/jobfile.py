"""Reading job dicts from a JSON or YAML file (or standard input) for ``submit --file``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from triggerfish.errors import ValidationError


def _format(name: str, text: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return "json" if text.lstrip()[:1] in ("[", "{") else "yaml"


def parse_jobs_text(text: str, name: str) -> list[dict[str, Any]]:
    """The job dicts of a document: a list of dicts, ``{"jobs": [...]}`` or one dict.

    Raises ValidationError naming ``name``, the line and the column of a syntax error.
    """
    if _format(name, text) == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"{name}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}", field="file"
            ) from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValidationError(
                f"{name}: invalid YAML: {_yaml_message(exc)}", field="file"
            ) from None
    return _job_list(data, name)


def _yaml_message(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return str(problem)
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    return f"{where}: {problem}" + (f" ({context})" if context else "")


def _job_list(data: Any, name: str) -> list[dict[str, Any]]:
    if isinstance(data, dict) and set(data) == {"jobs"}:
        data = data["jobs"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        kind = "nothing" if data is None or data == [] else type(data).__name__
        raise ValidationError(f"{name}: expected a list of job dicts, found {kind}", field="file")
    for i, job in enumerate(data):
        if not isinstance(job, dict):
            raise ValidationError(
                f"{name}: job {i + 1} is not a job dict (found {type(job).__name__})",
                field="file",
            )
    return data


def load_jobs_file(path: str) -> list[dict[str, Any]]:
    """Read ``path`` (``-``: standard input) and return its job dicts."""
    if path == "-":
        return parse_jobs_text(sys.stdin.read(), "<stdin>")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read: {exc.strerror or exc}", field="file") from None
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path}: not UTF-8 text ({exc.reason})", field="file") from None
    return parse_jobs_text(text, path)
