"""S3 settings from an OpenShift AI data connection, and the S3 client made from them.

An OpenShift AI data connection is a Secret with the keys ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_S3_ENDPOINT``, ``AWS_S3_BUCKET`` and ``AWS_DEFAULT_REGION``.
Pipeline steps get them as environment variables (kfp-kubernetes ``use_secret_as_env``); on a
laptop the embedded stack exports the same keys.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from llama_rollout import redaction
from llama_rollout.bounds import CONNECT, S3_PROBE, S3_TRANSFER, Bound, EndpointSilent
from llama_rollout.deadline import bound_botocore, deadline
from llama_rollout.errors import (
    ConfigurationError,
    StorageError,
    first_line,
    invalid_settings,
    quoted,
)
from llama_rollout.step_parameters import parameter
from llama_rollout.weights.inputs import (
    check_ca_bundle,
    check_connection_name,
    check_region,
    endpoint_problem,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

# What the dashboard puts on a data connection Secret, and why the cluster needs it:
# odh-model-controller builds KServe's storage-config (which `storage.key` is read from) only
# from Secrets with both labels, and its webhook (since 0cdaea59, 2026-07) refuses an
# InferenceService whose opendatahub.io/connections names a Secret with neither annotation.
DASHBOARD_LABELS = {"opendatahub.io/dashboard": "true", "opendatahub.io/managed": "true"}
PROTOCOL_ANNOTATIONS = (
    "opendatahub.io/connection-type-protocol",
    "opendatahub.io/connection-type-ref",
)

NOT_S3_HINT = (
    "set AWS_S3_ENDPOINT to the S3 API's URL (on OpenShift Data Foundation, its s3 route or "
    "service), not a console or another web server"
)

BUCKET_NAME = re.compile(r"[a-zA-Z0-9.\-_]{1,255}")

ENV_KEYS = {
    "endpoint": "AWS_S3_ENDPOINT",
    "bucket": "AWS_S3_BUCKET",
    "access_key_id": "AWS_ACCESS_KEY_ID",
    "secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "region": "AWS_DEFAULT_REGION",
}


# The pipeline's data connection: the Secret the steps read S3 with, and KServe the model.
DataConnectionName = Annotated[
    str,
    parameter(
        "llama-rollout-models",
        pipeline="data_connection",
        description="name of the OpenShift AI S3 data connection Secret.",
    ),
]


class DataConnection(BaseModel):
    """Where models are stored: one bucket of an S3-compatible endpoint.

    Attributes:
        name: the data connection's Secret name; the registry records it as ``storage_key``
            and KServe reads the same Secret to fetch the model.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str
    bucket: str
    access_key_id: SecretStr
    secret_access_key: SecretStr
    region: str = "us-east-1"
    name: str = "llama-rollout-models"
    ca_bundle: str | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_url(cls, value: str) -> str:
        if problem := endpoint_problem("AWS_S3_ENDPOINT", value):
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        # botocore's own rule, which it would otherwise report with its regex on a second line
        if not BUCKET_NAME.fullmatch(value):
            raise ValueError(
                f"AWS_S3_BUCKET {quoted(value)} is not a bucket name (letters, digits, '.', '-', '_')"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region_name(cls, value: str) -> str:
        return check_region(value)

    @field_validator("name")
    @classmethod
    def _secret_name(cls, value: str) -> str:
        return check_connection_name(value)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, name: str | None = None
    ) -> DataConnection:
        """Read the data connection keys from the environment.

        Args:
            env: the environment to read (default ``os.environ``).
            name: the data connection's Secret name (default ``DATA_CONNECTION_NAME`` or
                ``llama-rollout-models``).

        Raises:
            ConfigurationError: a key is missing or invalid.
        """
        env = os.environ if env is None else env
        missing = [key for field, key in ENV_KEYS.items() if field != "region" and not env.get(key)]
        if missing:
            raise ConfigurationError(
                f"S3 data connection incomplete: {', '.join(missing)} not set",
                hint="attach an OpenShift AI data connection to the step, or export the AWS_* keys "
                "(`llama-rollout local up` prints them for the embedded S3)",
            )
        redaction.remember(env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY"))
        values: dict[str, Any] = {f: env[k] for f, k in ENV_KEYS.items() if env.get(k)}
        values["name"] = name or env.get("DATA_CONNECTION_NAME") or "llama-rollout-models"
        try:
            connection = cls(**values)
        except ValidationError as exc:
            raise invalid_settings("S3 data connection", exc) from exc
        if ca_bundle := env.get("AWS_CA_BUNDLE"):
            # Read here, as every user file is: botocore would open a named pipe and wait.
            connection = connection.model_copy(update={"ca_bundle": check_ca_bundle(ca_bundle)})
        return connection

    def client(
        self,
        *,
        max_pool_connections: int = 16,
        attempts: int = S3_TRANSFER.attempts,
        read_timeout: float = S3_TRANSFER.read,
        in_all: bool = True,
    ) -> S3Client:
        """An S3 client for this endpoint, retrying throttling, 5xx and dropped connections
        (botocore's standard mode), each attempt bounded by the connect and read timeouts.

        Each attempt (the request, and the answer's body unless streamed; a streamed one up to
        its headers) is bounded by their sum in all, however slowly the bytes come: every
        request but a transfer's is short. ``in_all=False`` is for the requests that carry a
        transfer's bytes (a part's upload, a file's, their completion and server-side copy):
        they take their size over the link's speed, which no total fits, and keep the
        per-read bound alone. A streamed download's body, read after the request, is bounded
        per read too, unless read in a ``deadline`` (see ``read_object``).
        """
        import boto3
        from botocore.config import Config

        config = Config(
            region_name=self.region,
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "total_max_attempts": attempts},
            max_pool_connections=max_pool_connections,
            connect_timeout=CONNECT,
            read_timeout=read_timeout,
            # The newer default CRC trailers (aws-chunked bodies) are refused by several
            # on-premises S3 servers; integrity comes from TLS or the SigV4 payload hash, and
            # the mirror verifies sha256 end to end.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key_id.get_secret_value(),
            aws_secret_access_key=self.secret_access_key.get_secret_value(),
            config=config,
            verify=self.ca_bundle if self.ca_bundle else None,
        )
        return bound_botocore(client) if in_all else client

    def check_bucket(self) -> None:
        """Fail early, with the fix, when the endpoint is not S3, or the bucket or the
        credentials are wrong: one listing of the bucket, within ``bounds.S3_PROBE``."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        client = self.client(attempts=S3_PROBE.attempts, read_timeout=S3_PROBE.read, in_all=True)
        try:
            client.list_objects_v2(Bucket=self.bucket, MaxKeys=1)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if not code or code.isdigit():  # no S3 error document: some other HTTP server
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                raise StorageError(
                    f"{self.endpoint} answered {status} to a bucket listing without an S3 error: "
                    "it does not look like an S3 endpoint",
                    hint=NOT_S3_HINT,
                ) from exc
            raise storage_error(exc, self, f"bucket {self.bucket}", bucket=self.bucket) from exc
        except (ReadTimeoutError, ConnectTimeoutError) as exc:  # each attempt, or its total
            raise EndpointSilent("S3", self.endpoint, S3_PROBE.total) from exc
        except EndpointConnectionError as exc:
            raise StorageError(
                f"cannot reach S3 at {self.endpoint}: {first_line(exc)}",
                hint="check AWS_S3_ENDPOINT and that the endpoint is up",
            ) from exc
        except BotoCoreError as exc:  # an answer botocore cannot read as S3's
            raise StorageError(
                f"{self.endpoint} did not answer as S3 does ({first_line(exc)})", hint=NOT_S3_HINT
            ) from exc


def read_object(
    connection: DataConnection, client: S3Client, key: str, *, limit: int, bound: Bound = S3_PROBE
) -> bytes | None:
    """The bytes of a small object (a manifest), its body included within ``bound`` in all;
    None when there is no such object.

    Raises:
        EndpointSilent: no whole answer within the bound.
        StorageError: S3 refused, or the object is larger than ``limit``.
        botocore's ClientError: any refusal but a missing object.
    """
    from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

    def timed_out(found: Any) -> Exception:
        return ReadTimeoutError(endpoint_url=connection.endpoint, error="no whole answer")

    where = f"s3://{connection.bucket}/{key}"
    try:
        with deadline(bound.total, timed_out):
            body = client.get_object(Bucket=connection.bucket, Key=key)["Body"]
            try:
                content = body.read(limit + 1)
            finally:
                body.close()
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in ("NoSuchKey", "404"):
            return None
        raise
    except BotoCoreError as exc:
        raise s3_failure(exc, connection, f"read {where}", bound) from exc
    if len(content) > limit:
        raise StorageError(
            f"{where} is larger than the {limit} bytes it may be: this project did not write it",
            hint="remove it, or mirror the model again into a prefix of its own",
        )
    return bytes(content)


def s3_failure(exc: Exception, connection: DataConnection, what: str, bound: Bound) -> Exception:
    """A botocore error that is no refusal (a timeout, no connection, an answer that is not
    S3's) as the error that says so: EndpointSilent for silence, else a StorageError."""
    from botocore.exceptions import (
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
        return EndpointSilent("S3", connection.endpoint, bound.total)
    if isinstance(exc, EndpointConnectionError):
        return StorageError(
            f"cannot reach S3 at {connection.endpoint} to {what}: {first_line(exc)}",
            hint="check AWS_S3_ENDPOINT and that the endpoint is up",
        )
    return StorageError(f"S3 at {connection.endpoint} failed to {what}: {first_line(exc)}")


def storage_error(
    exc: Exception, connection: DataConnection, what: str, *, bucket: str | None = None
) -> StorageError:
    """Turn a botocore ClientError into a StorageError that names the fix."""
    response = getattr(exc, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code == "NoSuchBucket" or (status == 404 and what.startswith("bucket")):
        return StorageError(
            f"bucket {bucket or connection.bucket!r} does not exist at {connection.endpoint}",
            hint="create it, or set AWS_S3_BUCKET to an existing bucket",
        )
    if (
        code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "AccessDenied")
        or status == 403
    ):
        return StorageError(
            f"S3 at {connection.endpoint} refused the credentials for {what} ({code or status})",
            hint="check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the data connection",
        )
    return StorageError(f"S3 request for {what} failed: {first_line(exc)}")


def connection_secret_fixes(name: str, namespace: str, metadata: dict[str, Any]) -> list[str]:
    """What a data connection Secret lacks for KServe to read the model, as ``oc`` commands."""
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    fixes = []
    missing = [f"{k}={v}" for k, v in DASHBOARD_LABELS.items() if labels.get(k) != v]
    if missing:
        fixes.append(f"oc label secret {name} -n {namespace} {' '.join(missing)}")
    if not any(annotations.get(a) for a in PROTOCOL_ANNOTATIONS):
        fixes.append(f"oc annotate secret {name} -n {namespace} {PROTOCOL_ANNOTATIONS[0]}=s3")
    return fixes


def check_connection_secret(kube: Any, name: str, namespace: str) -> None:
    """Fail, before anything is applied, when KServe could not read the model through ``name``.

    Reads only the Secret's metadata. Without the dashboard's labels the predictor would wait
    for a storage-config entry that never comes, until the whole timeout has passed.

    Raises:
        ConfigurationError: the Secret is missing or lacks a label or annotation.
    """
    metadata = kube.metadata_of("v1", "Secret", name, namespace)
    if metadata is None:
        raise ConfigurationError(
            f"data connection {name!r} does not exist in namespace {namespace!r}",
            hint="create it there (dashboard: Connections, or manifests/data-connection): KServe "
            "reads the model with it from the namespace it serves in",
        )
    fixes = connection_secret_fixes(name, namespace, metadata)
    if fixes:
        raise ConfigurationError(
            f"data connection {name!r} in {namespace!r} lacks what OpenShift AI reads it by "
            f"(labels {', '.join(f'{k}={v}' for k, v in DASHBOARD_LABELS.items())}, annotation "
            f"{PROTOCOL_ANNOTATIONS[0]})",
            hint="run " + " && ".join(fixes),
        )
