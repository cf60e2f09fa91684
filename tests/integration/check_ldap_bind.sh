#!/bin/sh
# A "next module" for OpenLDAP login tests: pam_exec (expose_authtok) hands
# the password on stdin; it is accepted only if it binds as the user over
# LDAPS, verified with the test CA. Usage: check_ldap_bind.sh URI CA PEOPLE_DN
LDAPTLS_CACERT="$2" LDAPTLS_REQCERT=demand LDAPCONF=/dev/null LDAPRC=/dev/null \
  exec ldapwhoami -x -H "$1" -D "uid=$PAM_USER,$3" -y /dev/stdin -o nettimeout=5 >/dev/null 2>&1
