// MS-DTYP parsing used by `sspr-admin check`: SIDs and DACL grants.
#include <cstring>
#include <string>
#include <vector>

#include "admin_check.h"
#include "check_main.h"  // last: Check defines a fail() macro

namespace {

const unsigned char kReset[16] = {0x70, 0x95, 0x29, 0x00, 0x6d, 0x24, 0xd0, 0x11,
                                  0xa7, 0x68, 0x00, 0xaa, 0x00, 0x6e, 0x05, 0x29};

std::string Sid(std::vector<std::uint32_t> subs) {
  std::string s = {1, static_cast<char>(subs.size()), 0, 0, 0, 0, 0, 5};
  for (auto v : subs)
    for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

void Le16(std::string& s, std::uint16_t v) {
  s += static_cast<char>(v & 0xff);
  s += static_cast<char>(v >> 8);
}
void Le32(std::string& s, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

// A self-relative SD with one DACL holding `aces`.
std::string Sd(const std::vector<std::string>& aces) {
  std::string acl;
  std::size_t size = 8;
  for (const auto& a : aces) size += a.size();
  acl += static_cast<char>(4);
  acl += static_cast<char>(0);
  Le16(acl, static_cast<std::uint16_t>(size));
  Le16(acl, static_cast<std::uint16_t>(aces.size()));
  Le16(acl, 0);
  for (const auto& a : aces) acl += a;
  std::string sd = {1, 0};
  Le16(sd, 0x8004);
  Le32(sd, 0);
  Le32(sd, 0);
  Le32(sd, 0);
  Le32(sd, 20);
  return sd + acl;
}

std::string ObjectAce(std::uint32_t mask, const unsigned char* guid, const std::string& sid) {
  std::string body;
  Le32(body, mask);
  Le32(body, guid ? 1 : 0);
  if (guid) body.append(reinterpret_cast<const char*>(guid), 16);
  body += sid;
  std::string ace = {5, 0x12};
  Le16(ace, static_cast<std::uint16_t>(4 + body.size()));
  return ace + body;
}

}  // namespace

START_TEST(sid_to_string_formats_and_rejects_truncation) {
  std::string s = Sid({21, 1, 2, 3, 1105});
  const std::string full = sspr::helper::SidToString(s);
  const std::string cut = sspr::helper::SidToString(s.substr(0, s.size() - 1));
  const std::string empty = sspr::helper::SidToString("");
  ck_assert_str_eq(full.c_str(), "S-1-5-21-1-2-3-1105");
  ck_assert_str_eq(cut.c_str(), "");
  ck_assert_str_eq(empty.c_str(), "");
}
END_TEST

START_TEST(dacl_grant_found_for_sid_in_token_only) {
  std::string svc = Sid({21, 1, 2, 3, 1105});
  std::string other = Sid({21, 1, 2, 3, 1200});
  std::string sd = Sd({ObjectAce(0x100, kReset, svc)});
  ck_assert(sspr::helper::DaclGrantsRight(sd, kReset, {svc}));
  ck_assert(!sspr::helper::DaclGrantsRight(sd, kReset, {other}));
  unsigned char other_right[16] = {1};
  std::string sd2 = Sd({ObjectAce(0x100, other_right, svc)});
  ck_assert(!sspr::helper::DaclGrantsRight(sd2, kReset, {svc}));
  std::string sd3 = Sd({ObjectAce(0x100, nullptr, svc)});  // all control access rights
  ck_assert(sspr::helper::DaclGrantsRight(sd3, kReset, {svc}));
}
END_TEST

START_TEST(dacl_parser_survives_truncation) {
  std::string svc = Sid({21, 1, 2, 3, 1105});
  std::string sd = Sd({ObjectAce(0x100, kReset, svc)});
  for (std::size_t n = 0; n < sd.size(); ++n)
    (void)sspr::helper::DaclGrantsRight(sd.substr(0, n), kReset, {svc});  // no crash (ASan)
  ck_assert(!sspr::helper::DaclGrantsRight(sd.substr(0, sd.size() - 1), kReset, {svc}));
}
END_TEST

Suite* MakeSuite() {
  Suite* s = suite_create("admin_check");
  TCase* tc = tcase_create("dtyp");
  tcase_add_test(tc, sid_to_string_formats_and_rejects_truncation);
  tcase_add_test(tc, dacl_grant_found_for_sid_in_token_only);
  tcase_add_test(tc, dacl_parser_survives_truncation);
  suite_add_tcase(s, tc);
  return s;
}
