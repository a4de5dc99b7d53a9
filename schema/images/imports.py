"""Uploading disk-image files (GraphQL multipart) and importing them (R45-R49)."""

from __future__ import annotations

import asyncio
import enum
from datetime import datetime
from typing import Annotated, Any

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload

from app.errors import DomainError, ErrorCode
from app.images.rules import DiskFormat, Generation, OsType
from app.regions import service as regions_service
from app.storage.models import StoredObject as StoredObjectRow
from app.storage.store import TooLarge, UploadedFile
from app.workflows import importing, objects
from schema.context import Info
from schema.descriptions import NAME_RULE
from schema.errors import Call, Payload, mutate, user_error
from schema.images.mutations import ImageStarted
from schema.mutation import argument, mutation
from schema.scalars import BigInt

CHUNK = 1024 * 1024


@strawberry.type(description="An uploaded file in a region's object store.")
class StoredObject:
    key: str = strawberry.field(description="Key to import it by (obj-...).")
    region: str = strawberry.field(description="Region code of the store holding it.")
    size_bytes: BigInt = strawberry.field(description="Size in bytes.")
    sha256: str = strawberry.field(description="SHA-256 of the content, hex.")
    filename: str = strawberry.field(description="Name the client gave the file.")
    created_at: datetime = strawberry.field(description="When it was uploaded (UTC).")

    @classmethod
    def from_row(cls, row: StoredObjectRow) -> StoredObject:
        """Build from an object row."""
        return cls(
            key=row.key,
            region=row.region_code,
            size_bytes=BigInt(row.size_bytes),
            sha256=row.sha256,
            filename=row.filename,
            created_at=row.created_at,
        )


@strawberry.input(description="A file to upload into a region's object store.")
class UploadObjectInput:
    region: strawberry.ID = strawberry.field(description="Region code.")
    file: Upload = strawberry.field(description="The file (GraphQL multipart request).")


@strawberry.type(description="Result of uploadObject.")
class UploadObjectPayload(Payload):
    object: StoredObject | None = strawberry.field(description="The stored object.")


@strawberry.type(description="Result of deleteObject.")
class DeleteObjectPayload(Payload):
    deleted_object_key: str | None = strawberry.field(description="The key that was deleted.")


@strawberry.input(description="The operating system inside an imported image.")
class ImportOsInput:
    type: OsType = strawberry.field(description="LINUX or WINDOWS.")
    name: str = strawberry.field(
        description="Distribution or product, such as Ubuntu, CentOS or Windows Server."
    )
    version: str = strawberry.field(description="Version, such as 22.04 or 2019.")
    arch: str = strawberry.field(
        default="x86_64", description="CPU architecture: x86_64 or aarch64."
    )


@strawberry.enum(description="How a Windows import is licensed.")
class LicenseType(enum.Enum):
    PLATFORM = "PLATFORM"
    BYOL = "BYOL"


@strawberry.input(description="Import an uploaded disk-image file as a custom image.")
class ImportImageInput:
    region: strawberry.ID = strawberry.field(description="Region of the image (and the object).")
    object_key: str = strawberry.field(description="Key returned by uploadObject.")
    name: str = strawberry.field(description=NAME_RULE)
    format: DiskFormat = strawberry.field(description="Declared format; the content must match.")
    os: ImportOsInput = strawberry.field(description="The OS inside (must be supported).")
    generation: Generation = strawberry.field(default=Generation.BCC, description="BCC or EBC.")
    description: str = strawberry.field(default="", description="Up to 256 characters.")
    license_type: LicenseType | None = strawberry.field(
        default=None, description="Windows only: PLATFORM (charged) or BYOL (not charged)."
    )
    family: str | None = strawberry.field(
        default=None,
        description=(
            "Put the new image in this family (1 to 63 lower-case letters, digits and hyphens, "
            "starting with a letter)."
        ),
    )
    client_token: str | None = strawberry.field(default=None, description="Idempotency key.")


