"""The embedded stack: the servers the pipeline talks to, on loopback, on one laptop.

``up`` starts what is not already running and healthy (S3, Model Registry, hub, the token
authority that Llama Stack asks about tokens, the cluster-health MCP server on a snapshot), each as a
detached process with its log under the state folder; ``down`` stops only the processes ``up``
recorded; ``status`` reports endpoints, pids, health and logs. ``environment()`` gives the
variables a pipeline step reads on the cluster (the data connection keys, ``HF_ENDPOINT``), so
the same code runs on both targets.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_rollout.embedded import processes
from llama_rollout.embedded.bundled_model import ensure_bundled_model
from llama_rollout.embedded.processes import ProcessRecord
from llama_rollout.embedded.secrets import ensure_token
from llama_rollout.embedded.service_accounts import PIPELINE_RUNNER, TokenBook
from llama_rollout.errors import ConfigurationError, StorageError
from llama_rollout.kube.secrets import SECRETS_DIR_ENV
from llama_rollout.mcp_server import bundled_snapshot
from llama_rollout.mcp_server.access import TOKEN_ENV, TOKEN_SECRET
from llama_rollout.weights.connection import DataConnection

logger = logging.getLogger(__name__)

BUNDLED_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"
BUCKET = "models"
DATA_CONNECTION_NAME = "local-models"
START_TIMEOUT = 60.0


def state_dir() -> Path:
    """Where the stack keeps pids, logs, credentials and the registry database."""
    if configured := os.environ.get("LLAMA_ROLLOUT_STATE_DIR"):
        return usable_folder(Path(configured), "state", "LLAMA_ROLLOUT_STATE_DIR")
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return usable_folder(Path(base) / "llama-rollout", "state", "LLAMA_ROLLOUT_STATE_DIR")


def cache_dir() -> Path:
    """Where converted models and downloaded packages are cached across stacks."""
    if configured := os.environ.get("LLAMA_ROLLOUT_CACHE_DIR"):
        return usable_folder(Path(configured), "cache", "LLAMA_ROLLOUT_CACHE_DIR")
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return usable_folder(Path(base) / "llama-rollout", "cache", "LLAMA_ROLLOUT_CACHE_DIR")


def usable_folder(path: Path, what: str, variable: str, *, create: bool = False) -> Path:
    """``path`` (made when ``create``); a ConfigurationError when it is a file or cannot be
    written, before anything is started."""
    if path.exists() and not path.is_dir():
        raise ConfigurationError(
            f"the {what} folder {path} is a file",
            hint=f"remove it, or set {variable} to a folder",
        )
    if not create and not path.exists():
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the {what} folder {path}: {exc.strerror}",
            hint=f"set {variable} to a folder you can write (HOME is {Path.home()})",
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"cannot write the {what} folder {path}",
            hint=f"set {variable} to a folder you can write",
        )
    return path


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str
    pid: int | None
    running: bool
    healthy: bool
    log: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "pid": self.pid,
            "running": self.running,
            "healthy": self.healthy,
            "log": self.log,
        }


@dataclass(frozen=True)
class _Service:
    name: str
    argv: Callable[[int], list[str]]
    url: Callable[[int], str]
    healthy: Callable[[str], bool]
    env: Callable[[], dict[str, str]] | None = None  # secrets, never on the command line


class EmbeddedStack:
    """The servers of the local target.

    Args:
        root: the state folder (default :func:`state_dir`).
        hub_repos: repositories the hub publishes (repo id -> folder); default the bundled
            model, converted on first use.
        mcp_snapshot: the cluster snapshot the MCP server serves; default the bundled one.
    """

    def __init__(
        self,
        root: Path | None = None,
        hub_repos: dict[str, Path] | None = None,
        mcp_snapshot: str | None = None,
    ) -> None:
        self.root = usable_folder(root, "state", "LLAMA_ROLLOUT_STATE_DIR") if root else state_dir()
        self.mcp_snapshot = mcp_snapshot or bundled_snapshot()
        self._hub_repos = hub_repos
        self.state_file = self.root / "stack.json"
        self.credentials_file = self.root / "s3-credentials.json"
        self.tokens = TokenBook(self.root / "service-account-tokens.json")
        self.secrets_dir = self.root / "secrets"

    # -- services -------------------------------------------------------------------------

    def _services(self) -> list[_Service]:
        python = sys.executable
        return [
            _Service(
                "s3",
                lambda port: [
                    python,
                    "-m",
                    "llama_rollout.embedded.s3_server",
                    "--port",
                    str(port),
                    "--bucket",
                    BUCKET,
                    "--credentials",
                    str(self.credentials_file),
                ],
                lambda port: f"http://127.0.0.1:{port}",
                lambda url: self._s3_healthy(),
            ),
            _Service(
                "registry",
                lambda port: [
                    python,
                    "-m",
                    "llama_rollout.embedded.registry_server",
                    "--port",
                    str(port),
                    "--db",
                    str(self.root / "registry.sqlite"),
                ],
                lambda port: f"http://127.0.0.1:{port}",
                lambda url: processes.http_ok(f"{url}/readyz/health"),
            ),
            _Service(
                "hub",
                lambda port: [
                    python,
                    "-m",
                    "llama_rollout.embedded.hub_server",
                    "--port",
                    str(port),
                    "--cdn-port",
                    str(processes.free_port()),
                    *(f"--repo={repo}={folder}" for repo, folder in self.hub_repos().items()),
                ],
                lambda port: f"http://127.0.0.1:{port}",
                lambda url: processes.http_ok(f"{url}/api/models/{next(iter(self.hub_repos()))}"),
            ),
            _Service(
                "tokens",
                lambda port: [
                    python,
                    "-m",
                    "llama_rollout.embedded.token_authority",
                    "--port",
                    str(port),
                    "--tokens",
                    str(self.tokens.path),
                ],
                lambda port: f"http://127.0.0.1:{port}",
                lambda url: processes.http_ok(f"{url}/readyz"),
            ),
            _Service(
                "mcp",
                lambda port: [
                    python,
                    "-m",
                    "llama_rollout.mcp_server",
                    "--port",
                    str(port),
                    "--snapshot",
                    self.mcp_snapshot,
                ],
                lambda port: f"http://127.0.0.1:{port}",
                # Any HTTP answer from /mcp (a GET is refused with 4xx) means it is serving.
                lambda url: processes.http_ok(f"{url}/mcp"),
                lambda: {TOKEN_ENV: self.mcp_token()},
            ),
        ]

    def mcp_token(self) -> str:
        """The MCP server's token (manifests/mcp-server's, once its Secret exists): minted once."""
        return ensure_token(self.secrets_dir, TOKEN_SECRET)

    def _s3_healthy(self) -> bool:
        """A signed HEAD of the bucket with the stack's key: up, provisioned and serving."""
        if not self.credentials_file.exists():
            return False
        try:
            connection = DataConnection.from_env(json.loads(self.credentials_file.read_text()))
            connection.check_bucket()
        except (StorageError, ValueError, OSError):
            return False
        return True

    def hub_repos(self) -> dict[str, Path]:
        if self._hub_repos is None:
            self._hub_repos = {BUNDLED_REPO: ensure_bundled_model(cache_dir())}
        return self._hub_repos

    # -- lifecycle ------------------------------------------------------------------------

    def up(self) -> dict[str, ServiceStatus]:
        """Start every service that is not running and healthy; reuse the others."""
        with self._locked():
            records = self._records()
            for service in self._services():
                record = records.get(service.name)
                if record and processes.is_running(record) and service.healthy(record.url):
                    logger.info(
                        "%s already running at %s (pid %d)", service.name, record.url, record.pid
                    )
                    continue
                if record:
                    processes.stop(record)
                if service.name == "s3":
                    self.credentials_file.unlink(missing_ok=True)
                port = processes.free_port(processes.port_of(record.url) if record else None)
                url = service.url(port)
                record = processes.start(
                    service.name,
                    service.argv(port),
                    log=self.root / "logs" / f"{service.name}.log",
                    url=url,
                    env=service.env() if service.env else None,
                )
                records[service.name] = record
                self._save(records)
                processes.wait_until(
                    functools.partial(service.healthy, url),
                    what=f"embedded {service.name} server",
                    timeout=START_TIMEOUT,
                    record=record,
                )
                logger.info("%s ready at %s", service.name, url)
            return self._status(records)

    def down(self) -> list[str]:
        """Stop the processes ``up`` started; return their names."""
        with self._locked():
            stopped = [name for name, record in self._records().items() if processes.stop(record)]
            self.state_file.unlink(missing_ok=True)
            self.credentials_file.unlink(missing_ok=True)
            return stopped

    def status(self) -> dict[str, ServiceStatus]:
        return self._status(self._records())

    def is_healthy(self) -> bool:
        status = self.status()
        names = {s.name for s in self._services()}
        return names <= set(status) and all(status[n].healthy for n in names)

    def environment(self) -> dict[str, str]:
        """What a pipeline step needs to reach the stack: data connection keys, hub, registry,
        and its service-account token."""
        records = self._records()
        env = json.loads(self.credentials_file.read_text())
        env["DATA_CONNECTION_NAME"] = DATA_CONNECTION_NAME
        env["HF_ENDPOINT"] = records["hub"].url
        env["MODEL_REGISTRY_URL"] = records["registry"].url
        env["MCP_SERVER_URL"] = f"{records['mcp'].url}/mcp"
        # As on a cluster: the step's service-account token file, and its Secrets (kube.secrets).
        env["KF_PIPELINES_SA_TOKEN_PATH"] = str(self.tokens.issue(PIPELINE_RUNNER))
        env[SECRETS_DIR_ENV] = str(self.secrets_dir)
        return env

    # -- state ----------------------------------------------------------------------------

    def _status(self, records: dict[str, ProcessRecord]) -> dict[str, ServiceStatus]:
        checks = {s.name: s.healthy for s in self._services_known(records)}
        result = {}
        for name, record in records.items():
            running = processes.is_running(record)
            check = checks.get(name)
            healthy = running and (
                check(record.url) if check else processes.http_ok(record.health_url)
            )
            result[name] = ServiceStatus(name, record.url, record.pid, running, healthy, record.log)
        return result

    # -- extra processes (the model server) ---------------------------------------------------

    def record(self, name: str) -> ProcessRecord | None:
        return self._records().get(name)

    def stop_process(self, name: str) -> bool:
        """Stop one extra process (and forget it); False if it was not running."""
        with self._locked():
            records = self._records()
            record = records.pop(name, None)
            self._save(records)
        return processes.stop(record) if record else False

    def start_process(
        self,
        name: str,
        argv: list[str],
        *,
        url: str,
        health_url: str,
        ready: Callable[[], bool],
        timeout: float,
        env: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> ProcessRecord:
        """Start a server beside the stack (replacing one of that name) and wait for ``ready``."""
        with self._locked():
            records = self._records()
            if name in records:
                processes.stop(records.pop(name))
            record = processes.start(
                name,
                argv,
                log=self.root / "logs" / f"{name}.log",
                url=url,
                env=env,
                health_url=health_url,
                labels=labels,
            )
            records[name] = record
            self._save(records)
        processes.wait_until(ready, what=f"embedded {name} server", timeout=timeout, record=record)
        return record

    def _services_known(self, records: dict[str, ProcessRecord]) -> Iterator[_Service]:
        if "hub" in records and self._hub_repos is None:
            # Status must not convert the bundled model: read the repos the hub was given.
            self._hub_repos = dict(
                _repo_arg(arg) for arg in records["hub"].argv if arg.startswith("--repo=")
            )
        return (s for s in self._services() if s.name in records)

    def _records(self) -> dict[str, ProcessRecord]:
        try:
            raw = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return {name: ProcessRecord(**fields) for name, fields in raw.get("processes", {}).items()}

    def _save(self, records: dict[str, ProcessRecord]) -> None:
        usable_folder(self.root, "state", "LLAMA_ROLLOUT_STATE_DIR", create=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"processes": {n: r.as_dict() for n, r in records.items()}}, indent=2)
        )
        tmp.replace(self.state_file)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        usable_folder(self.root, "state", "LLAMA_ROLLOUT_STATE_DIR", create=True)
        with (self.root / "stack.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _repo_arg(arg: str) -> tuple[str, Path]:
    repo, _, folder = arg.removeprefix("--repo=").partition("=")
    return repo, Path(folder)
