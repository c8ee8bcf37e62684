"""Careless and hostile input, by class: each case is a real subprocess that must exit non-zero
with one ``error:`` line naming the bad input, print no traceback and no planted secret, and
write nothing (no state folder, no compiled file, S3 and the registry as they were).

The classes: files that are not what they seem; values a step would crash on; values that
were accepted and should not be (infinities, a key given twice, URLs with credentials);
errors that blamed the wrong thing (a cron the backend refuses, an S3 URI with ``..``);
sizes and magnitudes (alias bombs, huge numbers, long values); and errors that must name the
parameter they are about. Secrets are planted where a careless user puts them: in a token
file that is really a kubeconfig, in a dataset line that fails to parse, in a URL's userinfo.
"""

from __future__ import annotations

import os
import re
import resource
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llama_rollout.weights.connection import DataConnection
from tests.holdings import bucket_listing, registry_listing

pytestmark = pytest.mark.integration
SECRET = "planted-" + secrets.token_hex(12)
FILE_SIZE_LIMIT = 20_000  # bytes a "full disk" lets a compile write


@dataclass(frozen=True)
class Case:
    id: str
    args: list[str]
    says: str  # a regex the one error line must match
    env: dict[str, str] = field(default_factory=dict)
    disk_full: bool = False


def hostile_files(root: Path) -> dict[str, Path]:
    """Paths that are not what a user meant to give."""
    files = {"fifo": root / "pipe.yaml", "folder": root / "folder.yaml", "loop": root / "loop.yaml"}
    os.mkfifo(files["fifo"])
    files["folder"].mkdir()
    (root / "loop-b.yaml").symlink_to(files["loop"])
    files["loop"].symlink_to(root / "loop-b.yaml")
    files["huge"] = root / "huge.yaml"
    with files["huge"].open("wb") as fh:
        fh.truncate(6_000_000)
    files["bomb"] = root / "bomb.yaml"
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    files["bomb"].write_text("\n".join(lines) + "\n")
    files["kubeconfig"] = root / "kubeconfig"
    files["kubeconfig"].write_text(
        "apiVersion: v1\nusers:\n- name: me\n  user:\n    token: " + SECRET + "\n"
    )
    files["secret-line"] = root / "secret-line.yaml"
    files["secret-line"].write_text(f'name: t\ncases:\n  - id: c1\n    password: "{SECRET}\n')
    turn = "      - input: Which pods fail?\n"
    files["many-turns"] = root / "many-turns.yaml"
    files["many-turns"].write_text("name: t\ncases:\n  - id: c1\n    turns:\n" + turn * 21)
    files["long-input"] = root / "long-input.yaml"
    files["long-input"].write_text(
        "name: t\ncases:\n  - id: c1\n    turns:\n      - input: " + "x" * 30_000 + "\n"
    )
    files["tagged"] = root / "tagged.yaml"
    files["tagged"].write_text(
        "name: t\ncases:\n  - id: c1\n    turns:\n      - input: Which pods fail?\n"
        f"        facts: [!!int {SECRET}]\n"
    )
    files["secret-id"] = root / "secret-id.yaml"
    files["secret-id"].write_text(f"name: t\ncases:\n  - id: {SECRET.upper()}\n    turns: []\n")
    files["compiled"] = root / "compiled.yaml"
    files["compiled"].write_text("# the previous compile\n")
    return files


