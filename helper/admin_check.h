// `sspr-admin check`: proves the configuration end to end without changing
// anything. Each line says what was checked, and for a problem what is wrong
// and how to fix it. Returns the number of failed checks.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace sspr::helper {

int RunCheck(const std::string& config_path, std::FILE* out);

// MS-DTYP helpers, exposed for unit tests.
// A binary SID as "S-1-5-21-...", or "" if malformed.
std::string SidToString(std::string_view sid);
// True if the DACL grants the control access right `right_guid` (e.g.
// Reset Password) to one of `sids` (binary SIDs), by an object ACE for that
// right or by an ACE granting all control access rights.
bool DaclGrantsRight(std::string_view sd, const unsigned char right_guid[16],
                     const std::vector<std::string>& sids);

}  // namespace sspr::helper
