"""Custom-image mutations: create, rename, delete, share, unshare, copy, cancel a copy."""

from __future__ import annotations

import strawberry

from app.images import lifecycle, sharing
from app.workflows import capture, copying
from schema.context import Info
from schema.descriptions import NAME_RULE
from schema.errors import Call, Payload, mutate
from schema.images.types import Image
from schema.operations.types import Operation
from schema.permissions import SignedIn


@strawberry.input(description="A new custom image, from an instance or a snapshot (exactly one).")
class CreateImageInput:
    name: str = strawberry.field(description=NAME_RULE)
    description: str = strawberry.field(default="", description="Up to 256 characters.")
    instance_id: strawberry.ID | None = strawberry.field(
        default=None, description="Capture this instance (RUNNING or STOPPED)."
    )
    snapshot_id: strawberry.ID | None = strawberry.field(
        default=None, description="Or make it from this AVAILABLE snapshot."
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


@strawberry.type(description="Result of createImage.")
class CreateImagePayload(Payload):
    image: Image | None = strawberry.field(description="The new image (CREATING).")
    operation: Operation | None = strawberry.field(description="The CREATE_IMAGE operation.")


@strawberry.input(description="A new name for a custom image.")
class RenameImageInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")
    name: str = strawberry.field(description=f"The new name. {NAME_RULE}")


@strawberry.type(description="Result of renameImage.")
class RenameImagePayload(Payload):
    image: Image | None = strawberry.field(description="The renamed image.")


@strawberry.input(description="Which custom image to delete (irreversible).")
class DeleteImageInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")


@strawberry.type(description="Result of deleteImage.")
class DeleteImagePayload(Payload):
    deleted_image_id: strawberry.ID | None = strawberry.field(description="What was deleted.")


@strawberry.input(description="Accounts to share a custom image with (all or nothing).")
class ShareImageInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")
    account_ids: list[strawberry.ID] = strawberry.field(description="Recipient account ids.")


@strawberry.type(description="Result of shareImage.")
class ShareImagePayload(Payload):
    image: Image | None = strawberry.field(description="The shared image.")


@strawberry.input(description="Accounts to stop sharing a custom image with (all or nothing).")
class UnshareImageInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")
    account_ids: list[strawberry.ID] = strawberry.field(description="Account ids.")


@strawberry.type(description="Result of unshareImage.")
class UnshareImagePayload(Payload):
    image: Image | None = strawberry.field(description="The image.")


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


@strawberry.input(description="Cancel a copy in flight, by its destination image.")
class CancelImageCopyInput:
    image_id: strawberry.ID = strawberry.field(description="Destination image id.")


@strawberry.type(description="Result of cancelImageCopy.")
class CancelImageCopyPayload(Payload):
    cancelled_image_id: strawberry.ID | None = strawberry.field(
        description="The destination image, which no longer exists."
    )


@strawberry.type
class ImageMutations:
    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Create a custom image from an instance or a snapshot.",
    )
    def create_image(self, info: Info, input: CreateImageInput) -> CreateImagePayload:
        def work(c: Call) -> CreateImagePayload:
            started = capture.create_image(
                **c.acting,
                new=capture.NewImage(
                    name=input.name,
                    description=input.description,
                    instance_id=str(input.instance_id) if input.instance_id is not None else None,
                    snapshot_id=str(input.snapshot_id) if input.snapshot_id is not None else None,
                    client_token=input.client_token,
                    family=input.family,
                    copy_tags=input.copy_tags,
                ),
                policy=info.context.policy,
                now=c.now,
            )
            return CreateImagePayload(
                image=Image.from_row(started.image, c.viewer),
                operation=Operation.from_row(started.operation),
            )

        return mutate(info, CreateImagePayload, work)

    @strawberry.mutation(
        permission_classes=[SignedIn], description="Rename a custom image (owner only)."
    )
    def rename_image(self, info: Info, input: RenameImageInput) -> RenameImagePayload:
        def work(c: Call) -> RenameImagePayload:
            image = lifecycle.rename(**c.acting, image_id=str(input.image_id), name=input.name)
            return RenameImagePayload(image=Image.from_row(image, c.viewer))

        return mutate(info, RenameImagePayload, work)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description=(
            "Delete a custom image (owner only); refused while it is being created, copied or "
            "shared."
        ),
    )
    def delete_image(self, info: Info, input: DeleteImageInput) -> DeleteImagePayload:
        def work(c: Call) -> DeleteImagePayload:
            deleted = lifecycle.delete(
                **c.acting,
                image_id=str(input.image_id),
                now=c.now,
                recycle_bin_days=info.context.policy.recycle_bin_days,
            )
            return DeleteImagePayload(deleted_image_id=strawberry.ID(deleted))

        return mutate(info, DeleteImagePayload, work)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description=(
            "Share a custom image with accounts in its region (owner only): all or nothing; "
            "sharing again is harmless."
        ),
    )
    def share_image(self, info: Info, input: ShareImageInput) -> ShareImagePayload:
        def work(c: Call) -> ShareImagePayload:
            image = sharing.share(
                **c.acting,
                image_id=str(input.image_id),
                account_ids=[str(a) for a in input.account_ids],
                policy=info.context.policy,
                now=c.now,
            )
            return ShareImagePayload(image=Image.from_row(image, c.viewer))

        return mutate(info, ShareImagePayload, work)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Stop sharing a custom image with accounts (owner only).",
    )
    def unshare_image(self, info: Info, input: UnshareImageInput) -> UnshareImagePayload:
        def work(c: Call) -> UnshareImagePayload:
            image = sharing.unshare(
                **c.acting,
                image_id=str(input.image_id),
                account_ids=[str(a) for a in input.account_ids],
            )
            return UnshareImagePayload(image=Image.from_row(image, c.viewer))

        return mutate(info, UnshareImagePayload, work)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description=(
            "Copy a custom image to other regions (owner only); the source is locked "
            "(REPLICATING) while copies are in flight."
        ),
    )
    def copy_image(self, info: Info, input: CopyImageInput) -> CopyImagePayload:
        def work(c: Call) -> CopyImagePayload:
            copies = copying.copy(
                **c.acting,
                image_id=str(input.image_id),
                regions=[str(r) for r in input.destination_regions],
                name=input.name,
                client_token=input.client_token,
                policy=info.context.policy,
                now=c.now,
                copy_tags=input.copy_tags,
            )
            return CopyImagePayload(
                images=[Image.from_row(i, c.viewer) for i in copies.images],
                operations=[Operation.from_row(o) for o in copies.operations],
            )

        return mutate(info, CopyImagePayload, work)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Cancel a copy in flight by its destination image, which disappears.",
    )
    def cancel_image_copy(self, info: Info, input: CancelImageCopyInput) -> CancelImageCopyPayload:
        def work(c: Call) -> CancelImageCopyPayload:
            image = copying.cancel(
                **c.acting,
                image_id=str(input.image_id),
                now=c.now,
            )
            return CancelImageCopyPayload(
                cancelled_image_id=strawberry.ID(image.id), user_errors=[]
            )

        return mutate(info, CancelImageCopyPayload, work)
