"""Custom-image mutations: create, rename, delete, share, unshare, copy, cancel a copy."""

from __future__ import annotations

import strawberry
from sqlmodel import Session

from app.images import lifecycle, sharing
from app.workflows import capture, copying
from schema.context import Info
from schema.descriptions import NAME_RULE
from schema.errors import UserError, mutate
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
    client_token: str | None = strawberry.field(default=None, description="Idempotency key.")


@strawberry.type(description="Result of createImage.")
class CreateImagePayload:
    image: Image | None = strawberry.field(description="The new image (CREATING).")
    operation: Operation | None = strawberry.field(description="The CREATE_IMAGE operation.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was created.")


@strawberry.input(description="A new name for a custom image.")
class RenameImageInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")
    name: str = strawberry.field(description=f"The new name. {NAME_RULE}")


@strawberry.type(description="Result of renameImage.")
class RenameImagePayload:
    image: Image | None = strawberry.field(description="The renamed image.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed.")


@strawberry.input(description="Which custom image to delete (irreversible).")
class DeleteImageInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")


@strawberry.type(description="Result of deleteImage.")
class DeleteImagePayload:
    deleted_image_id: strawberry.ID | None = strawberry.field(description="What was deleted.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was deleted.")


@strawberry.input(description="Accounts to share a custom image with (all or nothing).")
class ShareImageInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")
    account_ids: list[strawberry.ID] = strawberry.field(description="Recipient account ids.")


@strawberry.type(description="Result of shareImage.")
class ShareImagePayload:
    image: Image | None = strawberry.field(description="The shared image.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed.")


@strawberry.input(description="Accounts to stop sharing a custom image with (all or nothing).")
class UnshareImageInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")
    account_ids: list[strawberry.ID] = strawberry.field(description="Account ids.")


@strawberry.type(description="Result of unshareImage.")
class UnshareImagePayload:
    image: Image | None = strawberry.field(description="The image.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed.")


@strawberry.input(description="Copy a custom image to other regions.")
class CopyImageInput:
    image_id: strawberry.ID = strawberry.field(description="Source image id.")
    destination_regions: list[strawberry.ID] = strawberry.field(
        description="Region codes (not the source's; each must accept copies)."
    )
    name: str | None = strawberry.field(default=None, description="Name of the copies.")
    client_token: str | None = strawberry.field(default=None, description="Idempotency key.")


@strawberry.type(description="Result of copyImage.")
class CopyImagePayload:
    images: list[Image] = strawberry.field(description="One new image per destination (CREATING).")
    operations: list[Operation] = strawberry.field(description="One COPY_IMAGE per destination.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was copied.")


@strawberry.input(description="Cancel a copy in flight, by its destination image.")
class CancelImageCopyInput:
    image_id: strawberry.ID = strawberry.field(description="Destination image id.")


@strawberry.type(description="Result of cancelImageCopy.")
class CancelImageCopyPayload:
    cancelled_image_id: strawberry.ID | None = strawberry.field(
        description="The destination image, which no longer exists."
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed.")


@strawberry.type
class ImageMutations:
    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Create a custom image from an instance or a snapshot.",
    )
    def create_image(self, info: Info, input: CreateImageInput) -> CreateImagePayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> CreateImagePayload:
            started = capture.create_image(
                session=session,
                viewer=viewer,
                new=capture.NewImage(
                    name=input.name,
                    description=input.description,
                    instance_id=str(input.instance_id) if input.instance_id is not None else None,
                    snapshot_id=str(input.snapshot_id) if input.snapshot_id is not None else None,
                    client_token=input.client_token,
                ),
                policy=info.context.policy,
                now=info.context.clock.now(),
            )
            return CreateImagePayload(
                image=Image.from_row(started.image, viewer),
                operation=Operation.from_row(started.operation),
                user_errors=[],
            )

        return mutate(info, action, CreateImagePayload)

    @strawberry.mutation(
        permission_classes=[SignedIn], description="Rename a custom image (owner only)."
    )
    def rename_image(self, info: Info, input: RenameImageInput) -> RenameImagePayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> RenameImagePayload:
            image = lifecycle.rename(
                session=session, viewer=viewer, image_id=str(input.image_id), name=input.name
            )
            return RenameImagePayload(image=Image.from_row(image, viewer), user_errors=[])

        return mutate(info, action, RenameImagePayload)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description=(
            "Delete a custom image (owner only); refused while it is being created, copied or "
            "shared."
        ),
    )
    def delete_image(self, info: Info, input: DeleteImageInput) -> DeleteImagePayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> DeleteImagePayload:
            deleted = lifecycle.delete(
                session=session,
                viewer=viewer,
                image_id=str(input.image_id),
                now=info.context.clock.now(),
            )
            return DeleteImagePayload(deleted_image_id=strawberry.ID(deleted), user_errors=[])

        return mutate(info, action, DeleteImagePayload)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description=(
            "Share a custom image with accounts in its region (owner only): all or nothing; "
            "sharing again is harmless."
        ),
    )
    def share_image(self, info: Info, input: ShareImageInput) -> ShareImagePayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> ShareImagePayload:
            image = sharing.share(
                session=session,
                viewer=viewer,
                image_id=str(input.image_id),
                account_ids=[str(a) for a in input.account_ids],
                policy=info.context.policy,
                now=info.context.clock.now(),
            )
            return ShareImagePayload(image=Image.from_row(image, viewer), user_errors=[])

        return mutate(info, action, ShareImagePayload)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Stop sharing a custom image with accounts (owner only).",
    )
    def unshare_image(self, info: Info, input: UnshareImageInput) -> UnshareImagePayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> UnshareImagePayload:
            image = sharing.unshare(
                session=session,
                viewer=viewer,
                image_id=str(input.image_id),
                account_ids=[str(a) for a in input.account_ids],
            )
            return UnshareImagePayload(image=Image.from_row(image, viewer), user_errors=[])

        return mutate(info, action, UnshareImagePayload)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description=(
            "Copy a custom image to other regions (owner only); the source is locked "
            "(REPLICATING) while copies are in flight."
        ),
    )
    def copy_image(self, info: Info, input: CopyImageInput) -> CopyImagePayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> CopyImagePayload:
            copies = copying.copy(
                session=session,
                viewer=viewer,
                image_id=str(input.image_id),
                regions=[str(r) for r in input.destination_regions],
                name=input.name,
                client_token=input.client_token,
                policy=info.context.policy,
                now=info.context.clock.now(),
            )
            return CopyImagePayload(
                images=[Image.from_row(i, viewer) for i in copies.images],
                operations=[Operation.from_row(o) for o in copies.operations],
                user_errors=[],
            )

        return mutate(info, action, CopyImagePayload)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Cancel a copy in flight by its destination image, which disappears.",
    )
    def cancel_image_copy(self, info: Info, input: CancelImageCopyInput) -> CancelImageCopyPayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> CancelImageCopyPayload:
            image = copying.cancel(
                session=session,
                viewer=viewer,
                image_id=str(input.image_id),
                now=info.context.clock.now(),
            )
            return CancelImageCopyPayload(
                cancelled_image_id=strawberry.ID(image.id), user_errors=[]
            )

        return mutate(info, action, CancelImageCopyPayload)
