"""kfp.local 2.17.3 evaluates ``dsl.If`` on a named output of a multi-output step as False.

The compiler names the condition's channel ``pipelinechannel--<task>-<output>``; kfp.local's
``ConditionEvaluator`` reads a channel as a task output only when it contains ``--`` or
``-Output`` (a single-output step), and otherwise looks for a DAG input of that name, finds
none, logs "Could not resolve parent input" and skips the branch. Argo, on the cluster, has
no such problem. While a local run lasts, a channel that is no DAG input is also tried as
``<task>-<output>`` against the outputs of the DAG's steps; everything else is kfp's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def _task_output(actual_ref: str, io_store: Any) -> tuple[bool, Any]:
    # An output's name is a Python identifier (no '-'): the task's name is all before the last.
    task, _, key = actual_ref.rpartition("-")
    try:
        return True, io_store.get_task_output(task, key)
    except ValueError:
        return False, None


@contextlib.contextmanager
def named_output_conditions() -> Iterator[None]:
    """Make kfp.local resolve ``dsl.If`` conditions on named outputs, as the cluster does."""
    from kfp.local.orchestrator.enhanced_dag_orchestrator import ConditionEvaluator

    original = ConditionEvaluator._resolve_pipeline_channel

    def resolve(channel_ref: str, io_store: Any) -> Any:
        actual = channel_ref.replace("pipelinechannel--", "")
        if "--" not in actual and "-Output" not in actual:
            for key in (actual, channel_ref):
                with contextlib.suppress(ValueError, KeyError):
                    return io_store.get_parent_input(key)
            found, value = _task_output(actual, io_store)
            if found:
                return value
        return original(channel_ref, io_store)

    ConditionEvaluator._resolve_pipeline_channel = staticmethod(resolve)
    try:
        yield
    finally:
        ConditionEvaluator._resolve_pipeline_channel = staticmethod(original)
