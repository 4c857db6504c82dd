#!/usr/bin/env bash
# Install what the project needs on a fresh machine: Java 17 and Maven (for the embedded
# Kafka broker, fetched from Maven Central on first start) and a virtualenv with the
# project and its dev tools. Idempotent; quick when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need_apt[*]} with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "missing: ${need_apt[*]} (install Java 17 and Maven, then retry)" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON=$candidate; break; fi
  done
fi
"$PYTHON" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)' || {
  echo "Python 3.11 or 3.12 is required ($PYTHON is $("$PYTHON" --version 2>&1))" >&2; exit 1; }

stamp=.venv/.installed-$(cat pyproject.toml tooling/pyproject.toml requirements/*.lock | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  # uv first, by pip, pinned by version and hash as requirements/dev.lock has it (it is
  # one of the dev tools): it installs the rest in a sixth of pip's time (10 s to 60).
  uv_pin=$(mktemp)
  awk '/^uv==/{p=1} p&&/^[^ ]/&&!/^uv==/{p=0} p' requirements/dev.lock > "$uv_pin"
  .venv/bin/python -m pip install -q --require-hashes --no-deps -r "$uv_pin"
  rm -f "$uv_pin"
  # Every third-party package pinned by version and hash (requirements/dev.lock), then the
  # product and the development tooling (embedded servers, `up`, the demo; a
  # distribution of its own that production installs leave out) without resolving again.
  .venv/bin/uv pip install -q --python .venv/bin/python --require-hashes --compile-bytecode \
    -r requirements/dev.lock
  .venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e . -e ./tooling
  # The OpenAPI client generator the contract tests run (its typer range clashes with
  # ours, so it lives in a virtualenv of its own), pinned the same way.
  rm -rf .venv/codegen
  "$PYTHON" -m venv .venv/codegen
  .venv/bin/uv pip install -q --python .venv/codegen/bin/python --require-hashes \
    --compile-bytecode -r requirements/codegen.lock
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# Bytecode for the project's own modules (the dependencies' is compiled at install),
# quick when up to date. Python reads a .pyc even where PYTHONDONTWRITEBYTECODE keeps
# it from writing one (this machine's environment sets it): without them every process
# the suite starts compiled its imports again, 1.8 s of CPU for a processor's against 0.8.
.venv/bin/python -m compileall -q -j 0 --invalidation-mode timestamp services schemas tooling >/dev/null

# The embedded servers' binaries: Kafka's jars (Maven, ~30 s) and the MongoDB-wire
# server (cargo, ~15 min once). Skipped for whichever of KAFKA_BOOTSTRAP_SERVERS /
# MONGODB_URI points at an external server. FerretDB is never built here: `make
# test-ferretdb` builds it (go, ~3 min once) and sets LMP_TEST_DATABASE=ferretdb, for
# which SecantusDB is not needed either.
if [ "${LMP_TEST_DATABASE:-}" = ferretdb ]; then
  MONGODB_URI=${MONGODB_URI:-mongodb://ferretdb.started.by.the.tests} .venv/bin/lmp-billing infra install
else
  .venv/bin/lmp-billing infra install
fi
