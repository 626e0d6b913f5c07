"""A real S3-compatible server for tests: moto's server mode on 127.0.0.1 (a threaded Werkzeug
server speaking the S3 REST API), with one bucket made through boto3 as an operator would."""

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import msgspec
from moto.server import ThreadedMotoServer

from iep_appliance.config_blobs import BlobsConfig

KEY_ID = "test-key-id"
SECRET = "test-secret-key"
ENVIRON = {"IEP_S3_ACCESS_KEY_ID": KEY_ID, "IEP_S3_SECRET_ACCESS_KEY": SECRET}


class S3Server(msgspec.Struct):
    url: str
    bucket: str

    def config(self, prefix: str = "iep") -> BlobsConfig:
        return BlobsConfig(backend="s3", bucket=self.bucket, prefix=prefix, endpoint_url=self.url)

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )

    def object_keys(self) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.bucket)
        return sorted(o["Key"] for o in listed.get("Contents", []))


@contextmanager
def s3_server(bucket: str = "iep-test") -> Iterator[S3Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        found = S3Server(url=f"http://{host}:{port}", bucket=bucket)
        found.client().create_bucket(Bucket=bucket)
        yield found
    finally:
        server.stop()
