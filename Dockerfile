# syntax=docker/dockerfile:1
#
# One image for every role:
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t chatbot:dev .
#   docker run -p 8080:8080 -e CHATBOT_REDIS_URL=redis://redis:6379/0 chatbot:dev            # serve
#   docker run -e CHATBOT_REDIS_URL=redis://redis:6379/0 chatbot:dev work --replicas 4
#   docker run -e CHATBOT_REDIS_URL=redis://redis:6379/0 chatbot:dev token --name ops
# Configuration comes from CHATBOT_* variables, flags, or a mounted file (--config FILE);
# nothing secret is baked in. See docs/DEPLOY.md.

# The builder runs on the build machine's platform and cross-compiles to the target's
# (docker buildx build --platform linux/amd64,linux/arm64 ...).
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src

# Modules first, in a layer of their own: editing the code doesn't download them again.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=bind,source=go.mod,target=go.mod \
    --mount=type=bind,source=go.sum,target=go.sum \
    go mod download

COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
# The same command as `make build` (static: CGO_ENABLED=0, -trimpath, version stamped).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH VERSION=$VERSION bash scripts/build.sh /out/chatbot

# No shell, no package manager, CA certificates for rediss:// and https model endpoints.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/chatbot /chatbot
# distroless's nonroot user, by number so Kubernetes' runAsNonRoot can check it.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/chatbot"]
CMD ["serve"]
