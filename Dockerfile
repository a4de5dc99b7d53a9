# bcc-images: a multi-stage build. The first stage builds a wheel and installs it with its
# dependencies into a virtual environment; the second copies only that environment into a
# slim image and runs it as an unprivileged user. Not built in CI (no container runtime on
# its machines): CI runs the same install steps outside a container instead.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY schema ./schema
COPY seed_data ./seed_data
RUN python -m venv /opt/bcc-images \
 && /opt/bcc-images/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/bcc-images/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --system --create-home --home-dir /var/lib/bcc-images --uid 10001 bcc
COPY --from=build /opt/bcc-images /opt/bcc-images
ENV PATH=/opt/bcc-images/bin:$PATH \
    BCC_IMAGES_DATA_DIR=/var/lib/bcc-images/data \
    BCC_IMAGES_DATABASE_URL=sqlite:////var/lib/bcc-images/bcc-images.db \
    BCC_IMAGES_LOG_FORMAT=json \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER bcc
WORKDIR /var/lib/bcc-images
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD python -c "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"
CMD ["bcc-images", "serve", "--host", "0.0.0.0", "--port", "8000"]
