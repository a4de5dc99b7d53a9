"""bcc-images: a control plane for cloud images, exposed as a GraphQL API."""

# Every session of the service keeps the versions cached answers are checked against, and
# publishes what it changed to subscriptions (listeners on all Sessions, installed once,
# whichever part of the service is started).
import app.events
import app.versions  # noqa: F401