def cases(files: dict[str, Path]) -> list[Case]:
    base = ["check", "--set", "registry_name=default"]

    def check(setting: str, says: str) -> Case:
        name = "check-" + re.sub(r"[^\w=.-]", "_", setting[:40])
        return Case(name, [*base, "--set", setting], says)

    def dataset(name: str, says: str) -> Case:
        return Case(f"dataset-{name}", [*base, "--set", f"eval_dataset={files[name]}"], says)

    pipelines = ["--host", "http://127.0.0.1:9", "--namespace", "ai"]
    token = {"KF_PIPELINES_TOKEN": "t0ken-for-the-table"}

    def schedule(cron: str, says: str) -> Case:
        return Case(
            f"cron-{cron}", ["schedule", *pipelines, "--name", "n", "--cron", cron], says, token
        )

    files_class = [
        dataset("fifo", r"eval_dataset: dataset .*pipe.yaml is a named pipe"),
        dataset("folder", r"eval_dataset: dataset .*folder.yaml is a directory, not a file"),
        dataset("loop", r"eval_dataset: dataset .*loop.yaml is a link loop"),
        dataset("huge", r"eval_dataset: dataset .*huge.yaml is larger than the 5.0 MB"),
        Case("dataset-device", [*base, "--set", "eval_dataset=/dev/zero"], r"is a character device"),
        Case("token-file-fifo", ["submit", *pipelines, "--token-file", str(files["fifo"])],
             r"token file .*pipe.yaml is a named pipe"),
        Case("token-file-folder", ["submit", *pipelines, "--token-file", str(files["folder"])],
             r"token file .*folder.yaml is a directory"),
        Case("token-file-huge", ["submit", *pipelines, "--token-file", str(files["huge"])],
             r"token file .*huge.yaml is larger than the 65.5 kB"),
        Case("token-file-kubeconfig", ["submit", *pipelines, "--token-file", str(files["kubeconfig"])],
             r"the token file .*kubeconfig holds more than a token"),
        Case("ca-cert-fifo", ["submit", *pipelines, "--ca-cert", str(files["fifo"])],
             r"CA file .*pipe.yaml is a named pipe", token),
    ]  # fmt: skip
    crashes = [
        check("eval_cases=[[a, b]]", r"eval_cases: item 1 is list, not text"),
        check("lm_eval_tasks=[{a: 1}]", r"lm_eval_tasks: item 1 is dict, not text"),
        check("extra_vllm_args=[1, 2]", r"extra_vllm_args: item 1 is int, not text"),
        check("registry_url=http://[::1", r"registry_url 'http://\[::1' is not an http\(s\) URL"),
        check("mcp_url=http://[fe80::1%eth0/x", r"mcp_url .* is not an http\(s\) URL"),
        check("lightspeed_url=http://host:port/", r"lightspeed_url .* has port 'port', which is no port"),
        Case("compile-to-folder", ["compile", "--output", str(files["folder"])],
             r"--output .*folder.yaml' is not a YAML file's path"),
        Case("compile-other-extension", ["compile", "--output", str(files["folder"].parent / "p.json")],
             r"--output .*p.json' is not a YAML file's path"),
        Case("compile-disk-full", ["compile", "--output", str(files["compiled"])],
             r"cannot write .*compiled.yaml: File too large: free space", disk_full=True),
    ]  # fmt: skip
    accepted = [
        check("min_task_success=1e400", r"--set min_task_success: '1e400' is too large a number"),
        check("max_error_rate=-1e999", r"max_error_rate: '-1e999' is too large a number"),
        Case("set-twice", [*base, "--set", "gpu_count=1", "--set", "gpu_count=2"],
             r"--set gpu_count is given twice \('1', then '2'\): give it once"),
        Case("render-set-twice", ["render", "--set", "gpu_count=1", "--set", "gpu_count=1"],
             r"--set gpu_count is given twice"),
        check(f"registry_url=http://admin:{SECRET}@registry:8080",
              r"registry_url 'http://registry:8080' carries credentials"),
        check(f"lightspeed_url=https://{SECRET}@lightspeed:8443",
              r"lightspeed_url 'https://lightspeed:8443' carries credentials"),
        check(f"mcp_url=http://u:{SECRET}@mcp:8080/mcp", r"mcp_url .* carries credentials"),
        Case("submit-host-credentials",
             ["submit", "--host", f"https://me:{SECRET}@pipelines", "--namespace", "ai"],
             r"--host 'https://pipelines' carries credentials .*KF_PIPELINES_TOKEN", token),
    ]  # fmt: skip
    wrong_reason = [
        schedule("0 75 * * * *", r"minute 75 is outside 0-59"),
        schedule("0 0 */0 * * *", r"cron '0 0 \*/0 \* \* \*'"),
        schedule("0 0 0 L * *", r"no L, W or #"),
        schedule("0 0 0 1 13 *", r"month 13 is outside 1-12"),
        schedule("0 0 0 1 1 * 2027", r"cron '0 0 0 1 1 \* 2027'"),
        Case("verify-dot-dot", ["verify", "--model-uri", "s3://models/models/../other/r1/"],
             r"invalid S3 model URI .*segment '\.\.'"),
        Case("register-dot-dot",
             ["register", "--model-uri", "s3://models/a/./b/", "--registry-url", "http://127.0.0.1:9"],
             r"invalid S3 model URI .*segment '\.'"),
    ]  # fmt: skip
    sizes = [
        dataset("bomb", r"eval_dataset: .*bomb.yaml is not YAML: line 2, column \d+: an alias"),
        dataset("many-turns", r"case c1: turns: .*at most 20 items"),
        dataset("long-input", r"case c1, turn 1: input: .*at most 20000 characters"),
        dataset("secret-line", r"secret-line.yaml is not YAML: line \d+, column \d+"),
        Case("render-alias", ["render", "--set", "extra_args=[&a x, *a]"], r"an alias"),
        check("shm_size=-2Gi", r"shm_size: '-2Gi' is not a size from 1 byte to 1Pi"),
        check("llama_stack_storage_size=0", r"storage_size: '0' is not a size"),
        check("gpu_count=" + "9" * 400, r"--set gpu_count: a number of 400 characters"),
        check("serving_timeout_seconds=" + "9" * 30,
              r"serving_timeout_seconds is 9{30}: give a number of seconds from 1 to 86400"),
        check("keep_versions=" + "9" * 5000, r"a number of 5000 characters"),
        check("lightspeed_provider=" + "a" * 300, r"lightspeed_provider: .*at most 63 characters"),
        check("model_name=\x1b[31m" + "a" * 100_000, r"model_name is 100005 characters long"),
        check("tolerations=" + "[" * 20_000, r"tolerations is 20000 characters long"),
    ]  # fmt: skip
    naming = [
        check("lm_eval_concurrency=0", r"lm_eval_concurrency is 0: give a whole number from 1"),
        check("eval_max_tool_calls=1000", r"eval_max_tool_calls is 1000: give a whole number"),
        check("eval_tool_choice=sometimes", r"eval_tool_choice: Input should be"),
        check("lightspeed_endpoint=ollama", r"lightspeed_endpoint: Input should be"),
        check('lm_eval_tasks=["hellaswag"]', r"lm_eval_tasks: hellaswag is a multiple-choice task"),
        check('lm_eval_tasks=["mmlu"]', r"lm_eval_tasks: mmlu \(its task mmlu_\w+\) is a multiple"),
        check('eval_cases=["nope"]', r"eval_cases: dataset cluster-health has no case nope"),
        check("model_name=Bad_Name", r"^(?!.*-0000000).*invalid model name: 'Bad_Name'"),
        check(
            "lightspeed_max_tokens=99999999", r"^(?!.*; )error: .*lightspeed_max_tokens is 99999999"
        ),
        check('lm_eval_tasks=["   "]', r"lm_eval_tasks: item 1 is empty"),
    ]
    # What an independent tester found next: usage errors, tags, ports, query strings, names.
    mirror = ["mirror", "--source", "hf://acme/tiny"]
    second_read = [
        Case("usage-secret", [*mirror, "--stall-timeout", f"token={SECRET}"], r"is not a duration"),
        Case("duration-overflow", [*mirror, "--stall-timeout", "1e300d"], r"from 1s to 3650d"),
        Case("duration-tiny", ["prune", "--older-than", "1e-300s"], r"from 1s to 3650d"),
        Case("duration-fullwidth", ["prune", "--older-than", "\uff15d".encode().decode("unicode_escape")],
             r"is not a duration"),
        Case("abbreviated-option", ["compile", "--out=x.yaml"], r"unrecognized arguments: --out"),
        Case("schedule-namespace", ["schedule", "--host", "http://127.0.0.1:9", "--namespace", "Bad_NS",
                                    "--name", "n", "--cron", "0 0 * * * *"], r"--namespace: 'Bad_NS'"),
        Case("schedule-name-no-workflow", ["schedule", *pipelines, "--name", "!-nightly", "--cron",
                                           "0 0 * * * *"], r"names the ScheduledWorkflow '-nightly'", token),
        check("registry_url=http://evil.com\\.example.com/", r"registry_url .* has a backslash"),
        check("mcp_url=http://ex%61mple.com/mcp", r"mcp_url .* no DNS name or address"),
        Case("submit-name-newline", ["submit", *pipelines, "--name", "a\nb"], r"--name: 'a\\nb' is not a name"),
        check(f"extra_vllm_args=[!!int {SECRET}]", r"extra_vllm_args is not YAML: .*a tag"),
        check("eval_cases=[!!timestamp 2020-01-01]", r"eval_cases is not YAML: .*a tag"),
        dataset("tagged", r"tagged.yaml is not YAML: line 6, column \d+: .*a tag"),
        dataset("secret-id", r"case #1: id: ids are lower case"),
        Case("register-port-word", ["register", "--model-uri", "s3://models/a/r1/", "--registry-url",
                                    "http://h:abc"], r"invalid Model Registry URL 'http://h:abc'"),
        check("registry_url=http://registry:0/", r"registry_url 'http://registry:0/' has port '0', which is no port"),
        check(f"mcp_url=http://mcp:8080/mcp?api_key={SECRET}", r"mcp_url 'http://mcp:8080/mcp' carries"),
        check(f"lightspeed_url=https://ls:8443/#{SECRET}", r"lightspeed_url 'https://ls:8443/' has a query string or a fragment"),
        check(f"registry_url=http://u:{SECRET[:8]}@{SECRET[8:]}@registry:8080/",
              r"registry_url 'http://registry:8080/' carries credentials"),
        Case("compile-long-name", ["compile", "--output", str(files["folder"].parent / ("a" * 250 + ".yaml"))],
             r"file name is 255 characters long: at most 200"),
        Case("compile-under-a-file", ["compile", "--output", str(files["compiled"] / "x.yaml")],
             r"folder .*compiled.yaml is a file"),
    ]  # fmt: skip
    return files_class + crashes + accepted + wrong_reason + sizes + naming + second_read


def limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def run_case(case: Case, env: dict[str, str], state: Path, files: dict[str, Path]) -> str | None:
    """None when the case fails as it should, else what is wrong."""
    env = {**env, **case.env, "LLAMA_ROLLOUT_STATE_DIR": str(state / case.id[:60])}
    before = files["compiled"].read_text()
    result = subprocess.run(
        [sys.executable, "-m", "llama_rollout.cli", *case.args], env=env, capture_output=True,
        text=True, timeout=300, check=False, preexec_fn=limit_file_size if case.disk_full else None,
    )  # fmt: skip
    output = result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    problem = None
    if result.returncode in (0, 70):
        problem = f"exited {result.returncode}: {output[-300:]}"
    elif "Traceback" in output:
        problem = f"printed a traceback: {output[-600:]}"
    elif len(errors) != 1:
        problem = f"{len(errors)} error lines: {output[-600:]}"
    elif not re.search(case.says, errors[0]):
        problem = f"the line does not say {case.says!r}: {errors[0][:600]}"
    elif SECRET.lower() in output.lower() or "\x1b" in output:
        problem = "a planted secret or a control character was printed"
    elif len(errors[0]) > 2100:
        problem = f"the error line floods the terminal ({len(errors[0])} characters)"
    elif (state / case.id[:60]).exists():
        problem = "the embedded stack's state folder was created"
    elif files["compiled"].read_text() != before:
        problem = "the previous compiled file was changed"
    return problem


