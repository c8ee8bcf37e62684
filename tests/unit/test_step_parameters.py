"""Each step parameter is declared once, by its stage's request: the component signatures KFP
reads, the pipeline's parameters and their wiring are held to that declaration here."""

from __future__ import annotations

import importlib
import inspect
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from components.check_parameters import check_parameters
from llama_rollout.parameters import pipeline_parameters
from llama_rollout.step_parameters import RunParameters, parameters
from pipelines.rollout import rollout_pipeline

ROOT = Path(__file__).resolve().parents[2]
COMPILED = ROOT / "pipelines" / "llama-rollout.yaml"
COMPONENTS = [
    getattr(importlib.import_module(f"components.{path.stem}"), path.stem)
    for path in sorted((ROOT / "components").glob("[!_]*.py"))
]
DECLARED = [c for c in COMPONENTS if hasattr(c.python_func, "__request__")]
KFP_TYPES = {str: str, int: int, float: float, bool: bool, list: list, tuple: list, dict: dict}


def kfp_type(annotation: object) -> object:
    """The parameter type KFP sees for a request field's type (``list[str]`` is a list)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:  # choices of one type: that type
        return type(typing.get_args(annotation)[0])
    return KFP_TYPES.get(origin or annotation, annotation)


def kfp_value(declaration) -> object:
    """A declared default as KFP holds it: a tuple is a list."""
    default = declaration.default
    return list(default) if isinstance(default, tuple) else default


def request_of(component) -> type[BaseModel]:
    return component.python_func.__request__


def declared(component) -> dict:
    return parameters(RunParameters) | parameters(request_of(component))


@pytest.mark.parametrize("component", DECLARED, ids=lambda c: c.name)
def test_a_component_s_signature_is_its_request(component):
    # The request the decorator describes is the one the pod builds.
    request = request_of(component)
    assert f"request_from({request.__name__}, arguments)" in inspect.getsource(
        component.python_func
    )
    signature = inspect.signature(component.python_func).parameters
    run = set(parameters(RunParameters))
    own = {name for name, p in signature.items() if "Output" in str(p.annotation)}
    assert set(signature) - own == set(parameters(request_of(component))) | (run & set(signature))
    for name, declaration in declared(component).items():
        if name not in signature:
            continue
        written = signature[name]
        assert written.annotation is kfp_type(declaration.annotation), name
        expected = inspect.Parameter.empty if declaration.required else kfp_value(declaration)
        assert written.default == expected, name


@pytest.mark.parametrize("component", DECLARED, ids=lambda c: c.name)
def test_a_component_s_inputs_are_described_by_its_request(component):
    described = component.component_spec.inputs
    for name, declaration in declared(component).items():
        if name in described:
            assert described[name].description == " ".join(declaration.description.split())


def test_the_pipeline_wires_each_parameter_to_the_one_its_request_declares():
    spec = next(yaml.safe_load_all(COMPILED.read_text()))
    pipeline = inspect.signature(rollout_pipeline.pipeline_func).parameters
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    tasks = {
        name: task
        for component in spec["components"].values()
        for name, task in component.get("dag", {}).get("tasks", {}).items()
    }
    checked = 0
    for component in DECLARED:
        task = tasks[component.name.replace("_", "-")]
        for name, argument in task["inputs"]["parameters"].items():
            source = argument.get("componentInputParameter", "")
            pipeline_name = source.removeprefix("pipelinechannel--")
            if pipeline_name not in inputs:
                continue  # an earlier step's output, or the run's id
            declaration = declared(component)[name]
            assert pipeline_name == declaration.pipeline, name
            assert declaration.default is not PydanticUndefined, name
            assert pipeline[pipeline_name].default == kfp_value(declaration), pipeline_name
            assert pipeline[pipeline_name].annotation is kfp_type(declaration.annotation)
            written = inputs[pipeline_name]["description"]
            assert " ".join(written.split()) == " ".join(declaration.description.split())
            checked += 1
    assert checked >= 20


def test_the_pipeline_s_parameters_are_the_declared_ones():
    """Each pipeline parameter is the first declaration of its name in the steps' requests:
    the same type, default and description (its wiring is checked above)."""
    declared = pipeline_parameters()
    spec = next(yaml.safe_load_all(COMPILED.read_text()))
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    for name, written in inspect.signature(rollout_pipeline.pipeline_func).parameters.items():
        declaration = declared[name]
        assert written.annotation is kfp_type(declaration.annotation), name
        assert written.default == kfp_value(declaration), name
        expected = " ".join(declaration.description.split())
        assert " ".join(inputs[name]["description"].split()) == expected, name


def test_the_check_takes_every_pipeline_parameter_by_name_and_type():
    check = inspect.signature(check_parameters.python_func).parameters
    pipeline = inspect.signature(rollout_pipeline.pipeline_func).parameters
    assert list(check) == list(pipeline)
    assert {n: p.annotation for n, p in check.items()} == {
        n: p.annotation for n, p in pipeline.items()
    }
