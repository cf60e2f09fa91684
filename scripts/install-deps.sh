#!/bin/bash
# Install what sspr needs to build, test and run its demo on Debian 12.
# Idempotent: does nothing when everything is already there. Leaves the
# machine as it found it: Samba daemons that the packages may start on a
# systemd machine are stopped and disabled again (the tests and the demo
# run their own DC in a private network namespace).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libldap-dev libsodium-dev libcurl4-openssl-dev libpam0g-dev check
  libpam-wrapper libpamtest0-dev pamtester expect tmux python3-pexpect
  libnss-wrapper samba-ad-dc samba-ad-provision ldap-utils slapd krb5-user libpam-krb5
  python3-aiosmtpd openssl iproute2 util-linux selinux-policy-dev liboath-dev libqrencode-dev liblmdb-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "sspr: installing ${missing[*]}" >&2
# Remember which Samba services were running before, to restore that state.
was_active=()
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for s in samba-ad-dc smbd nmbd winbind slapd; do
    systemctl is-active --quiet "$s" 2>/dev/null && was_active+=("$s")
  done
fi
$SUDO apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
  -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for s in samba-ad-dc smbd nmbd winbind slapd; do
    if [[ ! " ${was_active[*]} " =~ " $s " ]] && systemctl is-active --quiet "$s" 2>/dev/null; then
      echo "sspr: stopping and disabling $s, which the package install started" >&2
      $SUDO systemctl disable --now "$s" >/dev/null 2>&1 || true
    fi
  done
fi
