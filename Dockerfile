# cinch: one static binary on a distroless base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/cinch .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cinch /usr/local/bin/cinch
COPY configs /etc/cinch
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/cinch"]
CMD ["daemon", "--config", "/etc/cinch/compose.yaml"]
