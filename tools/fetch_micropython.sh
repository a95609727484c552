#!/usr/bin/env bash
# Fetch a pinned MicroPython source (Debian's source package), verify it and
# unpack it under the build folder. Prints the source directory on stdout.
#
#   tools/fetch_micropython.sh [BUILD] [VERSION]     (VERSION default 1.25.0,
#                                                     or $MICROPY_VERSION)
#
# Each supported upstream version is pinned by the SHA-256 of its orig
# tarball; any Debian revision (1.25.0+ds-1, -2, ...) whose orig tarball has
# that checksum is accepted, so a packaging bump on the mirror does not break
# a fresh clone. Uses a private apt configuration so the machine's own apt
# setup is untouched; the mirror is the one the machine's apt sources name.
set -euo pipefail

build=${1:-build}
VERSION=${2:-${MICROPY_VERSION:-1.25.0}}

# version -> Debian suite that carries it, SHA-256 of its orig tarball.
case "$VERSION" in
    1.25.0)
        SUITE=trixie
        SHA256=7b25be99a502f070b2de81dafc08da7051d992325d6e67daa9045a918fffdbea ;;
    1.26.1)
        SUITE=forky
        SHA256=f5ad2ec89d3e921f753d448955af98b6005655f84ba26087dde6ba0e8d062f34 ;;
    *)
        echo "fetch_micropython: unsupported version $VERSION (1.25.0 or 1.26.1)" >&2
        exit 1 ;;
esac
TARBALL=micropython_${VERSION}+ds.orig.tar.xz

mkdir -p "$build/deps"
deps=$(cd "$build/deps" && pwd)
src="$deps/micropython-$VERSION"

if [ -f "$src/.verified" ]; then
    echo "$src"
    exit 0
fi

fail() { echo "fetch_micropython: $*" >&2; exit 1; }

if [ ! -f "$deps/$TARBALL" ] || ! echo "$SHA256  $deps/$TARBALL" | sha256sum -c --quiet - 2>/dev/null; then
    command -v apt-get >/dev/null || fail "apt-get is needed to fetch the MicroPython source; or set MICROPY_DIR to a MicroPython checkout"
    # The mirror the machine already uses, from either apt source format.
    mirror=$( (awk '/^URIs:/{print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null;
               awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; break}}' \
                   /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null) \
             | grep -v -e security -e '^$' | sed -n 1p) || true
    [ -n "$mirror" ] || fail "no Debian mirror found in /etc/apt sources"
    apt_dir="$deps/apt-$SUITE"
    mkdir -p "$apt_dir/etc" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -f "$keyring" ] || fail "$keyring is missing (apt-get install debian-archive-keyring)"
    printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
        "$mirror" "$SUITE" "$keyring" > "$apt_dir/etc/micropython.sources"
    opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/etc"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o "Dir::State::status=/dev/null" -o APT::Sandbox::User=root -q)
    apt-get "${opts[@]}" update >&2 || fail "apt-get update of the $SUITE source index failed"
    # Any Debian revision of this upstream version; the newest one listed.
    deb_version=$(apt-cache "${opts[@]}" showsrc micropython 2>/dev/null \
        | awk '/^Version:/{print $2}' | grep -F "$VERSION+ds-" | sort -V | tail -n 1) || true
    [ -n "$deb_version" ] || fail "no micropython $VERSION+ds-* source in $SUITE"
    (cd "$deps" && apt-get "${opts[@]}" source --download-only "micropython=$deb_version" >&2) \
        || fail "could not download micropython $deb_version source"
    echo "$SHA256  $deps/$TARBALL" | sha256sum -c --quiet - \
        || fail "checksum mismatch for $TARBALL (from $deb_version)"
fi

rm -rf "$src.tmp"
mkdir -p "$src.tmp"
tar -xf "$deps/$TARBALL" -C "$src.tmp" --strip-components=1
rm -rf "$src"
mv "$src.tmp" "$src"
touch "$src/.verified"
echo "$src"
