// RFC 4515 filter escaping and unicodePwd encoding (MS-ADTS 3.1.1.3.1.5.1).
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "sspr/ad/client.h"
#include "sspr/util/secret.h"

#include "check_main.h"  // last: Check defines a fail() macro


using sspr::Errc;
using sspr::Secret;
using sspr::ad::EncodeUnicodePwd;
using sspr::ad::EscapeFilterValue;

namespace {

void ExpectEscape(std::string_view in, const char* want) {
  const std::string got = EscapeFilterValue(in);
  ck_assert_str_eq(got.c_str(), want);
}

Secret S(std::string_view s) { return Secret(s.data(), s.size()); }

std::vector<unsigned char> Encode(std::string_view utf8) {
  Secret in = S(utf8);
  auto r = EncodeUnicodePwd(in);
  ck_assert_msg(r.ok(), "encode failed");
  return {r->data(), r->data() + r->size()};
}

void ExpectRejected(std::string_view utf8) {
  Secret in = S(utf8);
  auto r = EncodeUnicodePwd(in);
  ck_assert_msg(!r.ok(), "invalid input was encoded");
  ck_assert(r.code() == Errc::kDirRejected);
}

}  // namespace

// ---- EscapeFilterValue: RFC 4515 §4 examples ---------------------------------
START_TEST(escape_star) { ExpectEscape("*", "\\2a"); }
END_TEST
START_TEST(escape_parentheses) { ExpectEscape("Parens R Us (for all your parenthetical needs)",
                                              "Parens R Us \\28for all your parenthetical needs\\29"); }
END_TEST
START_TEST(escape_backslash) { ExpectEscape("C:\\MyFile", "C:\\5cMyFile"); }
END_TEST
START_TEST(escape_nul) { ExpectEscape(std::string_view("a\0b", 3), "a\\00b"); }
END_TEST
START_TEST(escape_utf8_bytes) {
  // RFC 4515 §4: "Lu\c4\8di\c4\87" for Lučić.
  ExpectEscape("Lu\xc4\x8di\xc4\x87", "Lu\\c4\\8di\\c4\\87");
}
END_TEST
START_TEST(escape_control_bytes) { ExpectEscape("a\nb\x1f", "a\\0ab\\1f"); }
END_TEST
START_TEST(escape_injection_attempt) {
  ExpectEscape("alice)(x=*", "alice\\29\\28x=\\2a");
  ExpectEscape("*)(|(objectClass=*", "\\2a\\29\\28|\\28objectClass=\\2a");
}
END_TEST
START_TEST(escape_leaves_plain_ascii) { ExpectEscape("alice.smith-1@EXAMPLE.test", "alice.smith-1@EXAMPLE.test"); }
END_TEST
START_TEST(escape_empty_is_empty) { ExpectEscape("", ""); }
END_TEST

// ---- EncodeUnicodePwd ------------------------------------------------------------
START_TEST(encode_ascii_adds_quotes_utf16le) {
  auto v = Encode("ab1");
  const std::vector<unsigned char> want = {'"', 0, 'a', 0, 'b', 0, '1', 0, '"', 0};
  ck_assert(v == want);
}
END_TEST
START_TEST(encode_empty_is_two_quotes) {
  auto v = Encode("");
  const std::vector<unsigned char> want = {'"', 0, '"', 0};
  ck_assert(v == want);
}
END_TEST
START_TEST(encode_inner_quote_is_kept) {
  auto v = Encode("a\"");
  const std::vector<unsigned char> want = {'"', 0, 'a', 0, '"', 0, '"', 0};
  ck_assert(v == want);
}
END_TEST
START_TEST(encode_bmp_two_and_three_bytes) {
  // U+00E9 é, U+20AC €
  auto v = Encode("\xc3\xa9\xe2\x82\xac");
  const std::vector<unsigned char> want = {'"', 0, 0xE9, 0x00, 0xAC, 0x20, '"', 0};
  ck_assert(v == want);
}
END_TEST
START_TEST(encode_non_bmp_is_surrogate_pair) {
  // U+1F600 = D83D DE00
  auto v = Encode("\xf0\x9f\x98\x80");
  const std::vector<unsigned char> want = {'"', 0, 0x3D, 0xD8, 0x00, 0xDE, '"', 0};
  ck_assert(v == want);
}
END_TEST
START_TEST(encode_max_code_point) {
  // U+10FFFF = DBFF DFFF
  auto v = Encode("\xf4\x8f\xbf\xbf");
  const std::vector<unsigned char> want = {'"', 0, 0xFF, 0xDB, 0xFF, 0xDF, '"', 0};
  ck_assert(v == want);
}
END_TEST
START_TEST(encode_rejects_stray_continuation) { ExpectRejected("a\x80"); }
END_TEST
START_TEST(encode_rejects_truncated_sequence) {
  ExpectRejected("\xc3");
  ExpectRejected("\xe2\x82");
  ExpectRejected("\xf0\x9f\x98");
}
END_TEST
START_TEST(encode_rejects_overlongs) {
  ExpectRejected("\xc0\xaf");          // '/' in 2 bytes
  ExpectRejected("\xc1\xbf");
  ExpectRejected("\xe0\x80\xaf");      // 3-byte overlong
  ExpectRejected("\xf0\x80\x80\xaf");  // 4-byte overlong
}
END_TEST
START_TEST(encode_rejects_surrogates) {
  ExpectRejected("\xed\xa0\x80");  // U+D800
  ExpectRejected("\xed\xbf\xbf");  // U+DFFF
}
END_TEST
START_TEST(encode_rejects_above_10ffff) {
  ExpectRejected("\xf4\x90\x80\x80");
  ExpectRejected("\xf5\x80\x80\x80");
  ExpectRejected("\xff");
}
END_TEST
START_TEST(encode_rejects_nul) { ExpectRejected(std::string_view("a\0b", 3)); }
END_TEST
START_TEST(encode_rejects_bad_continuation_in_middle) { ExpectRejected("\xe2\x28\xa1"); }
END_TEST
START_TEST(encode_error_names_utf8) {
  Secret in = S("\xc3\x28");
  auto r = EncodeUnicodePwd(in);
  ck_assert(!r.ok());
  ck_assert(r.error().detail.find("UTF-8") != std::string::npos);
}
END_TEST

