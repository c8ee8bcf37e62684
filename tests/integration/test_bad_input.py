"""Bad input through every command: one line that names the fix, a non-zero exit, no traceback,
and nothing written to S3 or the registry, nor a server started.

The table covers each CLI command and each pipeline parameter that takes free text (through
``check --set``, which runs the pipeline's first task, and ``run --local --set``). Each case is
a real subprocess against real servers: the embedded S3, the registry, a hub, and a web
server that is not any of them.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llama_rollout.cli import build_parser
from llama_rollout.pipeline_run import LOCAL_RUN_SETS
from pipelines.rollout import rollout_pipeline
from tests.holdings import bucket_listing, registry_listing
from tests.servers import html_app, serve_app

pytestmark = pytest.mark.integration
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens there


@dataclass(frozen=True)
class Case:
    id: str
    args: list[str]
    says: str  # a regex the one error line must match
    env: dict[str, str | None] = field(default_factory=dict)  # None unsets


def cases(hub: str, registry: str, html: str, folders: dict[str, Path]) -> list[Case]:
    uri = "s3://models/models/tiny/r1/"
    reg = ["--registry-url", registry]
    usage = [
        Case("no-command", [], r"required: command"),
        Case("unknown-command", ["deploy"], r"invalid choice: 'deploy'"),
        Case("mirror-no-source", ["mirror"], r"required: --source"),
        Case(
            "stall-negative",
            ["mirror", "--source", "hf://a/b", "--stall-timeout", "-1"],
            r"--stall-timeout: '-1' is not a duration",
        ),
        Case(
            "stall-word",
            ["mirror", "--source", "hf://a/b", "--stall-timeout", "soon"],
            r"'soon' is not a duration \(e.g. 90s",
        ),
        Case(
            "stall-nan",
            ["mirror", "--source", "hf://a/b", "--stall-timeout", "nan"],
            r"'nan' is not a duration",
        ),
        Case("local-action", ["local", "sideways"], r"invalid choice: 'sideways'"),
        Case("register-no-registry", ["register", "--model-uri", uri], r"--registry-url"),
        Case(
            "compile-image-untagged",
            ["compile", "--image", "quay.io/acme/runtime"],
            r"pin the image to a tag or digest",
        ),
        Case(
            "compile-image-latest",
            ["compile", "--image", "quay.io/acme/runtime:latest"],
            r"pin the image",
        ),
        Case(
            "compile-output-folder",
            ["compile", "--output", "/no/such/folder/p.yaml"],
            r"folder /no/such/folder does not exist: create it",
        ),
    ]
    pipelines = ["--host", html, "--namespace", "p"]
    usage += [
        Case("submit-no-host", ["submit", "--namespace", "p"], r"required: --host"),
        Case(
            "submit-host-not-url",
            ["submit", "--host", "ds-pipeline", "--namespace", "p"],
            r"--host 'ds-pipeline' is not an http\(s\) URL",
        ),
        Case(
            "submit-no-token",
            ["submit", *pipelines],
            r"no token for the pipelines server: "
            r"export KF_PIPELINES_TOKEN",
            env={"KF_PIPELINES_TOKEN": None},
        ),
        Case(
            "submit-bad-parameter",
            ["submit", *pipelines, "--set", "keep_versions=-1"],
            r"keep_versions",
            env={"KF_PIPELINES_TOKEN": "t"},
        ),
        Case(
            "submit-not-a-pipelines-server",
            ["submit", *pipelines, "--set", "registry_name=r"],
            r"is not a pipelines API: /apis/v2beta1/healthz answered 200",
            env={"KF_PIPELINES_TOKEN": "t"},
        ),
        Case(
            "schedule-five-fields",
            ["schedule", *pipelines, "--name", "n", "--cron", "0 * * * *"],
            r"6-field cron expression \(that is a 5-field cron",
            env={"KF_PIPELINES_TOKEN": "t"},
        ),
        Case("schedule-no-cron", ["schedule", *pipelines, "--name", "n"], r"required: --cron"),
        Case(
            "schedule-concurrency",
            [
                "schedule",
                *pipelines,
                "--name",
                "n",
                "--cron",
                "0 0 * * * *",
                "--max-concurrency",
                "11",
            ],
            r"outside 1..10",
            env={"KF_PIPELINES_TOKEN": "t"},
        ),
    ]
    sources = [
        Case(
            "source-scheme", ["resolve", "--source", "hf:/meta-llama/x"], r"unsupported source URI"
        ),
        Case("source-no-org", ["resolve", "--source", "hf://just-a-name"], r"malformed source URI"),
        Case("source-relative", ["resolve", "--source", "file://models/x"], r"three slashes"),
        Case("source-s3", ["resolve", "--source", "s3://models/x"], r"expected hf://ORG/REPO"),
        Case(
            "source-revision",
            ["resolve", "--source", "hf://acme/tiny@bad rev"],
            r"malformed revision 'bad rev'",
        ),
        Case(
            "source-2000-chars",
            ["resolve", "--source", "hf://acme/" + "x" * 2000],
            r"2010 characters long .* at most 1024",
        ),
        Case(
            "source-dot-dot", ["resolve", "--source", "file:///models/../../etc"], r"'\.\.' segment"
        ),
        Case("source-etc", ["resolve", "--source", "file:///etc"], r"/etc has no config.json"),
        Case(
            "source-missing-folder",
            ["resolve", "--source", "file:///no/such/model"],
            r"model folder /no/such/model does not exist",
        ),
        Case(
            "source-empty-weights",
            ["resolve", "--source", f"file://{folders['empty']}"],
            r"weight file model.safetensors .* is empty \(0 bytes\): download the model again",
        ),
        Case(
            "source-no-weights",
            ["resolve", "--source", f"file://{folders['config-only']}"],
            r"has no weight files",
        ),
        Case(
            "source-broken-link",
            ["resolve", "--source", f"file://{folders['broken']}"],
            r"tokenizer.json is a broken link",
        ),
        Case(
            "source-link-loop",
            ["resolve", "--source", f"file://{folders['loop']}"],
            r"links back to a folder that contains it",
        ),
        Case(
            "hub-unknown-repo",
            ["resolve", "--source", "hf://acme/nope"],
            r"repository acme/nope not found .*HF_TOKEN",
            {"HF_ENDPOINT": hub},
        ),
        Case(
            "hub-unknown-revision",
            ["resolve", "--source", "hf://acme/tiny@v9"],
            r"revision 'v9' not found in acme/tiny",
            {"HF_ENDPOINT": hub},
        ),
        Case(
            "hub-closed",
            ["resolve", "--source", "hf://acme/tiny"],
            r"127.0.0.1:9",
            {"HF_ENDPOINT": CLOSED},
        ),
        Case(
            "hub-garbage",
            ["resolve", "--source", "hf://acme/tiny"],
            r"HF_ENDPOINT",
            {"HF_ENDPOINT": "not a url"},
        ),
        Case(
            "hub-html",
            ["resolve", "--source", "hf://acme/tiny"],
            r"not .*hub|HTML|not the hub",
            {"HF_ENDPOINT": html},
        ),
    ]
    hub_env = {"HF_ENDPOINT": hub}
    mirror = ["mirror", "--source", "hf://acme/tiny"]
    mirrors = [
        Case(
            "mirror-name-space",
            [*mirror, "--model-name", "Llama 3"],
            r"not a DNS-1035 label.*'llama-3'",
            hub_env,
        ),
        Case(
            "mirror-name-300",
            [*mirror, "--model-name", "a" * 300],
            r"longer than 45 characters",
            hub_env,
        ),
        Case(
            "mirror-name-dot-dot",
            [*mirror, "--model-name", "../../../srv/x"],
            r"not a DNS-1035 label.*'srv-x'",
            hub_env,
        ),
        Case(
            "mirror-prefix-dot-dot",
            [*mirror, "--prefix", "a/../b"],
            r"invalid S3 prefix 'a/\.\./b': segment '\.\.'",
            hub_env,
        ),
        Case(
            "mirror-prefix-empty-segment",
            [*mirror, "--prefix", "models//x"],
            r"segment ''",
            hub_env,
        ),
        Case(
            "mirror-no-bucket", mirror, r"AWS_S3_BUCKET not set", {**hub_env, "AWS_S3_BUCKET": None}
        ),
        Case(
            "mirror-no-keys",
            mirror,
            r"AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY not set",
            {**hub_env, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
        ),
        Case(
            "mirror-wrong-secret",
            mirror,
            r"refused the credentials",
            {**hub_env, "AWS_SECRET_ACCESS_KEY": "wrong-secret"},
        ),
        Case(
            "mirror-no-such-bucket",
            mirror,
            r"bucket 'no-such-bucket' does not exist",
            {**hub_env, "AWS_S3_BUCKET": "no-such-bucket"},
        ),
        Case(
            "mirror-endpoint-no-scheme",
            mirror,
            r"AWS_S3_ENDPOINT 'localhost:9000' is not an http\(s\) URL",
            {**hub_env, "AWS_S3_ENDPOINT": "localhost:9000"},
        ),
        Case(
            "mirror-bucket-name",
            mirror,
            r"AWS_S3_BUCKET 'my bucket' is not a bucket name",
            {**hub_env, "AWS_S3_BUCKET": "my bucket"},
        ),
        Case(
            "mirror-endpoint-not-s3",
            mirror,
            r"does not look like an S3 endpoint: set AWS_S3_ENDPOINT",
            {**hub_env, "AWS_S3_ENDPOINT": html},
        ),
        Case(
            "mirror-endpoint-closed", mirror, r"127.0.0.1:9", {**hub_env, "AWS_S3_ENDPOINT": CLOSED}
        ),
    ]
    registers = [
        Case("register-uri-scheme", ["register", "--model-uri", "models/tiny/r1", *reg], r"s3://"),
        Case(
            "register-no-manifest",
            ["register", "--model-uri", "s3://models/ghost/r1/", *reg],
            r"has no llama-rollout-manifest.json.*run the mirror step again",
        ),
        Case(
            "register-other-bucket",
            ["register", "--model-uri", "s3://other-bucket/m/r1/", *reg],
            r"other-bucket",
        ),
        Case(
            "register-corrupt-manifest",
            ["register", "--model-uri", "s3://models/models/corrupt/r1/", *reg],
            r"llama-rollout-manifest.json .*(not|corrupt|invalid)",
        ),
        Case(
            "register-shapeless-manifest",
            ["register", "--model-uri", "s3://models/models/shapeless/r1/", *reg],
            r"llama-rollout-manifest.json .*(not|corrupt|invalid)",
        ),
        Case(
            "register-registry-scheme",
            ["register", "--model-uri", uri, "--registry-url", "ftp://registry"],
            r"invalid Model Registry URL 'ftp://registry'",
        ),
        Case(
            "register-registry-html",
            ["register", "--model-uri", "s3://models/models/tiny/good/", "--registry-url", html],
            r"not the Model Registry API",
        ),
        Case(
            "register-registry-closed",
            ["register", "--model-uri", "s3://models/models/tiny/good/", "--registry-url", CLOSED],
            r"the Model Registry is unreachable",
        ),
        Case(
            "register-name-upper",
            ["register", "--model-uri", uri, *reg, "--model-name", "UPPER"],
            r"not a DNS-1035 label.*'upper'",
        ),
    ]
    checks_of_s3 = [
        Case("verify-no-uri", ["verify"], r"required: --model-uri"),
        Case(
            "verify-uri-scheme",
            ["verify", "--model-uri", "models/tiny/r1/"],
            r"not an S3 model URI",
        ),
        Case(
            "verify-no-manifest",
            ["verify", "--model-uri", "s3://models/ghost/r1/"],
            r"has no llama-rollout-manifest.json",
        ),
        Case(
            "verify-other-bucket",
            ["verify", "--model-uri", "s3://other-bucket/m/r1/"],
            r"is in bucket 'other-bucket', and the data connection's bucket is 'models'",
        ),
        Case(
            "verify-damaged",
            ["verify", "--model-uri", "s3://models/models/tiny/good/"],
            r"4 of 4 files of .* do not match its manifest: config.json is missing .*--verify",
        ),
        Case("prune-no-limit", ["prune"], r"required: --older-than"),
        Case(
            "prune-zero",
            ["prune", "--older-than", "0"],
            r"give a duration from 1s to 3650d, not '0'",
        ),
        Case("prune-word", ["prune", "--older-than", "a-while"], r"'a-while' is not a duration"),
        Case(
            "prune-prefix",
            ["prune", "--older-than", "1d", "--prefix", "../x"],
            r"invalid S3 prefix",
        ),
        Case(
            "prune-no-bucket",
            ["prune", "--older-than", "1d"],
            r"AWS_S3_BUCKET not set",
            {"AWS_S3_BUCKET": None},
        ),
    ]
    renders = [
        Case("render-int-bool", ["render", "--set", "gpu_count=true"], r"'true' is not an integer"),
        Case(
            "render-bool-word",
            ["render", "--set", "stack.operator=maybe"],
            r"'maybe' is not a boolean",
        ),
        Case("render-unknown", ["render", "--set", "gpus=2"], r"unknown setting 'gpus'"),
        Case("render-no-equals", ["render", "--set", "gpu_count"], r"is not KEY=VALUE"),
        Case("render-name-digit", ["render", "--set", "name=3b-instruct"], r"'model-3b-instruct'"),
        Case("render-toleration", ["render", "--set", "tolerations=[{operator: Maybe}]"], r"Equal"),
        Case(
            "render-node-selector-list",
            ["render", "--set", "node_selector=[a]"],
            r"is not an object",
        ),
        Case(
            "render-owned-flag",
            ["render", "--set", "extra_args=[--port=1]"],
            r"--port is set by the runtime",
        ),
        Case(
            "render-yaml",
            ["render", "--set", "extra_args=[unclosed"],
            r"extra_args is not YAML: line \d+, column \d+",
        ),
    ]
    parameters = {
        "source_uri": ("ftp://models/x", r"unsupported source URI"),
        "model_name": ("Bad_Name", r"invalid model name"),
        "data_connection": ("My_Connection", r"data_connection: .*DNS-1123 subdomain"),
        "hf_token_secret": ("hf token", r"hf_token_secret: .*DNS-1123 subdomain"),
        "s3_prefix": ("../up", r"invalid S3 prefix"),
        "registry_name": ("Registry_1", r"registry_name: .*DNS-1123 label"),
        "registry_namespace": ("X_y", r"registry_namespace: .*DNS-1123 label"),
        "registry_url": (
            "localhost:8080",
            r"registry_url 'localhost:8080' is not an http\(s\) URL",
        ),
        "target": ("cloud", r"unknown target 'cloud'.*openshift, local"),
        "namespace": ("AI", r"namespace: 'AI' is not a DNS-1123 label"),
        "runtime_image": ("quay.io/modh/vllm:latest", r"pin the image"),
        "tolerations": ("{not json", r"tolerations is not valid JSON"),
        "node_selector": ("[1]", r"node_selector must be a JSON object"),
        "tool_call_parser": ("llama3_json --port 1", r"not a vLLM tool-call parser name"),
        "chat_template": ("../../etc/passwd", r"neither a template file name"),
        "shm_size": ("lots", r"not a Kubernetes resource quantity"),
        "extra_vllm_args": ('["--max-model-len=1"]', r"--max-model-len is set by max_model_len"),
        "mcp_url": ("cluster-health:3000", r"mcp_url .* is not an http\(s\) URL"),
        "llama_stack_name": ("Stack_1", r"name: 'Stack_1' is not a DNS-1123 label"),
        "llama_stack_image": ("llamastack/distribution-starter", r"pin the image"),
        "llama_stack_distribution": ("starter", r"distribution_name or distribution_image"),
        "vllm_token_secret": ("Token!", r"vllm_token_secret: .*DNS-1123 subdomain"),
        "mcp_token_secret": ("MCP Token", r"mcp_token_secret: .*DNS-1123 subdomain"),
        "lightspeed_token_secret": ("a b", r"lightspeed_token_secret: .*DNS-1123 subdomain"),
        "lightspeed_service_account": (
            "Lightspeed",
            r"lightspeed_service_account: 'Lightspeed' is not a DNS-1123 label",
        ),
        "workbench_service_account": (
            "team:Notebook",
            r"workbench_service_account must be NAME or NAMESPACE:NAME",
        ),
        "llama_stack_auditors": (
            "llama stack auditors",
            r"llama_stack_auditors: .* is not a group or user name",
        ),
        "llama_stack_otlp_endpoint": (
            "otel-collector:4318",
            r"llama_stack_otlp_endpoint: the collector 'otel-collector:4318' is not an http\(s\) "
            r"URL.*OTLP over HTTP",
        ),
        "lightspeed_url": ("lightspeed:8443", r"lightspeed_url 'lightspeed:8443' is not an http"),
        "lightspeed_endpoint": ("ollama", r"endpoint: Input should be 'llama-stack' or 'vllm'"),
        "lightspeed_provider": ("Llama Stack", r"provider: String should match pattern"),
        "llama_stack_storage_size": ("5GB", r"not a Kubernetes resource quantity"),
        "eval_dataset": (
            "/no/such/dataset.yaml",
            r"eval_dataset: dataset /no/such/dataset.yaml does not exist",
        ),
        "eval_tool_choice": ("sometimes", r"tool_choice: Input should be 'auto', 'required'"),
        "eval_cases": ('["no-such-case"]', r"dataset cluster-health has no case no-such-case"),
        "lm_eval_tasks": ('["no_such_task_x"]', r"lm-eval knows no task no_such_task_x"),
    }
    base = ["--set", "registry_name=default"]
    checks = [
        Case(
            f"check-{name}",
            ["check", *(base if name != "registry_name" else []), "--set", f"{name}={value}"]
            + (
                ["--set", "llama_stack_image=quay.io/acme/stack:1"]
                if name == "llama_stack_distribution"
                else []
            ),
            says,
        )
        for name, (value, says) in parameters.items()
    ] + [
        Case("check-no-registry", ["check"], r"no Model Registry given: set registry_name"),
        Case(
            "check-lm-eval-task-name",
            ["check", *base, "--set", 'lm_eval_tasks=["gsm8k; rm -rf /"]'],
            r"not an lm-eval task name",
        ),
        Case(
            "check-timeout-zero",
            ["check", *base, "--set", "serving_timeout_seconds=0"],
            r"serving_timeout_seconds is 0: give a number of seconds from 1 to 86400",
        ),
        Case(
            "check-gpus-negative",
            ["check", *base, "--set", "gpu_count=-1"],
            r"gpu_count is -1: give a whole number from 0 to 16",
        ),
        Case(
            "check-replicas",
            ["check", *base, "--set", "min_replicas=3"],
            r"max_replicas \(1\) is below min_replicas \(3\)",
        ),
        Case("check-bool", ["check", *base, "--set", "enable_auth=yes"], r"'yes' is not a boolean"),
        Case(
            "check-model-len",
            ["check", *base, "--set", "max_model_len=12"],
            r"max_model_len is 12: give a whole number from 128 to",
        ),
        Case("check-list", ["check", *base, "--set", "extra_vllm_args=--port"], r"is not a list"),
        Case(
            "check-unknown", ["check", "--set", "gpus=1"], r"the pipeline has no parameter 'gpus'"
        ),
        Case(
            "check-threshold-range",
            ["check", *base, "--set", "min_task_success=2"],
            r"parameters: min_task_success: Input should be less than or equal to 1",
        ),
        Case(
            "check-threshold-word",
            ["check", *base, "--set", "max_error_rate=low"],
            r"'low' is not a number",
        ),
        Case(
            "check-trials",
            ["check", *base, "--set", "eval_trials=0"],
            r"eval_trials is 0: give a whole number from 1 to 20",
        ),
        Case(
            "check-many",
            ["check", "--set", "namespace=AI", "--set", "mcp_url=x"],
            r"no Model Registry given.*mcp_url 'x'.*namespace: 'AI'|namespace: 'AI'.*mcp_url",
        ),
    ]
    runs = [
        Case("run-not-local", ["run"], r"only local runs .* add --local"),
        Case(
            "run-name-dot-dot",
            ["run", "--local", "--model-name", "../../../../srv/x"],
            r"not a DNS-1035 label.*'srv-x'",
        ),
        Case(
            "run-set-target",
            ["run", "--local", "--set", "target=openshift"],
            r"a local run takes target from run --local: leave it out",
        ),
        Case("run-set-source", ["run", "--local", "--set", "source_uri=hf://a/b"], r"use --source"),
        Case(
            "run-set-registry",
            ["run", "--local", "--set", "registry_url=http://r"],
            r"from the embedded stack",
        ),
        Case(
            "run-bad-template",
            ["run", "--local", "--set", "chat_template=../x.jinja"],
            r"chat_template: .*neither a template file name",
        ),
        Case(
            "run-bad-source",
            ["run", "--local", "--source", "hf://only-a-name"],
            r"malformed source URI",
        ),
        Case(
            "run-state-is-file",
            ["run", "--local"],
            r"the state folder .* is a file",
            {"LLAMA_ROLLOUT_STATE_DIR": str(folders["state-file"])},
        ),
        Case(
            "run-home-unwritable",
            ["run", "--local"],
            r"cannot create the state folder",
            {"LLAMA_ROLLOUT_STATE_DIR": None, "XDG_STATE_HOME": None, "HOME": "/proc/nohome"},
        ),
        Case(
            "local-status-state-is-file",
            ["local", "status"],
            r"is a file",
            {"LLAMA_ROLLOUT_STATE_DIR": str(folders["state-file"])},
        ),
        Case(
            "local-up-state-is-file",
            ["local", "up"],
            r"is a file",
            {"LLAMA_ROLLOUT_STATE_DIR": str(folders["state-file"])},
        ),
    ]
    return usage + sources + mirrors + registers + checks_of_s3 + renders + checks + runs  # fmt: skip


def model_folders(root: Path) -> dict[str, Path]:
    def model(name: str, weights: bytes = b"w" * 64) -> Path:
        folder = root / name
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        if weights is not None:
            (folder / "model.safetensors").write_bytes(weights)
        return folder

    folders = {"empty": model("empty", b""), "broken": model("broken"), "loop": model("loop")}
    (folders["broken"] / "tokenizer.json").symlink_to(root / "gone.json")
    (folders["loop"] / "sub").mkdir()
    (folders["loop"] / "sub" / "up").symlink_to(folders["loop"])
    folders["config-only"] = model("config-only")
    (folders["config-only"] / "model.safetensors").unlink()
    folders["state-file"] = root / "state-file"
    folders["state-file"].write_text("")
    return folders


def run_case(case: Case, base_env: dict[str, str], state: Path) -> str | None:
    """None when the case fails as it should, else what is wrong."""
    env = {**base_env, "LLAMA_ROLLOUT_STATE_DIR": str(state / case.id)}
    for key, value in case.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    result = subprocess.run(
        [sys.executable, "-m", "llama_rollout.cli", *case.args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    if result.returncode == 0:
        return f"exited 0: {result.stdout[-300:]}"
    if "Traceback" in result.stderr:
        return f"printed a traceback: {result.stderr[-600:]}"
    if len(errors) != 1:
        return f"{len(errors)} error lines: {result.stderr[-600:]}"
    if not re.search(case.says, errors[0]):
        return f"the line does not say {case.says!r}: {errors[0]}"
    if "wrong-secret" in result.stderr or base_env["AWS_SECRET_ACCESS_KEY"] in result.stderr:
        return "a secret was printed"
    if (state / case.id).exists():
        return f"the embedded stack was started ({state / case.id} exists)"
    return None


def test_bad_input_gets_one_line_that_names_the_fix_and_writes_nothing(
    hub, make_model, cli_env, registry_url, s3_connection, tmp_path
):
    hub_url = hub({"acme/tiny": make_model()})
    client = s3_connection.client()
    for name, body in (("corrupt", b"{not json"), ("shapeless", b'{"files": 3}')):
        client.put_object(
            Bucket="models", Key=f"models/{name}/r1/llama-rollout-manifest.json", Body=body
        )
    mirrored = subprocess.run(
        [sys.executable, "-m", "llama_rollout.cli", "mirror", "--source", "hf://acme/tiny",
         "--model-name", "tiny", "--prefix", "models"],
        env={**cli_env, "HF_ENDPOINT": hub_url}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    good_uri = json.loads(mirrored.stdout.splitlines()[-1])["model_uri"]
    client.copy_object(
        Bucket="models",
        CopySource={"Bucket": "models", "Key": good_uri.removeprefix("s3://models/")
                    + "llama-rollout-manifest.json"},
        Key="models/tiny/good/llama-rollout-manifest.json",
    )  # fmt: skip
    folders = model_folders(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    with serve_app(html_app()) as html:
        table = cases(hub_url, registry_url, html, folders)
        s3_before, registry_before = bucket_listing(client), registry_listing(registry_url)
        with ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(lambda c: run_case(c, cli_env, state), table))
        s3_after, registry_after = bucket_listing(client), registry_listing(registry_url)

    problems = [f"{case.id}: {o}" for case, o in zip(table, outcomes, strict=True) if o]
    assert not problems, "\n".join(problems)
    assert s3_after == s3_before, "a rejected command wrote to S3"
    assert registry_after == registry_before, "a rejected command wrote to the registry"

    assert len(table) >= 60 and len({c.id for c in table}) == len(table)
    commands = {a.dest: a for a in build_parser()._subparsers._group_actions}["command"].choices
    assert set(commands) <= {c.args[0] for c in table if c.args}, "a command has no bad input"
    signature = inspect.signature(rollout_pipeline.pipeline_func).parameters
    free_text = {n for n, p in signature.items() if p.annotation in (str, list)}
    checked = {a.split("=", 1)[0] for c in table for a in c.args if "=" in a}
    assert free_text <= checked, f"free-text parameters without a case: {free_text - checked}"
    assert set(LOCAL_RUN_SETS) <= free_text | {"target"}
