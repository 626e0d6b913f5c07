"""Attachment storage in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS, moto), the backend
N appliances share (DESIGN §10.6). Same verbs and promises as `LocalBlobs`: `put` returns only
once the object is stored (S3 PUT is durable when it answers 200), before the commit that names
it; a missing object reads as FileNotFoundError; deleting a missing one is not an error.

Why obstore: a small Rust client with a synchronous API (the callers run blob verbs in worker
threads, as for local files), no boto3/aiobotocore tree in the binary, and connection reuse.
A bucket that cannot be reached raises `StoreUnavailable`, so a send answers 503 with
Retry-After instead of 500, as for a full disk.
"""

from collections.abc import Mapping

import obstore
from obstore.store import S3Store

from iep_appliance.config_blobs import BlobsConfig
from iep_appliance.domain.errors import ConfigError, StoreUnavailable


class S3Blobs:
    def __init__(self, cfg: BlobsConfig, environ: Mapping[str, str]) -> None:
        problems = []
        if not cfg.bucket:
            problems.append("blobs.bucket: required when backend is s3")
        key_id = environ.get(cfg.access_key_id_env, "")
        secret = environ.get(cfg.secret_access_key_env, "")
        if not key_id:
            problems.append(
                f"blobs.access_key_id_env: environment variable {cfg.access_key_id_env} is not set"
            )
        if not secret:
            problems.append(
                f"blobs.secret_access_key_env: environment variable "
                f"{cfg.secret_access_key_env} is not set"
            )
        if problems:
            raise ConfigError(problems)
        options: dict[str, str | bool] = {"timeout": f"{cfg.timeout_seconds}s"}
        if cfg.endpoint_url.startswith("http://"):
            options["allow_http"] = True
        self.prefix = cfg.prefix.strip("/")
        self._store = S3Store(
            cfg.bucket,
            prefix=self.prefix or None,
            region=cfg.region,
            endpoint=cfg.endpoint_url or None,
            access_key_id=key_id,
            secret_access_key=secret,
            # Path-style requests: what S3-compatible servers on one host name answer.
            virtual_hosted_style_request=not cfg.endpoint_url,
            client_options=options,  # type: ignore[arg-type]
        )

    @staticmethod
    def _unavailable(exc: Exception) -> StoreUnavailable:
        found = StoreUnavailable(f"attachment bucket unavailable: {type(exc).__name__}")
        found.__cause__ = exc
        return found

    def put(self, key: str, data: bytes) -> None:
        try:
            obstore.put(self._store, key, data)
        except Exception as exc:  # obstore raises its own tree for every transport failure
            raise self._unavailable(exc) from exc

    def get(self, key: str) -> bytes:
        try:
            return bytes(obstore.get(self._store, key).bytes())
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise self._unavailable(exc) from exc

    def keys(self, prefix: str = "") -> list[str]:
        """Every key under `prefix` (backups, `iep store copy`, GDPR erase)."""
        try:
            return [
                str(meta["path"])
                for batch in obstore.list(self._store, prefix=prefix or None)
                for meta in batch
            ]
        except Exception as exc:
            raise self._unavailable(exc) from exc

    def delete(self, key: str) -> None:
        try:
            obstore.delete(self._store, key)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise self._unavailable(exc) from exc

    def delete_prefix(self, prefix: str) -> None:
        found = self.keys(prefix.rstrip("/") + "/")
        if not found:
            return
        try:
            obstore.delete(self._store, found)
        except Exception as exc:
            raise self._unavailable(exc) from exc
