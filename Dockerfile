# cinch: one static binary on a distroless base, running as a non-root user.
#
#   docker build -t cinch .
#   docker run --rm -p 127.0.0.1:8080:8080 cinch daemon --demo --listen 0.0.0.0:8080
#
# The demo on a non-loopback listener needs a token of your own; see the README.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/cinch . \
 && /out/cinch --help >/dev/null

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cinch /usr/local/bin/cinch
COPY configs /etc/cinch
USER nonroot:nonroot
WORKDIR /home/nonroot
EXPOSE 8080
# distroless has no shell or curl: the binary asks its own /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/cinch", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/cinch"]
CMD ["daemon", "--config", "/etc/cinch/compose.yaml"]
