"""Running image fleets: deprecation, disable, deletion protection, the recycle bin and image
families.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.images import governance, recycle_bin
from app.workflows import recycling, retiring
from schema.context import Info
from schema.images.mutations import ImageResult, image_mutation
from schema.images.types import Image, ImageId
from schema.mutation import argument, mutation
from schema.pagination import Connection, Window, connection, page_request, paged
from schema.permissions import SignedIn


@strawberry.type
class GovernanceMutations:
    @mutation(
        "Deprecate an image (its owner; administrators for public images): from deprecateAt it "
        "leaves image lists, shows its replacement and can still be launched. A custom image "
        "may also be scheduled to be disabled (disableAt) and then moved to the recycle bin "
        "(deleteAt); undeprecateImage cancels those stages too.",
        input="Deprecate an image now or from a later time.",
    )
    def deprecate_image(
        self,
        info: Info,
        image_id: ImageId,
        deprecate_at: Annotated[
            datetime | None,
            argument("When it becomes deprecated (default and any past time: now)."),
        ] = None,
        replacement_image_id: Annotated[
            strawberry.ID | None,
            argument(
                "The image to use instead: one you may see, in the same region, AVAILABLE, "
                "enabled, not deprecated yet, and not leading back to this image through its "
                "own replacements, scheduled or not (a public image's replacement is public)."
            ),
        ] = None,
        disable_at: Annotated[
            datetime | None,
            argument(
                "Custom images: when it is also disabled, after deprecateAt (default: never)."
            ),
        ] = None,
        delete_at: Annotated[
            datetime | None,
            argument(
                "Custom images: when it also moves to the recycle bin, after deprecateAt and "
                "disableAt (default: never). If deleteImage would be refused then (deletion "
                "protection, a share, a listing, a copy in flight), it stays and lifecycleNote "
                "says why."
            ),
        ] = None,
    ) -> ImageResult:
        return image_mutation(
            info,
            lambda c: retiring.deprecate(
                **c.acting,
                image_id=str(image_id),
                deprecate_at=deprecate_at,
                replacement_id=str(replacement_image_id) if replacement_image_id else None,
                now=c.now,
                disable_at=disable_at,
                delete_at=delete_at,
            ),
        )

    @mutation(
        "Clear an image's deprecation, scheduled or in force, with the later stages it scheduled.",
        input="Which image's deprecation to clear.",
    )
    def undeprecate_image(self, info: Info, image_id: ImageId) -> ImageResult:
        return image_mutation(
            info, lambda c: governance.undeprecate(**c.acting, image_id=str(image_id))
        )

    @mutation(
        "Disable an image: it cannot be launched, rebuilt onto, copied, shared or listed, and "
        "accounts it is shared with no longer see it (the shares are kept). Running instances "
        "keep running.",
        input="Which image to disable.",
    )
    def disable_image(self, info: Info, image_id: ImageId) -> ImageResult:
        return image_mutation(
            info,
            lambda c: retiring.set_disabled(
                **c.acting, image_id=str(image_id), disabled=True, now=c.now
            ),
        )

    @mutation("Enable a disabled image.", input="Which image to enable again.")
    def enable_image(self, info: Info, image_id: ImageId) -> ImageResult:
        return image_mutation(
            info,
            lambda c: retiring.set_disabled(
                **c.acting, image_id=str(image_id), disabled=False, now=c.now
            ),
        )

    @mutation(
        "Switch deletion protection of your custom image on or off.",
        input="Switch a custom image's deletion protection on or off.",
    )
    def set_image_deletion_protection(
        self,
        info: Info,
        image_id: ImageId,
        enabled: Annotated[bool, argument("true: deleteImage refuses to delete it.")],
    ) -> ImageResult:
        return image_mutation(
            info,
            lambda c: governance.set_deletion_protection(
                **c.acting, image_id=str(image_id), enabled=enabled
            ),
        )

    @mutation(
        "Bring a deleted image back from your recycle bin before it is purged (it counts "
        "against your image quota again).",
        input="Which image to bring back from your recycle bin.",
    )
    def restore_image(self, info: Info, image_id: ImageId) -> ImageResult:
        return image_mutation(
            info,
            lambda c: recycling.restore(
                **c.acting, image_id=str(image_id), policy=info.context.services.policy
            ),
        )

    @mutation(
        "Put your custom image (administrators: a public image) in a family, or take it out "
        "with family: null.",
        input="Put an image in a family, or take it out.",
    )
    def set_image_family(
        self,
        info: Info,
        image_id: ImageId,
        family: Annotated[
            str | None,
            argument(
                "1 to 63 lower-case letters, digits and hyphens, starting with a "
                "letter; null takes the image out of its family."
            ),
        ] = None,
    ) -> ImageResult:
        return image_mutation(
            info,
            lambda c: governance.set_family(**c.acting, image_id=str(image_id), family=family),
        )


@strawberry.type
class GovernanceQueries:
    @paged(
        permission_classes=[SignedIn],
        description=(
            "Your deleted images that can still be restored, the most recently deleted first, "
            "each with purgeAt."
        ),
    )
    def recycle_bin(
        self,
        info: Info,
        window: Window = Window(),
    ) -> Connection[Image]:
        viewer = info.context.require_viewer()
        page = recycle_bin.recycle_bin(
            session=info.context.session,
            viewer=viewer,
            page=page_request(info, window),
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
            now=info.context.services.clock.now(),
        )
        return Image.from_row(row, info.context.viewer) if row else None