def test_hostile_input_gets_one_clear_line_and_writes_nothing(
    cli_env, s3_connection, registry_url, tmp_path
):
    files = hostile_files(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    table = cases(files)
    client = s3_connection.client()
    s3_before, registry_before = bucket_listing(client), registry_listing(registry_url)
    env = {**cli_env, "KF_PIPELINES_TOKEN": "", "HF_TOKEN": SECRET}
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda c: run_case(c, env, state, files), table))

    problems = [f"{case.id[:60]}: {o}" for case, o in zip(table, outcomes, strict=True) if o]
    assert not problems, "\n".join(problems)
    assert bucket_listing(client) == s3_before, "a rejected command wrote to S3"
    assert registry_listing(registry_url) == registry_before, (
        "a rejected command wrote to the registry"
    )
    assert not list(tmp_path.glob(".*partial*")), "a compile left a partial file behind"
    assert len(table) >= 40 and len({c.id for c in table}) == len(table)


def test_a_dataset_that_expects_a_tool_the_mcp_server_lacks_stops_the_local_run_first(
    make_model, tmp_path
):
    """The embedded MCP server is asked before the first step: the run fails in one line that
    names the tool, and neither S3 nor the registry is written."""
    from llama_rollout.embedded.stack import EmbeddedStack

    folder = make_model(shard_bytes=1024)
    dataset = tmp_path / "other-server.yaml"
    dataset.write_text(
        "name: other-server\ncases:\n  - id: c1\n    turns:\n      - input: Is the mesh ok?\n"
        "        expected_calls:\n          - mesh_status: {namespace: [istio-system]}\n"
    )
    state = tmp_path / "state"
    env = {**os.environ, "LLAMA_ROLLOUT_STATE_DIR": str(state)}
    stack = EmbeddedStack(state)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "llama_rollout.cli", "run", "--local", "--source",
             f"file://{folder}", "--set", f"eval_dataset={dataset}"],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert len(errors) == 1 and re.search(
            r"the MCP server at http://127.0.0.1:\d+/mcp does not offer mesh_status, which "
            r"dataset other-server expects",
            errors[0],
        ), result.stderr[-2000:]
        assert "running the pipeline" not in result.stderr, "a step ran"
        s3 = DataConnection.from_env(stack.environment()).client()
        assert s3.list_objects_v2(Bucket="models").get("KeyCount", 0) == 0
        assert registry_listing(stack.environment()["MODEL_REGISTRY_URL"]) == {
            "registered_models": [],
            "model_versions": [],
        }
    finally:
        stack.down()