// ---- UserEntry::First ---------------------------------------------------------------
START_TEST(first_returns_first_value_or_nothing) {
  sspr::ad::UserEntry u;
  u.attrs["mail"] = {"a@x", "b@x"};
  u.attrs["mobile"] = {};
  auto m = u.First("mail");
  ck_assert(m.has_value());
  ck_assert_str_eq(m->c_str(), "a@x");
  ck_assert(!u.First("mobile").has_value());
  ck_assert(!u.First("pager").has_value());
}
END_TEST

START_TEST(values_looks_up_any_case_and_is_empty_when_absent) {
  sspr::ad::UserEntry u;
  u.attrs["othermailbox"] = {"a@x.org", "b@y.org"};
  ck_assert_uint_eq(u.Values("otherMailbox").size(), 2);
  ck_assert_uint_eq(u.Values("OTHERMAILBOX").size(), 2);
  ck_assert(u.Values("mobile").empty());
}
END_TEST

Suite* MakeSuite() {
  Suite* s = suite_create("ad_encoding");
  TCase* e = tcase_create("escape");
  tcase_add_test(e, escape_star);
  tcase_add_test(e, escape_parentheses);
  tcase_add_test(e, escape_backslash);
  tcase_add_test(e, escape_nul);
  tcase_add_test(e, escape_utf8_bytes);
  tcase_add_test(e, escape_control_bytes);
  tcase_add_test(e, escape_injection_attempt);
  tcase_add_test(e, escape_leaves_plain_ascii);
  tcase_add_test(e, escape_empty_is_empty);
  suite_add_tcase(s, e);
  TCase* u = tcase_create("unicodepwd");
  tcase_add_test(u, encode_ascii_adds_quotes_utf16le);
  tcase_add_test(u, encode_empty_is_two_quotes);
  tcase_add_test(u, encode_inner_quote_is_kept);
  tcase_add_test(u, encode_bmp_two_and_three_bytes);
  tcase_add_test(u, encode_non_bmp_is_surrogate_pair);
  tcase_add_test(u, encode_max_code_point);
  tcase_add_test(u, encode_rejects_stray_continuation);
  tcase_add_test(u, encode_rejects_truncated_sequence);
  tcase_add_test(u, encode_rejects_overlongs);
  tcase_add_test(u, encode_rejects_surrogates);
  tcase_add_test(u, encode_rejects_above_10ffff);
  tcase_add_test(u, encode_rejects_nul);
  tcase_add_test(u, encode_rejects_bad_continuation_in_middle);
  tcase_add_test(u, encode_error_names_utf8);
  suite_add_tcase(s, u);
  TCase* f = tcase_create("entry");
  tcase_add_test(f, first_returns_first_value_or_nothing);
  tcase_add_test(f, values_looks_up_any_case_and_is_empty_when_absent);
  suite_add_tcase(s, f);
  return s;
}
