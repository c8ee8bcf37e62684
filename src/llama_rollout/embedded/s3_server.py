"""The embedded S3: moto's server on loopback, with credentials enforced and the bucket made.

moto accepts any credentials unless told to check them. This server lets exactly three
unauthenticated requests through to create an IAM user with S3 rights and its access key,
then checks every request's signature against that key, as a real endpoint does: wrong
credentials get ``InvalidAccessKeyId`` / ``SignatureDoesNotMatch``.

Run: ``python -m llama_rollout.embedded.s3_server --port N --bucket B --credentials FILE``.
The access key is written to FILE (mode 0600) once the bucket exists.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

BOOTSTRAP_REQUESTS = 3  # create_user, put_user_policy, create_access_key
USER = "llama-rollout"
REGION = "us-east-1"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


def report_real_upload_start_times() -> None:
    """Make ListMultipartUploads report when each upload started, as S3 does.

    moto 5.2.5 answers every upload's ``Initiated`` with the constant 2010-11-10T20:48:33Z,
    which would make every pending upload look days old to a client that ages them (the
    mirror aborts only stale uploads). The listing below is moto's own, with the real time.
    """
    from moto.core.responses import ActionResult
    from moto.s3 import models, responses

    created = models.FakeMultipart.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        created(self, *args, **kwargs)
        self.initiated = datetime.now(UTC)

    def list_multipart_uploads(self: Any) -> Any:
        uploads = self.backend.list_multipart_uploads(self.bucket_name).values()
        prefix = self.querystring.get("prefix", [""])[0]
        result = {
            "Bucket": self.bucket_name,
            "KeyMarker": "",
            "UploadIdMarker": "",
            "MaxUploads": 1000,
            "IsTruncated": False,
            "Uploads": [
                {
                    "Key": upload.key_name,
                    "UploadId": upload.id,
                    "StorageClass": "STANDARD",
                    "Initiated": upload.initiated.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                }
                for upload in uploads
                if upload.key_name.startswith(prefix)
            ],
        }
        self.data["Action"] = "ListMultipartUploads"
        return self.serialized(ActionResult(result))

    # moto's own classes, patched in place on purpose (which mypy otherwise refuses).
    models.FakeMultipart.__init__ = init  # type: ignore[method-assign]
    responses.S3Response.list_multipart_uploads = list_multipart_uploads  # type: ignore[method-assign]


def serve(host: str, port: int, bucket: str, credentials: Path) -> None:
    """Start moto, provision the user, key and bucket, write the key and block until SIGTERM."""
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(BOOTSTRAP_REQUESTS)
    import boto3
    from moto.server import ThreadedMotoServer

    report_real_upload_start_times()

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    endpoint = f"http://{host}:{port}"

    def client(service: Literal["iam", "s3"], key: str = "bootstrap", secret: str = "bootstrap"):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )

    iam = client("iam")
    iam.create_user(UserName=USER)
    iam.put_user_policy(UserName=USER, PolicyName="s3-all", PolicyDocument=json.dumps(POLICY))
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    s3 = client("s3", key["AccessKeyId"], key["SecretAccessKey"])
    s3.create_bucket(Bucket=bucket)

    credentials.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(
            {
                "AWS_S3_ENDPOINT": endpoint,
                "AWS_S3_BUCKET": bucket,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            },
            fh,
        )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--credentials", type=Path, required=True)
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.bucket, args.credentials)


if __name__ == "__main__":
    main()
