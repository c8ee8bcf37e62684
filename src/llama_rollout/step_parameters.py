"""A step's parameters, declared once: its stage's request model.

Each field of a request is one parameter of the step's KFP component, with the field's type,
default, bounds and description; a field that is itself a model (the registry reference, the
evaluation's thresholds) gives one component parameter per field of its own. Where the
component's parameter, or the pipeline's, has another name than the field (names users' runs
and schedules already carry), the field says so with :func:`parameter`'s ``component`` and
``pipeline``.

From that one declaration: the component builds its request (:func:`request_from`), the
pipeline wires each component parameter to the pipeline parameter of its name, the parameter
check names a bad value by the pipeline's name (:func:`pipeline_names`), and the components'
docstrings are written (:func:`docstring`). The signatures KFP reads stay explicit; a test
proves they equal the requests.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import annotated_types
import docstring_parser
from pydantic import BaseModel, Field
from pydantic_core import PydanticUndefined

DAY = 86_400  # seconds: the longest any step waits
Request = TypeVar("Request", bound=BaseModel)
_MARK = "step_parameter"
_COMPONENT = "component_parameter"
_PIPELINE = "pipeline_parameter"


def parameter(
    default: Any = PydanticUndefined,
    *,
    description: str,
    component: str | None = None,
    pipeline: str | None = None,
    **constraints: Any,
) -> Any:
    """A request field that is a step's parameter: ``component`` names the component's
    parameter where it differs from the field, ``pipeline`` the pipeline's where it differs
    from the component's. ``constraints`` are pydantic's (``ge``, ``le``, ...)."""
    names = {_COMPONENT: component, _PIPELINE: pipeline}
    extra: dict[str, Any] = {_MARK: True} | {key: name for key, name in names.items() if name}
    return Field(default, description=description, json_schema_extra=extra, **constraints)


@dataclass(frozen=True)
class Parameter:
    """One component parameter, as its request declares it."""

    path: tuple[str, ...]  # the field, through sub-models
    component: str
    pipeline: str
    annotation: Any
    default: Any  # PydanticUndefined when the pipeline must pass it
    description: str
    low: Any = None  # the ``ge`` bound, if any
    high: Any = None  # the ``le`` bound

    @property
    def required(self) -> bool:
        return self.default is PydanticUndefined


def parameters(model: type[BaseModel]) -> dict[str, Parameter]:
    """The component parameters ``model`` declares, by component name, in field order: its
    fields made with :func:`parameter`, and those of its fields that are models."""
    found: dict[str, Parameter] = {}
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            for inner in parameters(kind).values():
                found[inner.component] = replace(inner, path=(name, *inner.path))
            continue
        if not extra.get(_MARK):
            continue  # a setting of the stage's own, not a step parameter
        component = str(extra.get(_COMPONENT) or name)
        low = high = None
        for constraint in field.metadata:
            if isinstance(constraint, annotated_types.Ge):
                low = constraint.ge
            elif isinstance(constraint, annotated_types.Le):
                high = constraint.le
        default = field.get_default(call_default_factory=True)
        found[component] = Parameter(
            (name,),
            component,
            str(extra.get(_PIPELINE) or component),
            kind,
            default,
            field.description or "",
            low,
            high,
        )
    return found


def request_from(model: type[Request], values: Mapping[str, Any]) -> Request:
    """``model`` from a component's arguments (by component name; the run's are left out)."""
    nested: dict[str, Any] = {}
    for name, declared in parameters(model).items():
        if name in values:
            *outer, field = declared.path
            place = nested
            for step in outer:
                place = place.setdefault(step, {})
            place[field] = values[name]
    return model.model_validate(nested)


class RunParameters(BaseModel):
    """What every step takes beside its request: the run it belongs to."""

    target: str = parameter(
        "openshift",
        description="``openshift`` (KServe) or ``local`` (the embedded stack; set by "
        "``run --local``).",
    )
    s3_prefix: str = parameter("models", description="folder in the bucket that holds all models.")
    run_id: str = parameter(description="the pipeline run, for the journal.")


def pipeline_sources(model: type[BaseModel]) -> dict[str, str]:
    """The pipeline parameter of each component parameter that ``model`` and the run declare."""
    declared = parameters(RunParameters) | parameters(model)
    return {name: p.pipeline for name, p in declared.items()}


def pipeline_names(model: type[BaseModel]) -> dict[str, str]:
    """Each field's pipeline parameter, by its dotted path (for a validation error's place)."""
    return {".".join(p.path): p.pipeline for p in parameters(model).values()}


def docstring(written: str, signature: Iterable[str], described: Mapping[str, str]) -> str:
    """The docstring ``written`` (a summary, Args for what is not declared, Returns) with an
    Args entry for each of ``signature`` from ``described`` first: KFP shows them as the
    inputs' descriptions."""
    text = inspect.cleandoc(written)
    summary, _, returns = text.partition("\nReturns:\n")
    summary, _, own = summary.partition("\nArgs:\n")
    # docstring_parser reads a section only after a summary line.
    described = dict(described) | {
        p.arg_name: p.description or "" for p in docstring_parser.parse(f"-\n\nArgs:\n{own}").params
    }
    missing = [name for name in signature if name not in described]
    if missing:
        raise ValueError(f"parameters without a description: {', '.join(missing)}")
    args = [f"    {name}: {' '.join(described[name].split())}" for name in signature]
    parts = [summary.rstrip(), "Args:\n" + "\n".join(args)]
    return "\n\n".join(parts + ([f"Returns:\n{returns}"] if returns else [])) + "\n"
