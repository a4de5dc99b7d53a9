"""Descriptions of every argument and enum value the field definitions leave undescribed,
applied once when the schema is built (partners read them in GraphiQL and generated clients).
A build fails if anything is left undescribed.
"""

from __future__ import annotations

from graphql import GraphQLEnumType, GraphQLInterfaceType, GraphQLObjectType, GraphQLSchema

NAME_RULE = (
    "Name: 1-65 characters, starting with a letter (Latin or Chinese), then letters, digits, "
    "Chinese characters, '-', '_', '/' and '.'."
)

#: argument descriptions by argument name (a "Type.field.argument" key overrides)
ARGUMENTS: dict[str, str] = {
    "first": "Return the first n items (0-100; 20 when neither first nor last is given).",
    "after": "Start after this cursor (an edge's cursor or pageInfo.endCursor of this list).",
    "last": "Return the last n items (0-100); use with before to page backwards.",
    "before": "End before this cursor (an edge's cursor or pageInfo.startCursor of this list).",
    "filter": "Only the items that match every given filter.",
    "input": "What to do: see the fields of the input type.",
    "ids": "Cloud ids (at most 100); the answer lists the objects in the same order.",
    "id": "The object's cloud id.",
    "Query.node.id": "A cloud id (m-, i-, s-, lst-, acc-, ord-, op-, sale-) or a region code.",
    "Query.image.id": "An image id (m- and 8 letters or digits).",
    "Query.snapshot.id": "A snapshot id (s- and 8 letters or digits).",
    "Query.listing.id": "A listing id (lst- and 8 letters or digits).",
    "Query.instance.id": "An instance id (i- and 8 letters or digits).",
    "Query.operation.id": "An operation id (op- and 10 letters or digits).",
    "Subscription.operationUpdated.id": "The operation to follow (yours).",
    "Subscription.imageUpdated.id": "The image to follow (one you may see).",
    "Query.region.code": "A region code, such as bj or gz.",
    "Query.flavors.region": "Only flavors offered in this region.",
    "Query.flavors.generation": "Only BCC (virtual) or EBC (bare-metal) flavors.",
    "Flavor.price.region": "The region whose prices to show (null when not offered there).",
    "Query.images.orderBy": "The order of the list (default: newest first).",
    "Query.imageFromFamily.region": "The region code the image must be in.",
    "Query.imageFromFamily.family": "The family's name, such as web-frontend.",
    "ProviderView.revenue.from": "Count from this time on (with an offset; default: always).",
    "ProviderView.revenue.to": "Count up to, not including, this time (default: now).",
}

