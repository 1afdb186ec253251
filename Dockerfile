# Skein's container image: `make image` (docker build -t skein:VERSION .).
#
# The build stage runs `make build`, the same target developers and CI run;
# the runtime stage copies exactly what it makes (bin/: the skein binary and,
# beside it, the DuckDB extensions it loads) and nothing else.
#
# The binary links DuckDB statically but needs glibc and libstdc++ at run
# time, hence distroless "cc" (glibc, libstdc++, CA certificates, no shell),
# as its non-root user.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
# make build fetches pinned DuckDB extension wheels from PyPI with pip.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-pip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN make build VERSION=${VERSION}

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/bin/ /opt/skein/
# serve's default --data-dir (./skein-data) lands in the user's home; the
# manifests mount a volume and pass --data-dir instead.
WORKDIR /home/nonroot
USER nonroot:nonroot
# 31337: Flight SQL (coordinator) or tasks (executor); 31338: --http-addr.
EXPOSE 31337 31338
ENTRYPOINT ["/opt/skein/skein"]
CMD ["serve", "--addr", "0.0.0.0:31337"]
