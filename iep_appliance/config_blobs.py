"""`[blobs]`: where attachment files live — the local directory (`[storage] attachments_dir`)
or an S3-compatible bucket shared by every node of a cluster (DESIGN §10.6)."""

from typing import Annotated, Literal

import msgspec
from msgspec import Meta


class BlobsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    backend: Annotated[
        Literal["local", "s3"],
        Meta(description='"local": files under [storage] attachments_dir; "s3": a bucket.'),
    ] = "local"
    bucket: Annotated[str, Meta(description="S3 bucket (s3 only).")] = ""
    prefix: Annotated[str, Meta(description="Key prefix inside the bucket (s3 only).")] = "iep"
    endpoint_url: Annotated[
        str,
        Meta(description="S3-compatible endpoint (MinIO, SeaweedFS …); empty: AWS (s3 only)."),
    ] = ""
    region: Annotated[str, Meta(description="Bucket region (s3 only).")] = "us-east-1"
    access_key_id_env: Annotated[
        str, Meta(description="Environment variable holding the access key id (s3 only).")
    ] = "IEP_S3_ACCESS_KEY_ID"
    secret_access_key_env: Annotated[
        str, Meta(description="Environment variable holding the secret access key (s3 only).")
    ] = "IEP_S3_SECRET_ACCESS_KEY"
    timeout_seconds: Annotated[
        float, Meta(gt=0, description="Timeout of one bucket request (s3 only).")
    ] = 30
