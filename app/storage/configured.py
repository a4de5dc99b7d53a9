"""The object store the settings name: an S3 bucket (or an S3-compatible store) or files
under the data dir; and the start-up check that the bucket can be used.
"""

from __future__ import annotations

from app.config import PREFIX, Settings, SettingsError, masked_url
from app.storage.s3 import S3ObjectStore, bucket_problem
from app.storage.store import LocalObjectStore, ObjectStore


def check_at_start(settings: Settings) -> None:
    """Before start-up touches the database: the S3 bucket exists and its endpoint answers,
    asked once and briefly (objects under the data dir need no check).

    Raises:
        SettingsError: one line naming BCC_IMAGES_S3_ENDPOINT_URL (no answer) or
            BCC_IMAGES_OBJECT_STORE_URL (no such bucket, no credentials, refused).
    """
    if not settings.object_store_url:
        return
    problem = bucket_problem(settings.object_store_url, settings.s3_endpoint_url or None)
    if problem is not None:
        name, reason = problem
        value = masked_url(str(getattr(settings, name)))
        raise SettingsError(f"{PREFIX}{name.upper()}={value!r} cannot be used: {reason}")


def make_store(settings: Settings) -> ObjectStore:
    """Where objects live: an S3 bucket (or S3-compatible store: Baidu BOS, MinIO, Ceph RGW)
    with BCC_IMAGES_OBJECT_STORE_URL=s3://bucket[/prefix], else files under the data dir.
    """
    if settings.object_store_url.startswith("s3://"):
        return S3ObjectStore.from_url(
            settings.object_store_url, endpoint_url=settings.s3_endpoint_url or None
        )
    if settings.object_store_url:
        raise ValueError("BCC_IMAGES_OBJECT_STORE_URL must be s3://bucket[/prefix]")
    return LocalObjectStore(settings.data_dir)
