"""Running image fleets: deprecation, disable, deletion protection, the recycle bin and image
families.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import strawberry

from app.images import governance
from app.images.models import Image as ImageRow
from app.workflows import recycling
from schema.context import Info
from schema.errors import Call, Payload, mutate
from schema.images.types import Image
from schema.pagination import Connection, connection, page_request
from schema.permissions import SignedIn


@strawberry.type(description="The image a governance mutation changed.")
class ImagePayload(Payload):
    image: Image | None = strawberry.field(description="The image as it is now.")


@strawberry.input(description="Deprecate an image now or from a later time.")
class DeprecateImageInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")
    deprecate_at: datetime | None = strawberry.field(
        default=None, description="When it becomes deprecated (default and any past time: now)."
    )
    replacement_image_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "The image to use instead: one you may see, in the same region, AVAILABLE, enabled "
            "and not deprecated (a public image's replacement is public)."
        ),
    )


@strawberry.type(description="Result of deprecateImage.")
class DeprecateImagePayload(ImagePayload):
    pass


@strawberry.input(description="Which image's deprecation to clear.")
class UndeprecateImageInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")


@strawberry.type(description="Result of undeprecateImage.")
class UndeprecateImagePayload(ImagePayload):
    pass


@strawberry.input(description="Which image to disable.")
class DisableImageInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")


@strawberry.type(description="Result of disableImage.")
class DisableImagePayload(ImagePayload):
    pass


@strawberry.input(description="Which image to enable again.")
class EnableImageInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")


@strawberry.type(description="Result of enableImage.")
class EnableImagePayload(ImagePayload):
    pass


@strawberry.input(description="Switch a custom image's deletion protection on or off.")
class SetImageDeletionProtectionInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")
    enabled: bool = strawberry.field(description="true: deleteImage refuses to delete it.")


@strawberry.type(description="Result of setImageDeletionProtection.")
class SetImageDeletionProtectionPayload(ImagePayload):
    pass


@strawberry.input(description="Which image to bring back from your recycle bin.")
class RestoreImageInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")


@strawberry.type(description="Result of restoreImage.")
class RestoreImagePayload(ImagePayload):
    pass


@strawberry.input(description="Put an image in a family, or take it out.")
class SetImageFamilyInput:
    image_id: strawberry.ID = strawberry.field(description="Image id.")
    family: str | None = strawberry.field(
        default=None,
        description=(
            "1 to 63 lower-case letters, digits and hyphens, starting with a letter; null takes "
            "the image out of its family."
        ),
    )


@strawberry.type(description="Result of setImageFamily.")
class SetImageFamilyPayload(ImagePayload):
    pass


@strawberry.type
class GovernanceMutations:
    @strawberry.mutation(
        permission_classes=[SignedIn],
        description=(
            "Deprecate an image (its owner; administrators for public images): from deprecateAt "
            "it leaves image lists, shows its replacement and can still be launched."
        ),
    )
    def deprecate_image(self, info: Info, input: DeprecateImageInput) -> DeprecateImagePayload:
        replacement = input.replacement_image_id
        return _image_mutation(
            info,
            DeprecateImagePayload,
            lambda c: governance.deprecate(
                **c.acting,
                image_id=str(input.image_id),
                deprecate_at=input.deprecate_at,
                replacement_id=str(replacement) if replacement is not None else None,
                now=c.now,
            ),
        )

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Clear an image's deprecation, scheduled or in force.",
    )
    def undeprecate_image(
        self, info: Info, input: UndeprecateImageInput
    ) -> UndeprecateImagePayload:
        return _image_mutation(
            info,
            UndeprecateImagePayload,
            lambda c: governance.undeprecate(**c.acting, image_id=str(input.image_id)),
        )

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description=(
            "Disable an image: it cannot be launched, rebuilt onto, copied, shared or listed, and "
            "accounts it is shared with no longer see it (the shares are kept). Running instances "
            "keep running."
        ),
    )
    def disable_image(self, info: Info, input: DisableImageInput) -> DisableImagePayload:
        return _image_mutation(
            info,
            DisableImagePayload,
            lambda c: governance.set_disabled(
                **c.acting, image_id=str(input.image_id), disabled=True
            ),
        )

    @strawberry.mutation(permission_classes=[SignedIn], description="Enable a disabled image.")
    def enable_image(self, info: Info, input: EnableImageInput) -> EnableImagePayload:
        return _image_mutation(
            info,
            EnableImagePayload,
            lambda c: governance.set_disabled(
                **c.acting, image_id=str(input.image_id), disabled=False
            ),
        )

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Switch deletion protection of your custom image on or off.",
    )
    def set_image_deletion_protection(
        self, info: Info, input: SetImageDeletionProtectionInput
    ) -> SetImageDeletionProtectionPayload:
        return _image_mutation(
            info,
            SetImageDeletionProtectionPayload,
            lambda c: governance.set_deletion_protection(
                **c.acting, image_id=str(input.image_id), enabled=input.enabled
            ),
        )

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description=(
            "Bring a deleted image back from your recycle bin before it is purged (it counts "
            "against your image quota again)."
        ),
    )
    def restore_image(self, info: Info, input: RestoreImageInput) -> RestoreImagePayload:
        return _image_mutation(
            info,
            RestoreImagePayload,
            lambda c: recycling.restore(
                **c.acting, image_id=str(input.image_id), policy=info.context.policy
            ),
        )

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description=(
            "Put your custom image (administrators: a public image) in a family, or take it out "
            "with family: null."
        ),
    )
    def set_image_family(self, info: Info, input: SetImageFamilyInput) -> SetImageFamilyPayload:
        return _image_mutation(
            info,
            SetImageFamilyPayload,
            lambda c: governance.set_family(
                **c.acting, image_id=str(input.image_id), family=input.family
            ),
        )


P = TypeVar("P", bound=ImagePayload)


def _image_mutation(info: Info, payload: type[P], change: Callable[[Call], ImageRow]) -> P:
    """A mutation whose whole answer is the image it changed."""
    return mutate(info, payload, lambda c: payload(image=Image.from_row(change(c), c.viewer)))


@strawberry.type
class GovernanceQueries:
    @strawberry.field(
        permission_classes=[SignedIn],
        description=(
            "Your deleted images that can still be restored, the most recently deleted first, "
            "each with purgeAt."
        ),
    )
    def recycle_bin(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Image]:
        viewer = info.context.require_viewer()
        page = governance.recycle_bin(
            session=info.context.session,
            viewer=viewer,
            page=page_request(info, first, after, last, before),
        )
        return connection(page, lambda row: Image.from_row(row, viewer))

    @strawberry.field(
        description=(
            "The newest image of a family in a region that you may launch: AVAILABLE, enabled "
            "and not deprecated, among your own custom images and the platform's public ones; "
            "null when there is none."
        )
    )
    def image_from_family(self, info: Info, region: strawberry.ID, family: str) -> Image | None:
        row = governance.image_from_family(
            session=info.context.session,
            viewer=info.context.viewer,
            region=str(region),
            family=family,
            now=info.context.clock.now(),
        )
        return Image.from_row(row, info.context.viewer) if row else None