async def _store(info: Info, upload: Any, region: str) -> tuple[str, int, str]:
    """Stream one uploaded file into the region's store: (key, size, sha256).

    Raises:
        DomainError: INVALID_INPUT (not a file part, or a file already stored by another
            field), REGION_NOT_FOUND, UPLOAD_TOO_LARGE.
    """
    if not isinstance(upload, UploadFile):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "file must be a file part of a GraphQL multipart request, mapped to this variable.",
            ("input", "file"),
        )
    if id(upload) in info.context.consumed_uploads:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "This file was already stored by another field of this request.",
            ("input", "file"),
        )
    info.context.consumed_uploads.add(id(upload))
    limit = info.context.services.settings.max_upload_bytes
    try:
        regions_service.require(session=info.context.session, code=region)
        writer = info.context.services.store.writer(region, limit)
        try:
            while chunk := await upload.read(CHUNK):
                await asyncio.to_thread(writer.write, chunk)
            return await asyncio.to_thread(writer.commit)
        except TooLarge:
            raise DomainError(
                ErrorCode.UPLOAD_TOO_LARGE, f"Uploads are at most {limit} bytes.", ("input", "file")
            ) from None
        except BaseException:
            writer.abort()
            raise
    finally:
        await upload.close()


@strawberry.type
class ImportMutations:
    @mutation("Upload a file (GraphQL multipart request), streamed to the region's store.")
    async def upload_object(self, info: Info, input: UploadObjectInput) -> UploadObjectPayload:
        store = info.context.services.store
        upload: Any = input.file
        region = str(input.region)
        try:
            key, size, sha256 = await _store(info, upload, region)
        except DomainError as error:
            return UploadObjectPayload(object=None, user_errors=[user_error(error)])
        name = str(getattr(upload, "filename", "") or "")
        stored = UploadedFile(region=region, key=key, size_bytes=size, sha256=sha256, filename=name)

        def work(c: Call) -> UploadObjectPayload:
            row = objects.record_upload(
                session=c.session,
                owner_id=c.viewer.account_id,
                upload=stored,
                now=c.now,
                quota=info.context.services.policy.storage_quota_bytes,
            )
            return UploadObjectPayload(object=StoredObject.from_row(row))

        try:
            payload = mutate(info, UploadObjectPayload, work)
        except BaseException:
            store.delete(region, key)
            raise
        if payload.object is None:
            store.delete(region, key)  # refused (e.g. over the storage quota): keep nothing
        return payload

    @mutation(
        "Delete an uploaded object you no longer need, freeing its storage quota. "
        "Refused with OBJECT_IN_USE while a live, binned or creating image imported from it "
        "exists.",
        input="An uploaded object to delete.",
    )
    def delete_object(
        self,
        info: Info,
        object_key: Annotated[str, argument("Key returned by uploadObject (obj-...).")],
    ) -> DeleteObjectPayload:
        regions: dict[str, str] = {}

        def work(c: Call) -> DeleteObjectPayload:
            stored = objects.delete_object(**c.acting, key=object_key)
            regions[stored.key] = stored.region_code
            return DeleteObjectPayload(deleted_object_key=stored.key)

        payload = mutate(info, DeleteObjectPayload, work)
        if payload.deleted_object_key is not None:  # after the commit; reconciliation is the net
            key = payload.deleted_object_key
            info.context.services.store.delete(regions[key], key)
        return payload

    @mutation(
        "Import an uploaded disk-image file as a custom image; the file's bytes are "
        "inspected (format, safety, size) by an IMPORT_IMAGE operation."
    )
    def import_image(self, info: Info, input: ImportImageInput) -> ImageStarted:
        request = importing.ImportRequest(
            region=str(input.region),
            object_key=input.object_key,
            name=input.name,
            format=input.format.value,
            generation=input.generation.value,
            os_type=input.os.type.value,
            os_name=input.os.name,
            os_version=input.os.version,
            os_arch=input.os.arch,
            description=input.description,
            license_type=input.license_type.value if input.license_type else None,
            client_token=input.client_token,
            family=input.family,
        )

        def work(c: Call) -> ImageStarted:
            started = importing.start(
                **c.acting,
                request=request,
                policy=info.context.services.policy,
                now=c.now,
            )
            return ImageStarted.of(started, c.viewer)

        return mutate(info, ImageStarted, work)
