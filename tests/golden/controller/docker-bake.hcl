// Multi-platform image build: `docker buildx bake` (add `--push` to publish).
// VERSION, COMMIT and DATE are stamped into the binary; override them from the environment,
// e.g. VERSION=$(git describe --tags) COMMIT=$(git rev-parse --short HEAD) docker buildx bake.

variable "IMAGE" {
  default = "ghcr.io/acme/widget-op"
}

variable "VERSION" {
  default = "dev"
}

variable "COMMIT" {
  default = "unknown"
}

variable "DATE" {
  default = "unknown"
}

group "default" {
  targets = ["image"]
}

target "image" {
  context    = "."
  dockerfile = "Dockerfile"
  platforms  = ["linux/amd64", "linux/arm64"]
  args = {
    VERSION = VERSION
    COMMIT  = COMMIT
    DATE    = DATE
  }
  tags = ["${IMAGE}:${VERSION}"]
}
