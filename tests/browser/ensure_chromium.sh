#!/bin/sh
# `make test` calls this before pytest: the browser tests drive Debian's Chromium.
# Installs it with apt-get where it is missing and we are root on Debian; otherwise
# says in one line how to get it (the tests then skip, or fail with CI=true).
# Japanese text (the guide's names) renders in the screenshots with a CJK font.
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
PACKAGES="chromium fonts-liberation fonts-noto-cjk"
missing=""
command -v "$CHROMIUM" >/dev/null 2>&1 || missing="chromium"
[ -d /usr/share/fonts/opentype/noto ] || missing="$missing fonts"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing $PACKAGES for tests/browser (apt-get)..."
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  if apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null; then
    exit 0
  fi
  echo "apt-get could not install chromium: the browser tests will skip (or fail with CI=true)." >&2
else
  echo "tests/browser need Chromium at $CHROMIUM: install it (Debian/Ubuntu: sudo apt-get install chromium) or set CHROMIUM=/path/to/chromium." >&2
fi
exit 0
