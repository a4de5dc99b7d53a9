"""Custom-image mutations: create, rename, delete, share, unshare, copy, cancel a copy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import strawberry

from app.errors import DomainError, ErrorCode, input_field
from app.images import lifecycle, sharing
from app.images.models import Image as ImageRow
from app.platform.viewer import Viewer
from app.workflows import capture, copying
from schema.context import Info
from schema.descriptions import NAME_RULE
from schema.errors import Call, Payload, mutate
from schema.images.types import Image, ImageId
from schema.mutation import argument, mutation
from schema.operations.types import Operation


@strawberry.input(
    one_of=True, description="What a new custom image is made from: exactly one of these."
)
class CaptureSource:
    instance_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Capture this instance (RUNNING or STOPPED)."
    )
    snapshot_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Make it from this AVAILABLE snapshot."
    )


#: what the older pair of fields says now that ``source`` names what an image is made from
OLDER_SOURCE_FIELD = "Use source: {instanceId: ...} or source: {snapshotId: ...} instead."


@strawberry.input(description="A new custom image, from an instance or a snapshot (exactly one).")
class CreateImageInput:
    name: str = strawberry.field(description=NAME_RULE)
    description: str = strawberry.field(default="", description="Up to 256 characters.")
    source: CaptureSource | None = strawberry.field(
        default=None, description="What it is made from: an instance or a snapshot."
    )
    instance_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Capture this instance (RUNNING or STOPPED).",
        deprecation_reason=OLDER_SOURCE_FIELD,
    )
    snapshot_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Or make it from this AVAILABLE snapshot.",
        deprecation_reason=OLDER_SOURCE_FIELD,
    )
    family: str | None = strawberry.field(
        default=None,
        description=(
            "Put the new image in this family (1 to 63 lower-case letters, digits and hyphens, "
            "starting with a letter)."
        ),
    )
    copy_tags: bool = strawberry.field(
        default=False, description="Give the new image(s) the source's tags (yours alone)."
    )
    client_token: str | None = strawberry.field(default=None, description="Idempotency key.")

    def sources(self) -> tuple[str | None, str | None]:
        """The (instance id, snapshot id) it names, by ``source`` or by the older fields.

        Raises:
            DomainError: INVALID_INPUT when ``source`` and an older field are both given.
        """
        if self.source is None:
            return (
                str(self.instance_id) if self.instance_id is not None else None,
                str(self.snapshot_id) if self.snapshot_id is not None else None,
            )
        if self.instance_id is not None or self.snapshot_id is not None:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "Name what the image is made from once: source, or the older instanceId or "
                "snapshotId.",
                input_field("source"),
            )
        instance_id, snapshot_id = self.source.instance_id, self.source.snapshot_id
        return (
            str(instance_id) if instance_id not in (None, strawberry.UNSET) else None,
            str(snapshot_id) if snapshot_id not in (None, strawberry.UNSET) else None,
        )


@strawberry.type(description="A new image and the operation making it.")
class ImageStarted(Payload):
    image: Image | None = strawberry.field(
        description="The new image (CREATING until its operation finishes)."
    )
    operation: Operation | None = strawberry.field(description="The operation making it.")

    @classmethod
    def of(cls, started: capture.Started, viewer: Viewer) -> ImageStarted:
        """The answer for an image being made."""
        return cls(
            image=Image.from_row(started.image, viewer),
            operation=Operation.from_row(started.operation),
        )


@strawberry.type(description="Result of deleteImage.")
class DeleteImagePayload(Payload):
    deleted_image_id: strawberry.ID | None = strawberry.field(description="What was deleted.")


@strawberry.input(description="Copy a custom image to other regions.")
class CopyImageInput:
    image_id: strawberry.ID = strawberry.field(description="Source image id.")
    destination_regions: list[strawberry.ID] = strawberry.field(
        description="Region codes (not the source's; each must accept copies)."
    )
    name: str | None = strawberry.field(default=None, description="Name of the copies.")
    copy_tags: bool = strawberry.field(
        default=False, description="Give the new image(s) the source's tags (yours alone)."
    )
    client_token: str | None = strawberry.field(default=None, description="Idempotency key.")


@strawberry.type(description="Result of copyImage.")
class CopyImagePayload(Payload):
    images: list[Image] = strawberry.field(description="One new image per destination (CREATING).")
    operations: list[Operation] = strawberry.field(description="One COPY_IMAGE per destination.")


@strawberry.type(description="Result of cancelImageCopy.")
class CancelImageCopyPayload(Payload):
    cancelled_image_id: strawberry.ID | None = strawberry.field(
        description="The destination image, which no longer exists."
    )


@strawberry.type(description="The image after a change.")
class ImageResult(Payload):
    image: Image | None = strawberry.field(description="The image as it is now.")


def image_mutation(info: Info, change: Callable[[Call], ImageRow]) -> ImageResult:
    """A mutation whose whole answer is the image it changed."""
    return mutate(
        info, ImageResult, lambda c: ImageResult(image=Image.from_row(change(c), c.viewer))
    )


AccountIds = Annotated[list[strawberry.ID], argument("Account ids (acc-...).")]


@strawberry.type
class ImageMutations:
    @mutation("Create a custom image from an instance or a snapshot.")
    def create_image(self, info: Info, input: CreateImageInput) -> ImageStarted:
        def work(c: Call) -> ImageStarted:
            instance_id, snapshot_id = input.sources()
            started = capture.create_image(
                **c.acting,
                new=capture.NewImage(
                    name=input.name,
                    description=input.description,
                    instance_id=instance_id,
                    snapshot_id=snapshot_id,
                    client_token=input.client_token,
                    family=input.family,
                    copy_tags=input.copy_tags,
                ),
                policy=info.context.services.policy,
                now=c.now,
            )
            return ImageStarted.of(started, c.viewer)

        return mutate(info, ImageStarted, work)

    @mutation("Rename a custom image (owner only).", input="A new name for a custom image.")
    def rename_image(
        self,
        info: Info,
        image_id: ImageId,
        name: Annotated[str, argument(f"The new name. {NAME_RULE}")],
    ) -> ImageResult:
        return image_mutation(
            info, lambda c: lifecycle.rename(**c.acting, image_id=str(image_id), name=name)
        )

    @mutation(
        "Delete a custom image (owner only); refused while it is being created, copied or shared.",
        input="Which custom image to delete (irreversible).",
    )
    def delete_image(self, info: Info, image_id: ImageId) -> DeleteImagePayload:
        def work(c: Call) -> DeleteImagePayload:
            deleted = lifecycle.delete(
                **c.acting,
                image_id=str(image_id),
                now=c.now,
                recycle_bin_days=info.context.services.policy.recycle_bin_days,
            )
            return DeleteImagePayload(deleted_image_id=strawberry.ID(deleted))

        return mutate(info, DeleteImagePayload, work)

    @mutation(
        "Share a custom image with accounts in its region (owner only): all or nothing; "
        "sharing again is harmless.",
        input="Accounts to share a custom image with (all or nothing).",
    )
    def share_image(self, info: Info, image_id: ImageId, account_ids: AccountIds) -> ImageResult:
        return image_mutation(
            info,
            lambda c: sharing.share(
                **c.acting,
                image_id=str(image_id),
                account_ids=[str(a) for a in account_ids],
                policy=info.context.services.policy,
                now=c.now,
            ),
        )

    @mutation(
        "Stop sharing a custom image with accounts (owner only).",
        input="Accounts to stop sharing a custom image with (all or nothing).",
    )
    def unshare_image(self, info: Info, image_id: ImageId, account_ids: AccountIds) -> ImageResult:
        return image_mutation(
            info,
            lambda c: sharing.unshare(
                **c.acting, image_id=str(image_id), account_ids=[str(a) for a in account_ids]
            ),
        )

    @mutation(
        "Copy a custom image to other regions (owner only); the source is locked "
        "(REPLICATING) while copies are in flight."
    )
    def copy_image(self, info: Info, input: CopyImageInput) -> CopyImagePayload:
        def work(c: Call) -> CopyImagePayload:
            copies = copying.copy(
                **c.acting,
                image_id=str(input.image_id),
                regions=[str(r) for r in input.destination_regions],
                name=input.name,
                client_token=input.client_token,
                policy=info.context.services.policy,
                now=c.now,
                copy_tags=input.copy_tags,
            )
            return CopyImagePayload(
                images=[Image.from_row(i, c.viewer) for i in copies.images],
                operations=[Operation.from_row(o) for o in copies.operations],
            )

        return mutate(info, CopyImagePayload, work)

    @mutation(
        "Cancel a copy in flight by its destination image, which disappears.",
        input="Cancel a copy in flight, by its destination image.",
    )
    def cancel_image_copy(
        self,
        info: Info,
        image_id: Annotated[strawberry.ID, argument("Destination image id.")],
    ) -> CancelImageCopyPayload:
        def work(c: Call) -> CancelImageCopyPayload:
            image = copying.cancel(**c.acting, image_id=str(image_id), now=c.now)
            return CancelImageCopyPayload(cancelled_image_id=strawberry.ID(image.id))

        return mutate(info, CancelImageCopyPayload, work)
