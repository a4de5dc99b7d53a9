"""Tags on images, snapshots and instances: the type, the inputs and what the field every
tagged type has answers.
"""

from __future__ import annotations

import strawberry

from app.errors import BadRequest
from app.tags import rules

#: the most tag filters one list query takes
MAX_TAG_FILTERS = 10


@strawberry.type(description="A key and its value, on a resource of yours.")
class Tag:
    key: str = strawberry.field(description="1 to 128 characters, unique per resource.")
    value: str = strawberry.field(description="0 to 256 characters.")


@strawberry.input(description="A tag to set: a key and its value.")
class TagInput:
    key: str = strawberry.field(
        description="1 to 128 characters; case-sensitive; not starting with bcc: (reserved)."
    )
    value: str = strawberry.field(default="", description="0 to 256 characters.")


@strawberry.input(description="Resources carrying a tag of yours.")
class TagFilter:
    key: str = strawberry.field(description="The key.")
    value: str | None = strawberry.field(
        default=None, description="And this value (any value when omitted)."
    )


def tag_filters(given: list[TagFilter] | None) -> tuple[rules.TagFilter, ...]:
    """The service's tag filters (every one must match).

    Raises:
        BadRequest: more than MAX_TAG_FILTERS filters.
    """
    if not given:
        return ()
    if len(given) > MAX_TAG_FILTERS:
        raise BadRequest(f"At most {MAX_TAG_FILTERS} tag filters; got {len(given)}.")
    return tuple(rules.TagFilter(key=t.key, value=t.value) for t in given)
