"""Evaluation datasets: cases of one or more turns, with the calls and answers expected, in YAML.

The format (``docs`` in the README, the built-in ``cluster-health`` dataset as an example)::

    name: cluster-health
    description: what the dataset measures
    cases:
      - id: payments-crash            # unique, lower case, digits and '-'
        tags: [unhealthy_pods]        # free labels; "irrelevance" and "greeting" are counted apart
        turns:
          - input: Which pods are crash-looping in payments?
            expected_calls:           # BFCL's possible answer: [{tool: {arg: [allowed values]}}]
              - unhealthy_pods: {namespace: [payments], limit: ["", 10, 50]}   # "" = optional
            any_order: true           # several calls may come in any order (default)
            facts: [payments-api, OOMKilled]   # the final text must contain each (normalised)
          - input: And why is it failing? # continues the conversation (previous_response_id)
            expected_calls: [...]
            grounded: true            # the answer must mention what the tools returned

An empty ``expected_calls`` list means that no tool may be called (an irrelevance case). A
malformed dataset is refused with the case and the problem; :func:`check_against_tools`
refuses expected calls that the server's tools cannot take.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llama_rollout.errors import ConfigurationError
from llama_rollout.evals.scoring import tool_schema, type_problem
from llama_rollout.plain_yaml import load_plain_yaml
from llama_rollout.user_files import read_user_file

BUILT_IN = ("cluster-health", "cluster-health-live")
IRRELEVANCE, GREETING = "irrelevance", "greeting"
_CASE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
# An evaluation's sane size: BFCL's largest category has 1,000 cases of one turn; a dataset
# beyond these is a mistake (or an attack on the step's memory), not a benchmark.
MAX_DATASET_BYTES = 5_000_000
MAX_CASES = 5_000
MAX_TURNS = 20
MAX_CALLS = 50  # expected calls, or facts, in one turn
MAX_INPUT_LENGTH = 20_000  # characters of one user message


class DatasetError(ConfigurationError):
    """A dataset that cannot be run as it is: the case, and what is wrong with it."""


class Turn(BaseModel):
    """One user message, the calls it should lead to, and what the answer must say."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str = Field(min_length=1, max_length=MAX_INPUT_LENGTH)
    expected_calls: tuple[dict[str, dict[str, tuple[Any, ...]]], ...] = Field(
        default=(), max_length=MAX_CALLS
    )
    any_order: bool = True
    facts: tuple[str, ...] = Field(default=(), max_length=MAX_CALLS)
    grounded: bool = False

    @field_validator("expected_calls", mode="before")
    @classmethod
    def _possible_answer_form(cls, calls: Any) -> Any:
        if not isinstance(calls, list):
            raise ValueError("expected_calls must be a list of {tool: {argument: [values]}}")
        # By position, not by name: a dataset's text is not quoted in errors.
        for number, call in enumerate(calls, 1):
            if not isinstance(call, dict) or len(call) != 1:
                raise ValueError(
                    f"expected call {number} must be one {{tool: {{...}}}}, not {_kind(call)}"
                )
            ((_, arguments),) = call.items()
            if not isinstance(arguments, dict):
                raise ValueError(
                    f"the arguments of expected call {number} must be a mapping, not "
                    f"{_kind(arguments)}"
                )
            for position, values in enumerate(arguments.values(), 1):
                if not isinstance(values, list) or not values:
                    raise ValueError(
                        f"argument {position} of expected call {number} must be a list of "
                        f'allowed values ("" marks it optional), not {_kind(values)}'
                    )
        return calls

    @field_validator("facts")
    @classmethod
    def _facts_say_something(cls, facts: tuple[str, ...]) -> tuple[str, ...]:
        if any(not fact.strip() for fact in facts):
            raise ValueError("a fact is empty")
        return facts

    @property
    def calls(self) -> list[dict[str, dict[str, list[Any]]]]:
        """The expected calls as :func:`~llama_rollout.evals.scoring.match_calls` takes them."""
        return [
            {tool: {a: list(v) for a, v in args.items()} for tool, args in call.items()}
            for call in self.expected_calls
        ]

    @property
    def tools(self) -> set[str]:
        return {tool for call in self.expected_calls for tool in call}


class Case(BaseModel):
    """One conversation: a first turn, and follow-ups that continue it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    tags: tuple[str, ...] = ()
    turns: tuple[Turn, ...] = Field(min_length=1, max_length=MAX_TURNS)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _CASE_ID.match(value):
            raise ValueError("ids are lower case letters, digits and '-', at most 80")
        return value

    @property
    def irrelevance(self) -> bool:
        return IRRELEVANCE in self.tags

    @property
    def greeting(self) -> bool:
        return GREETING in self.tags

    @model_validator(mode="after")
    def _irrelevance_calls_nothing(self) -> Case:
        if self.irrelevance and any(t.expected_calls for t in self.turns):
            raise ValueError("an irrelevance case expects no calls")
        return self


class Dataset(BaseModel):
    """A named list of cases."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=MAX_INPUT_LENGTH)
    cases: tuple[Case, ...] = Field(min_length=1, max_length=MAX_CASES)

    @property
    def tools(self) -> set[str]:
        """Every tool some case expects."""
        return {tool for case in self.cases for turn in case.turns for tool in turn.tools}

    def subset(self, ids: Sequence[str]) -> Dataset:
        """The cases with these ids, in the dataset's order; an unknown id is an error."""
        if unknown := sorted(set(ids) - {c.id for c in self.cases}):
            raise DatasetError(f"dataset {self.name} has no case {', '.join(unknown)}")
        return self.model_copy(update={"cases": tuple(c for c in self.cases if c.id in ids)})


