"""Values a cluster would refuse at serving time are refused by `check` and `render` first.

Each case is the real CLI in a subprocess: one `error:` line that names the parameter and
says what to do, exit 2, nothing on stdout, and never a secret the value carried. The
classes are those of the independent tester's table: image references, Kubernetes values
(labels, tolerations, vLLM arguments), ranges on which `check` and `render` agree, and
messages about the value given, not about what the stages make of it.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

SECRET = "PLANTED-0123456789abcdef"
REGISTRY = "registry_name=r"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llama_rollout.cli", *args],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def refused(*args: str) -> str:
    """The one error line of a refused command."""
    result = cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def check(*assignments: str) -> str:
    return refused("check", "--set", REGISTRY, *(f"--set={a}" for a in assignments))


# Class 1: image references, by the reference grammar; credentials never echoed.


def test_an_image_with_credentials_or_bad_syntax_is_refused_naming_the_parameter():
    line = check(
        f"runtime_image=https://u:{SECRET}@quay.io/x:1",
        "llama_stack_image=docker.io/llamastack/distribution-starter:0.7.3 --privileged",
        "chat_template=/templates/x.jinja",
    )
    assert "runtime_image: an image reference carries no credentials (user:password@)" in line
    assert "pull secret" in line
    assert re.search(
        r"llama_stack_image: '.*--privileged' is not an image reference: it has a space", line
    )
    assert "PLANTED" not in line and "0123456789abcdef" not in line


def test_a_bad_runtime_image_is_reported_once_and_not_as_a_chat_template_problem():
    line = check("runtime_image=quay.io/x@sha256:abc")
    assert "runtime_image: the digest 'sha256:abc' of image 'quay.io/x' is not sha256:" in line
    assert "chat_template" not in line and line.count("sha256:abc") == 1


# Class 2: Kubernetes values the cluster would refuse.


def test_labels_tolerations_and_owned_vllm_flags_are_refused():
    line = check(
        'node_selector={"a b": "c"}',
        'tolerations=[{"key": "bad key!", "operator": "Exists"}]',
        f'extra_vllm_args=["--api-key", "{SECRET}"]',
    )
    assert "node_selector: 'a b' is not a label key" in line
    assert "tolerations.0: key 'bad key!' is not a label key" in line
    assert "'--api-key' would keep a secret in a pipeline parameter: set enable_auth=true" in line
    assert "PLANTED" not in line


def test_a_json_key_given_twice_is_refused():
    line = check('node_selector={"k": "v", "k": "w"}')
    assert "node_selector: the key 'k' is given twice in one object" in line
    assert "give each key once" in line


def test_toleration_seconds_is_taken_with_effect_no_execute():
    toleration = '{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}'  # fmt: skip
    result = cli("check", "--set", REGISTRY, "--set", f"tolerations=[{toleration}]")
    assert result.returncode == 0, result.stderr
    line = check('tolerations=[{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 300}]')
    assert "tolerations.0: tolerationSeconds is only for effect NoExecute" in line


# Class 3: ranges on the settings themselves, so that render and check agree.


def test_render_and_check_refuse_the_same_ranges():
    assert "gpu_count: Input should be less than or equal to 16" in refused(
        "render", "--set", "gpu_count=99"
    )
    assert "replicas: 0 replicas: give 1 to 100" in refused("render", "--set", "stack.replicas=0")
    line = check("gpu_count=99", "llama_stack_replicas=0")
    assert re.search(r"gpu_count\b[^;]*\b99\b[^;]*\b0 to 16\b", line), line
    assert re.search(r"llama_stack_replicas\W+(is )?0\b[^;]*\b1 to 100\b", line), line


# Class 4: messages about the value the user gave.


def test_a_name_is_reported_with_its_own_limit_never_a_stand_in_suffix_or_an_internal_field():
    line = check("llama_stack_name=" + "l" * 56, "model_name=BAD VALUE")
    assert f"llama_stack_name: '{'l' * 56}' (56 characters) is longer than 55 characters" in line
    assert "0000000" not in line and "served_model" not in line
    line = refused("render", "--set", "name=" + "a" * 60)
    assert "name: '" + "a" * 60 + "' (60 characters) is longer than 53 characters, the most an InferenceService name can have" in line  # fmt: skip


# Class 5: the table's other rows on these settings.


def test_a_stack_release_the_step_would_refuse_and_a_path_out_of_the_bucket_are_refused():
    line = check(
        "llama_stack_image=docker.io/llamastack/distribution-starter:0.2.0",
        "llama_stack_distribution=../x",
    )
    assert "llama_stack_image: 'docker.io/llamastack/distribution-starter:0.2.0' runs Llama Stack 0.2.0" in line  # fmt: skip
    assert "llama_stack_distribution: '../x' is not a distribution name" in line
    for path in ("../../etc", "models//m"):
        assert "storage_path: '" + path + "' is not a prefix in the bucket" in refused(
            "render", "--set", f"storage_path={path}"
        )


@pytest.mark.parametrize("image", ["quay.io/x:1 --privileged", "Quay.io/X/Y:1", "quay.io/x:!!bad"])
def test_render_refuses_what_check_refuses(image):
    assert "runtime_image: " in refused("render", "--set", f"runtime_image={image}")
