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

from llama_rollout.step_parameters import RunParameters, parameters
from pipelines.rollout import rollout_pipeline

ROOT = Path(__file__).resolve().parents[2]
COMPILED = ROOT / "pipelines" / "llama-rollout.yaml"
COMPONENTS = [
    getattr(importlib.import_module(f"components.{path.stem}"), path.stem)
    for path in sorted((ROOT / "components").glob("[!_]*.py"))
]
DECLARED = [c for c in COMPONENTS if hasattr(c.python_func, "__request__")]
KFP_TYPES = {str: str, int: int, float: float, bool: bool, list: list, dict: dict}


def kfp_type(annotation: object) -> object:
    """The parameter type KFP sees for a request field's type (``list[str]`` is a list)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:  # choices of one type: that type
        return type(typing.get_args(annotation)[0])
    return KFP_TYPES.get(origin or annotation, annotation)


def request_of(component) -> type[BaseModel]:
    return component.python_func.__request__


def declared(component) -> dict:
    return parameters(RunParameters) | parameters(request_of(component))


@pytest.mark.parametrize("component", DECLARED, ids=lambda c: c.name)
def test_a_component_s_signature_is_its_request(component):
    signature = inspect.signature(component.python_func).parameters
    run = set(parameters(RunParameters))
    own = {name for name, p in signature.items() if "Output" in str(p.annotation)}
    assert set(signature) - own - run == set(parameters(request_of(component)))
    for name, declaration in declared(component).items():
        if name not in signature:
            continue
        written = signature[name]
        assert written.annotation is kfp_type(declaration.annotation), name
        expected = inspect.Parameter.empty if declaration.required else declaration.default
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
            assert pipeline[pipeline_name].default == declaration.default, pipeline_name
            assert pipeline[pipeline_name].annotation is kfp_type(declaration.annotation)
            written = inputs[pipeline_name]["description"]
            assert " ".join(written.split()) == " ".join(declaration.description.split())
            checked += 1
    assert checked >= 20


def test_a_pipeline_parameter_declared_by_two_requests_is_declared_alike():
    seen: dict[str, tuple] = {}
    for component in DECLARED:
        for declaration in declared(component).values():
            if declaration.required:
                continue
            facts = (declaration.default, kfp_type(declaration.annotation), declaration.description)
            assert seen.setdefault(declaration.pipeline, facts) == facts, declaration.pipeline