@dataclass(frozen=True)
class LoadedDataset:
    """A dataset with where it came from and the digest of its bytes (recorded with scores)."""

    dataset: Dataset
    origin: str
    sha256: str


def load_dataset(name_or_path: str) -> LoadedDataset:
    """A built-in dataset by name (``cluster-health``, ``cluster-health-live``), or a YAML file.

    Raises:
        DatasetError: the file is missing, is not YAML, or a case is malformed (named).
    """
    if name_or_path in BUILT_IN:
        body = resources.files("llama_rollout.evals").joinpath(f"datasets/{name_or_path}.yaml")
        raw, origin = body.read_bytes(), f"built-in {name_or_path}"
    else:
        hint = f"give a YAML file, or a built-in dataset: {', '.join(BUILT_IN)}"
        try:
            raw = read_user_file(name_or_path, what="dataset", limit=MAX_DATASET_BYTES, hint=hint)
        except ConfigurationError as exc:
            raise DatasetError(exc.message, hint=exc.hint) from exc
        origin = name_or_path[:200]
    return LoadedDataset(parse_dataset(raw, origin), origin, hashlib.sha256(raw).hexdigest())


def parse_dataset(raw: bytes | str, origin: str = "dataset") -> Dataset:
    """Parse and check a dataset; errors name the case (by id, or by position) and the field."""
    try:
        document = load_plain_yaml(raw, what=origin)
    except ConfigurationError as exc:
        raise DatasetError(exc.message, hint=_FORMAT_HINT) from exc
    if not isinstance(document, dict):
        raise DatasetError(f"{origin} is not a mapping with name and cases", hint=_FORMAT_HINT)
    try:
        dataset = Dataset.model_validate(document)
    except ValidationError as exc:
        raise DatasetError(f"{origin}: {_first_problem(document, exc)}", hint=_FORMAT_HINT) from exc
    seen: set[str] = set()
    for case in dataset.cases:
        if case.id in seen:
            raise DatasetError(f"{origin}: case {case.id}: the id is used twice")
        seen.add(case.id)
    return dataset


def check_against_tools(dataset: Dataset, tools: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a dataset whose expected calls the server's ``tools`` cannot take: an unknown
    tool, an argument outside a tool's schema, or an allowed value of the wrong type."""
    schemas = {str(t.get("name")): tool_schema(t) for t in tools}
    for case in dataset.cases:
        for number, turn in enumerate(case.turns, 1):
            for call in turn.expected_calls:
                for tool, arguments in call.items():
                    where = f"case {case.id}, turn {number}: {tool}"
                    if tool not in schemas:
                        raise DatasetError(
                            f"{where} is not a tool of the server ({', '.join(sorted(schemas))})"
                        )
                    properties = schemas[tool].get("properties", {})
                    for argument, values in arguments.items():
                        if argument not in properties:
                            raise DatasetError(f"{where} has no argument {argument}")
                        for value in values:
                            problem = type_problem(properties[argument], value)
                            if value != "" and problem:
                                raise DatasetError(
                                    f"{where}: allowed value of {argument} {problem}"
                                )


_FIELDS = {*Dataset.model_fields, *Case.model_fields, *Turn.model_fields}


def _kind(value: Any) -> str:
    """What a value is, for an error that must not quote a dataset's content."""
    return f"a {type(value).__name__}"


_FORMAT_HINT = "see the dataset format in llama_rollout.evals.dataset (or the README)"


def _first_problem(document: dict[str, Any], exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = list(error["loc"])
    where = []
    if location[:1] == ["cases"] and len(location) > 1 and isinstance(location[1], int):
        cases = document.get("cases") or []
        index = location[1]
        case_id = cases[index].get("id") if isinstance(cases[index], dict) else None
        valid = isinstance(case_id, str) and _CASE_ID.match(case_id)
        where.append(f"case {case_id}" if valid else f"case #{index + 1}")
        location = location[2:]
        if location[:1] == ["turns"] and len(location) > 1 and isinstance(location[1], int):
            where.append(f"turn {location[1] + 1}")
            location = location[2:]
    # Field names only: a mapping's keys (tool and argument names) are the dataset's text.
    # A misspelled field (an extra input) is named, cut short: the user needs to see it.
    field = ".".join(
        str(p)
        for p in location
        if p in _FIELDS or isinstance(p, int) or error["type"] == "extra_forbidden"
    )
    message = error["msg"].removeprefix("Value error, ")
    return ", ".join(where) + (": " if where else "") + (f"{field}: " if field else "") + message
