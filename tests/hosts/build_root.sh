#!/usr/bin/env bash
# Build (once) a Debian trixie root holding real GIMP 3 and Krita 5.2 for the plug-in tests.
# The root is cached outside the checkout; a finished root carries a stamp file, so an
# interrupted build is rebuilt from scratch instead of being trusted half-made.
set -euo pipefail
root="${TINCT_HOST_ROOT:-/var/cache/tinct/trixie-root}"
stamp="$root/.tinct-root-complete"
packages="gimp python3-gi gir1.2-gimp-3.0 krita python3-pyqt5 xvfb xauth"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$packages" ]; then
  echo "$root"
  exit 0
fi
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
rm -rf "$root"
mkdir -p "$(dirname "$root")"
debootstrap --variant=minbase trixie "$root" >&2
mount_proc() { mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"; }
mount_proc
trap 'umount "$root/proc" 2>/dev/null || true' EXIT
chroot "$root" apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends $packages >&2
printf '%s' "$packages" > "$stamp"
echo "$root"
