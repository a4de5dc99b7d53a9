"""The recipient's side of sharing: how an account takes new shares, its invitations, and
accepting, declining or leaving a share.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.images import sharing
from app.images.models import Image as ImageRow
from app.images.models import ImageShare
from app.images.rules import ShareAcceptance, ShareStatus
from schema.accounts.types import Account
from schema.context import Info
from schema.errors import Call, Payload, mutate
from schema.images.types import ImageId
from schema.loaders import referenced
from schema.mutation import argument, mutation
from schema.pagination import Connection, Window, connection, page_request, paged
from schema.permissions import SignedIn
from schema.regions.types import Region


@strawberry.type(
    description=(
        "A share of someone's custom image addressed to you that you have not accepted: "
        "PENDING (waiting for you) or DECLINED (you declined or left it). Accept it to see and "
        "launch the image."
    )
)
class ShareInvitation:
    image_id: strawberry.ID = strawberry.field(description="The image shared.")
    image_name: str = strawberry.field(description="The image's name.")
    owner_account_id: strawberry.ID = strawberry.field(description="The account that shares it.")
    status: ShareStatus = strawberry.field(description="PENDING or DECLINED.")
    shared_at: datetime = strawberry.field(description="When it was shared (UTC).")
    region_code: strawberry.Private[str]

    @strawberry.field(description="The image's region.")
    async def region(self, info: Info) -> Region:
        return await referenced(info.context.loaders.region, self.region_code, Region.from_row)

    @classmethod
    def of(cls, share: ImageShare, image: ImageRow) -> ShareInvitation:
        """Build from a share and its image."""
        return cls(
            image_id=strawberry.ID(image.id),
            image_name=image.name,
            owner_account_id=strawberry.ID(image.owner_id or ""),
            status=ShareStatus(share.status),
            shared_at=share.created_at,
            region_code=image.region_code,
        )


@strawberry.type(description="What became of a share addressed to you.")
class ShareInvitationResult(Payload):
    status: ShareStatus | None = strawberry.field(
        default=None, description="The share's status now: ACCEPTED or DECLINED."
    )
    image_id: strawberry.ID | None = strawberry.field(default=None, description="The image.")


@strawberry.type(description="Your account's way of taking shares.")
class ShareAcceptanceResult(Payload):
    account: Account | None = strawberry.field(default=None, description="Your account.")


def _answer(share: ImageShare) -> ShareInvitationResult:
    return ShareInvitationResult(
        status=ShareStatus(share.status), image_id=strawberry.ID(share.image_id)
    )


@strawberry.type
class InvitationQueries:
    @paged(
        permission_classes=[SignedIn],
        description=(
            "Shares addressed to you that you have not accepted: PENDING ones (your account "
            "takes shares MANUALly) and DECLINED ones, newest first; disabled images included, "
            "so that you can decline them."
        ),
    )
    def share_invitations(
        self, info: Info, window: Window = Window()
    ) -> Connection[ShareInvitation]:
        viewer = info.context.require_viewer()
        page = sharing.invitations(
            session=info.context.session, viewer=viewer, page=page_request(info, window)
        )
        return connection(page, lambda row: ShareInvitation.of(*row))


@strawberry.type
class InvitationMutations:
    @mutation(
        "How your account takes new shares: AUTOMATIC (the default: a shared image is yours "
        "to see and launch at once, within your quota of images shared with you) or MANUAL "
        "(each new share waits in shareInvitations, costing you nothing, until you accept "
        "it). Shares you already hold stay as they are.",
        input="How your account takes new shares.",
    )
    def set_share_acceptance(
        self,
        info: Info,
        mode: Annotated[ShareAcceptance, argument("AUTOMATIC or MANUAL.")],
    ) -> ShareAcceptanceResult:
        def work(c: Call) -> ShareAcceptanceResult:
            account = sharing.set_acceptance(**c.acting, mode=mode)
            return ShareAcceptanceResult(account=Account.from_row(account))

        return mutate(info, ShareAcceptanceResult, work)

    @mutation(
        "Accept a share addressed to you (PENDING, or one you declined): the image becomes "
        "yours to see and launch, within your quota of images shared with you "
        "(RECIPIENT_QUOTA_EXCEEDED). Accepting twice is harmless.",
        input="Which shared image to accept.",
    )
    def accept_image_share(self, info: Info, image_id: ImageId) -> ShareInvitationResult:
        return mutate(
            info,
            ShareInvitationResult,
            lambda c: _answer(
                sharing.accept(
                    **c.acting, image_id=str(image_id), policy=info.context.services.policy
                )
            ),
        )

    @mutation(
        "Decline a share addressed to you, or leave one you accepted: you no longer see or "
        "launch the image (instances already launched from it run on), it no longer counts "
        "against your quota, and its owner cannot share it with you again (SHARE_DECLINED) "
        "unless you accept it from shareInvitations. Declining twice is harmless.",
        input="Which shared image to decline or leave.",
    )
    def decline_image_share(self, info: Info, image_id: ImageId) -> ShareInvitationResult:
        return mutate(
            info,
            ShareInvitationResult,
            lambda c: _answer(sharing.decline(**c.acting, image_id=str(image_id))),
        )
