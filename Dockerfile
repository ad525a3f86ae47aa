# syntax=docker/dockerfile:1
# The same static binary `make build` makes, on distroless, as a non-root user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN make build VERSION=${VERSION} && mkdir -p /data

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="Keyportal" \
      org.opencontainers.image.description="A self-hosted portal where balenaCloud team admins manage API keys" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /src/bin/keyportal /keyportal
COPY --from=build --chown=65532:65532 /data /data
ENV KEYPORTAL_ADDR=0.0.0.0:8080 \
    KEYPORTAL_DATA_DIR=/data \
    KEYPORTAL_LOG_FORMAT=json
USER nonroot:nonroot
EXPOSE 8080
VOLUME /data
HEALTHCHECK --interval=30s --timeout=5s CMD ["/keyportal", "healthcheck"]
ENTRYPOINT ["/keyportal"]