#: enum value descriptions by enum name and value
ENUM_VALUES: dict[str, dict[str, str]] = {
    "ChargeKind": {
        "COMPUTE": "The flavor: vCPUs and memory (bare metal: the whole machine).",
        "SYSTEM_DISK": "The CDS system disk above the free allowance (local SSD is in the flavor).",
        "WINDOWS_LICENSE": "The Windows Server licence, per vCPU.",
        "SOFTWARE": "A marketplace or integration listing's plan, paid to its provider.",
    },
    "ChargeUnit": {
        "HOUR": "One hour (postpaid lines).",
        "DAY": "One day of a prepaid term (pro-rated lines a rebuild adds).",
        "MONTH": "One month of a prepaid term.",
        "TERM": "A whole prepaid term (a listing's plan price).",
    },
    "CopyLock": {"REPLICATING": "A copy of this image to another region is in flight."},
    "CurrencyCode": {"CNY": "Chinese yuan (renminbi)."},
    "DiskFormat": {
        "QCOW2": "QEMU copy-on-write, version 2 or 3.",
        "RAW": "A raw disk: every byte of the disk in order.",
        "VMDK": "VMware, monolithicSparse or streamOptimized.",
        "VHD": "Microsoft Virtual Hard Disk (fixed or dynamic).",
    },
    "DiskKind": {
        "LOCAL": "A local SSD of the host.",
        "CDS": "A cloud disk (CDS); such images need a CDS system disk.",
    },
    "Generation": {
        "BCC": "Virtual machines (Baidu Cloud Compute).",
        "EBC": "Elastic bare-metal machines.",
    },
    "ImageOrderField": {"CREATED_AT": "When the image was created.", "NAME": "The image's name."},
    "ImageSourceKind": {
        "PLATFORM": "Provided by the platform (public images).",
        "INSTANCE": "Captured from an instance's system disk.",
        "SNAPSHOT": "Made from a system-disk snapshot.",
        "IMPORT": "Imported from an uploaded disk-image file.",
        "COPY": "Copied from an image in another region.",
        "LISTING": "Published by a marketplace or integration listing.",
    },
    "WarningCode": {
        "IMAGE_DEPRECATED": "The image is deprecated: it still launches; use its replacement.",
    },
    "DeprecationState": {
        "SCHEDULED": "It will be deprecated at deprecateAt.",
        "DEPRECATED": "It is deprecated: left out of image lists, still launchable.",
    },
    "ImageStatus": {
        "CREATING": "Being created, copied or imported (see progress).",
        "AVAILABLE": "Ready to launch instances from.",
        "CREATE_FAILED": "Creation failed (see failure); it launches nothing.",
        "NOT_AVAILABLE": "Exists but cannot be launched, e.g. its listing was delisted.",
        "ERROR": "Broken; contact support.",
    },
    "ShareStatus": {
        "PENDING": "Waiting for the recipient (its account takes shares MANUALly): it does not "
        "see the image yet, and the share costs it nothing.",
        "ACCEPTED": "The recipient sees and may launch the image; it counts against the "
        "recipient's quota of images shared with it.",
        "DECLINED": "The recipient declined or left it; only the recipient can accept it again.",
    },
    "ShareAcceptance": {
        "AUTOMATIC": "A new share is accepted at once, within the quota of images shared with "
        "you (the default).",
        "MANUAL": "A new share waits in shareInvitations until you accept or decline it.",
    },
    "ImageLifecycleAction": {
        "DEPRECATE": "Deprecate the image (it can still be launched).",
        "DISABLE": "Disable the image (no launch, copy, share or listing).",
        "DELETE": "Move the image to the recycle bin (restorable until it is purged).",
    },
    "ImageType": {
        "PUBLIC": "Provided by the platform for everyone.",
        "CUSTOM": "Yours: created from an instance or snapshot, imported, or copied.",
        "SHARED": "Someone else's custom image, shared with you.",
        "INTEGRATION": "Published by a service-integration listing.",
        "MARKET": "Published by a marketplace listing (third-party software, prepaid).",
    },
    "InstanceStatus": {
        "STARTING": "Being created; running when its operation finishes.",
        "RUNNING": "Running.",
        "STOPPING": "Being stopped.",
        "STOPPED": "Stopped (see statusReason when the platform stopped it).",
        "REBUILDING": "Its operating system is being reinstalled from another image.",
        "IMAGE_PROCESSING": "A custom image is being captured from it.",
        "RELEASED": "Released for good.",
    },
    "Arch": {
        "X86_64": "64-bit x86 (Intel and AMD); images whose operating system says x86_64.",
        "ARM64": "64-bit ARM; images whose operating system says aarch64 or arm64.",
    },
    "WebhookDeliveryStatus": {
        "PENDING": "Not delivered yet: waiting for its first attempt or its next retry.",
        "SUCCEEDED": "The endpoint answered 2xx.",
        "FAILED": "Every attempt failed (8 in all, over about 28 hours); redeliverWebhook "
        "tries again.",
    },
    "WebhookEventType": {
        "LISTING_APPROVED": "A listing of yours was approved and published.",
        "LISTING_REJECTED": "A listing of yours was rejected; the review note says why.",
        "LISTING_DELISTED": "A listing of yours was delisted.",
        "SALE_CREATED": "A listing of yours sold: a prepaid purchase, or an hour of use.",
        "SALE_REFUNDED": "A buyer's refund took back part of a sale's revenue.",
        "IMAGE_SHARED_WITH_ME": "Another account shared an image with you.",
        "SHARE_INVITATION": "Another account invited you to take a share of an image.",
        "IMAGE_DEPRECATED": "An image you own, run an instance of or took a share of was "
        "deprecated, or scheduled to be (data.image.deprecation says when, and what follows).",
        "IMAGE_DISABLED": "An image you own, run an instance of or took a share of was disabled: "
        "no new launches, rebuilds, copies or shares (running instances keep running).",
        "OPERATION_FINISHED": "One of your operations succeeded or failed.",
        "INSTANCE_RELEASED": "One of your instances was released.",
        "ACCOUNT_IN_ARREARS": "Your balance went below zero.",
        "TEST": "A test delivery you asked for with sendTestWebhook.",
    },
    "ReleaseReason": {
        "OWNER": "Its owner released it.",
        "ARREARS": "The platform released it: the account's balance stayed below zero for "
        "the whole grace period while arrears kept it stopped. The debt stays.",
    },
    "LicenseType": {
        "PLATFORM": "The platform provides the Windows licence: instances are charged for it.",
        "BYOL": "Bring your own licence: instances are not charged for it.",
    },
    "ListingKind": {
        "MARKET": "Third-party software sold through the marketplace; prepaid plans only.",
        "INTEGRATION": "A base OS with standard software; free, hourly or prepaid plans.",
    },
    "ListingStatus": {
        "DRAFT": "Being written by its provider; editable.",
        "PENDING_REVIEW": "Submitted; waiting for an administrator's review.",
        "PUBLISHED": "Approved: its images are visible to everyone and can be bought.",
        "REJECTED": "Sent back with a reviewNote; editing makes it a DRAFT again.",
        "DELISTED": "Withdrawn: its images launch nothing new; running instances keep running.",
    },
    "OperationKind": {
        "CREATE_IMAGE": "A custom image captured from an instance or made from a snapshot.",
        "IMPORT_IMAGE": "An uploaded disk-image file inspected and imported.",
        "COPY_IMAGE": "An image copied to another region.",
        "CREATE_SNAPSHOT": "A snapshot of an instance's system disk.",
        "REBUILD_INSTANCE": "An instance's operating system reinstalled from another image.",
        "CREATE_INSTANCES": "A batch of instances brought up.",
    },
    "OperationStatus": {
        "PENDING": "Waiting to start.",
        "RUNNING": "In progress (see progress).",
        "SUCCEEDED": "Finished as asked.",
        "FAILED": "Finished without doing it (see error).",
        "CANCELLED": "Cancelled before it finished.",
    },
    "OrderDirection": {"ASC": "Smallest (oldest, A) first.", "DESC": "Largest (newest, Z) first."},
    "OrderKind": {
        "NEW_INSTANCES": "Prepaid instances created.",
        "REBUILD": "Charges that rebuilt prepaid instances added for the rest of their term.",
    },
    "OsLicense": {
        "NONE": "No operating-system licence is charged.",
        "WINDOWS": "Windows Server: instances pay its licence per vCPU.",
    },
    "OsType": {"LINUX": "A Linux distribution.", "WINDOWS": "Windows Server."},
    "PaymentTiming": {
        "PREPAID": "A term of months paid up front.",
        "POSTPAID": "Pay by the hour, settled hourly from the balance.",
    },
    "Role": {
        "CUSTOMER": "Uses the cloud: images, instances, the marketplace.",
        "PROVIDER": "A customer that may also sell through listings.",
        "ADMIN": "A platform operator: top-ups, quotas, reviews, settlement.",
    },
    "SnapshotStatus": {
        "CREATING": "Being taken.",
        "AVAILABLE": "Ready: images can be made from it.",
        "CREATE_FAILED": "Taking it failed.",
    },
    "StorageType": {
        "LOCAL_SSD": "A local SSD of the host, included in the flavor's price.",
        "CDS_PREMIUM": "A premium cloud disk (CDS).",
        "CDS_SSD": "An SSD cloud disk (CDS).",
    },
    "TransactionKind": {
        "TOP_UP": "Money an administrator added.",
        "ORDER": "A prepaid order paid.",
        "USAGE": "Postpaid usage settled.",
        "REFUND": "The unused part of a prepaid term, refunded on release.",
        "PROVIDER_REVENUE": "A provider's share of software charges.",
        "PROVIDER_REVERSAL": "Revenue a provider gave back when a buyer was refunded.",
    },
    "ErrorCode": {
        "INVALID_INPUT": "An input value is malformed or out of range (see field and message).",
        "INVALID_NAME": "A name breaks the naming rule (1-65 characters, starting with a letter).",
        "PERMISSION_DENIED": "You may not do this: it is another account's, or needs another role.",
        "IMAGE_NOT_FOUND": "No such image, or one you may not see.",
        "INSTANCE_NOT_FOUND": "No such instance of yours.",
        "SNAPSHOT_NOT_FOUND": "No such snapshot of yours.",
        "LISTING_NOT_FOUND": "No such listing, or one you may not see.",
        "REGION_NOT_FOUND": "No such region.",
        "ZONE_NOT_FOUND": "The region has no such zone.",
        "FLAVOR_NOT_FOUND": "No such flavor, or not offered in the region.",
        "OBJECT_NOT_FOUND": "No such uploaded object of yours.",
        "TOKEN_NOT_FOUND": "No such API token.",
        "OPERATION_NOT_FOUND": "No such operation of yours.",
        "LIFECYCLE_POLICY_NOT_FOUND": "No such lifecycle policy of yours.",
        "WEBHOOK_ENDPOINT_NOT_FOUND": "No such webhook endpoint of yours.",
        "WEBHOOK_DELIVERY_NOT_FOUND": "No such webhook delivery of yours.",
        "INVALID_ACCOUNT": "No such account (e.g. a share recipient or a top-up's account).",
        "IMAGE_NOT_CUSTOM": "Only custom images can be changed this way.",
        "IMAGE_CREATING": "The image is still being created.",
        "IMAGE_SHARED": "The image is shared: unshare it first.",
        "IMAGE_REPLICATING": "A copy of the image is in flight: wait for it or cancel it.",
        "IMAGE_STATUS_FORBIDDEN": "The image's status does not allow this (a copy that finished).",
        "IMAGE_NOT_AVAILABLE": "The image is not AVAILABLE, so nothing can be launched from it.",
        "IMAGE_TOO_LARGE_TO_COPY": "Images over 200 GB cannot be copied to another region.",
        "IMAGE_REGION_MISMATCH": "The image is in another region: copy it there first.",
        "GENERATION_MISMATCH": "The image is for BCC and the flavor EBC, or the reverse.",
        "IMAGE_FLAVOR_INCOMPATIBLE": "The image's operating system is built for another "
        "processor architecture than the flavor (ARM64 or X86_64).",
        "IMAGE_QUOTA_EXCEEDED": "The region already holds your quota of custom images.",
        "SHARE_QUOTA_EXCEEDED": "The image is shared with the most accounts allowed.",
        "RECIPIENT_QUOTA_EXCEEDED": "The recipient (or, accepting, you) holds the most shared "
        "images allowed.",
        "CANNOT_SHARE_TO_OWNER": "An image cannot be shared with its own owner.",
        "SHARE_DECLINED": "The recipient declined this image; only it can accept it again.",
        "SHARE_INVITATIONS_FULL": "The recipient has too many share invitations waiting.",
        "LIFECYCLE_POLICY_QUOTA_EXCEEDED": "Your account has as many lifecycle policies as it may.",
        "WEBHOOK_ENDPOINT_QUOTA_EXCEEDED": "Your account has as many webhook endpoints as it may.",
        "WEBHOOK_RATE_LIMITED": (
            "Too many test deliveries and redeliveries in the last minute; try again shortly."
        ),
        "COPY_REGION_INVALID": "A destination is unknown, the image's own, or takes no copies.",
        "INSTANCE_STATUS_FORBIDDEN": "The instance's status (or ended term) forbids this now.",
        "SNAPSHOT_STATUS_FORBIDDEN": "The snapshot is not AVAILABLE.",
        "SNAPSHOT_IN_USE": "An image was made from the snapshot: delete the image first.",
        "SYSTEM_DISK_TOO_SMALL": "The system disk is smaller than the image needs.",
        "SYSTEM_DISK_TOO_LARGE": "System disks are at most 2048 GB.",
        "LOCAL_DISK_NOT_ALLOWED": "The image came from a cloud disk: use a CDS system disk.",
        "MARKET_IMAGE_POSTPAID_UNSUPPORTED": "Marketplace images are prepaid only.",
        "PLAN_TERM_NOT_OFFERED": "The listing has no plan for this term (the message lists them).",
        "INVALID_TERM": "Prepaid terms are 1-9, 12, 24 or 36 months.",
        "INSUFFICIENT_BALANCE": "The balance does not cover the order (or the postpaid minimum).",
        "ACCOUNT_IN_ARREARS": "The account's balance is negative: top up first.",
        "IDEMPOTENCY_CONFLICT": "The clientToken was already used for a different request.",
        "IMPORT_FORMAT_MISMATCH": "The file's content is not the declared format.",
        "IMPORT_FORMAT_UNSUPPORTED": "The file is not qcow2, raw, vmdk or vhd (or is several).",
        "IMPORT_UNSAFE_IMAGE": "The file failed a safety check (failure.checks names each).",
        "IMPORT_TOO_LARGE": "The disk's virtual size is over 500 GB.",
        "IMPORT_OS_UNSUPPORTED": "The operating system is not one that can be imported.",
        "OBJECT_REGION_MISMATCH": "The uploaded object is in another region than the image.",
        "UPLOAD_TOO_LARGE": "The file is larger than uploads may be.",
        "LISTING_STATUS_FORBIDDEN": "The listing's status does not allow this step.",
        "NOT_A_PROVIDER": "Only PROVIDER accounts can sell through listings.",
        "CLOCK_NOT_SIMULATED": "The clock is real: it can be moved only when simulated.",
        "STORAGE_QUOTA_EXCEEDED": "Your uploaded objects would pass your storage quota.",
        "OBJECT_IN_USE": "An image was imported from the object: delete the image first.",
        "IMAGE_DELETION_PROTECTED": "The image is protected from deletion: switch that off first.",
        "IMAGE_DISABLED": "The image is disabled: enable it first.",
        "IMAGE_NOT_IN_RECYCLE_BIN": "There is no such image in your recycle bin.",
        "IMAGE_IN_LISTING": "A listing still offers the image: delist it first.",
        "FAMILY_EMPTY": "The family has no image you may launch in that region.",
        "TAG_LIMIT_EXCEEDED": "A resource would carry more than 50 tags.",
        "INVALID_TAG": "A tag key or value is not allowed (length, repetition, bcc: prefix).",
        "IMAGE_SOURCE_AMBIGUOUS": "Give exactly one of imageId and imageFamily.",
    },
}


def describe(schema: GraphQLSchema) -> None:
    """Give every argument and enum value its description.

    Raises:
        ValueError: naming whatever is still undescribed.
    """
    missing: list[str] = []
    for type_name, graphql_type in schema.type_map.items():
        if type_name.startswith("__"):
            continue
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in graphql_type.fields.items():
                for name, argument in field.args.items():
                    key = f"{type_name}.{field_name}.{name}"
                    if not argument.description:
                        argument.description = ARGUMENTS.get(key) or ARGUMENTS.get(name)
                    if not argument.description:
                        missing.append(key)
        elif isinstance(graphql_type, GraphQLEnumType):
            texts = ENUM_VALUES.get(type_name, {})
            for name, value in graphql_type.values.items():
                if not value.description:
                    value.description = texts.get(name)
                if not value.description:
                    missing.append(f"{type_name}.{name}")
    if missing:
        raise ValueError(f"undescribed in the schema: {', '.join(sorted(missing))}")
