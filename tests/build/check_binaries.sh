#!/bin/bash
# Hardening and shape of the shipped binaries:
#  - every binary: full RELRO (GNU_RELRO + BIND_NOW), non-executable stack,
#    stack protector and _FORTIFY_SOURCE in use; ssprd is PIE;
#  - pam_sspr.so exports only pam_sm_* and links no directory, TLS, crypto,
#    sodium or curl library (it must stay a thin shim inside login/sshd).
# Usage: check_binaries.sh SSPRD PAM_SSPR_SO
set -u
ssprd=$1 module=$2
fail=0
bad() { echo "FAIL: $*"; fail=1; }

for bin in "$ssprd" "$module"; do
  [ -f "$bin" ] || { bad "$bin missing"; continue; }
  readelf -lW "$bin" | grep -q GNU_RELRO || bad "$bin: no GNU_RELRO"
  readelf -dW "$bin" | grep -Eq 'BIND_NOW|FLAGS_1.*NOW' || bad "$bin: not linked with -z now"
  readelf -lW "$bin" | grep GNU_STACK | grep -q RWE && bad "$bin: executable stack"
  nm -D "$bin" | grep -q __stack_chk_fail || bad "$bin: no stack protector"
  nm -D "$bin" | grep -Eq '__[a-z_]+_chk@' || bad "$bin: no _FORTIFY_SOURCE checks"
done
readelf -hW "$ssprd" | grep -q 'Type:.*DYN' || bad "ssprd is not PIE"

exports=$(nm -D --defined-only "$module" | awk '{print $3}' | sort)
others=$(echo "$exports" | grep -v '^pam_sm_' || true)
[ -z "$others" ] || bad "pam_sspr.so exports more than pam_sm_*: $others"
for f in pam_sm_authenticate pam_sm_setcred pam_sm_acct_mgmt pam_sm_chauthtok; do
  echo "$exports" | grep -qx "$f" || bad "pam_sspr.so does not export $f"
done
heavy=$(readelf -d "$module" | grep NEEDED | grep -Eo 'lib(ldap|lber|ssl|crypto|sodium|curl|gnutls|stdc\+\+)[^]]*' || true)
[ -z "$heavy" ] || bad "pam_sspr.so links $heavy"

if [ $fail -eq 0 ]; then echo "binaries: hardened; pam_sspr.so exports only pam_sm_* and links only libpam/libc"; fi
exit $fail
