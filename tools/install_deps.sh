#!/usr/bin/env bash
# Install what the project needs on a Debian machine: toolchains from apt (only
# the missing ones), the pinned Python packages and the test rig plugin into build/venv.
set -euo pipefail

build=${1:-build}
# clang with libFuzzer and the sanitizer runtimes, and llvm-cov: the SMP
# fuzzer (tests/fuzz, LLVM 14 as Debian 12 has it).
apt_pkgs=(make gcc libc6-dev pkg-config xz-utils debian-archive-keyring
          gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
          python3 python3-venv clang-14 libclang-rt-14-dev llvm-14)

missing=()
for p in "${apt_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A python3 from elsewhere (pyenv, a distribution build) with venv works too.
if [ ${#missing[@]} -gt 0 ] && command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; then
    missing=($(printf '%s\n' "${missing[@]}" | grep -v -x -e python3 -e python3-venv || true))
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "install_deps: apt-get install ${missing[*]}" >&2
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

venv="$build/venv"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! cmp -s requirements.txt "$stamp"; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt >&2
    cp requirements.txt "$stamp"
fi
# The test rig's pytest plugin (pyproject.toml, rig/), editable: the repo's
# own tests run through it as installed, and edits to rig/ or tools/radio/
# take effect without reinstalling.
plugin_stamp="$venv/.pyproject"
if ! cmp -s pyproject.toml "$plugin_stamp"; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -e . >&2
    cp pyproject.toml "$plugin_stamp"
fi
