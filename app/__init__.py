"""bcc-images: a control plane for cloud images, exposed as a GraphQL API."""
