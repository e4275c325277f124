#!/usr/bin/env bash
# Installs what make cross and make test-cross need besides Go: qemu-user
# (static) to run arm64 and armv7 test binaries, and file to check that
# the builds are static. Idempotent.
exec "$(dirname "$0")/setup-os.sh" qemu-user-static file
