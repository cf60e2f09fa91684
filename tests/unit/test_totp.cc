// TOTP: RFC 6238 vectors, window, replay, Base32, otpauth URI and QR text.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sspr/method/totp.h"
#include "check_main.h"  // last: Check defines a fail() macro

using namespace sspr;
using namespace sspr::method;

namespace {

Secret S(std::string_view s) { return Secret(s.data(), s.size()); }

TotpVerifier MakeVerifier(std::string_view seed, TotpParams p) {
  auto v = TotpVerifier::Create(S(seed), p);
  ck_assert_msg(v.ok(), "TotpVerifier::Create failed");
  return std::move(v).value();
}

std::string CodeAt(const TotpVerifier& v, std::int64_t t) {
  auto c = v.Generate(t);
  ck_assert(c.ok());
  return std::string(c->view());
}

// RFC 6238 Appendix B seeds: the ASCII digits repeated to the hash size.
constexpr std::string_view kSeed20 = "12345678901234567890";
constexpr std::string_view kSeed32 = "12345678901234567890123456789012";
constexpr std::string_view kSeed64 =
    "1234567890123456789012345678901234567890123456789012345678901234";

struct Vector {
  std::int64_t t;
  const char* sha1;
  const char* sha256;
  const char* sha512;
};
constexpr Vector kRfc6238[] = {
    {59, "94287082", "46119246", "90693936"},
    {1111111109, "07081804", "68084774", "25091201"},
    {1111111111, "14050471", "67062674", "99943326"},
    {1234567890, "89005924", "91819424", "93441116"},
    {2000000000, "69279037", "90698825", "38618901"},
    {20000000000, "65353130", "77737706", "47863826"},  // past 2038: 64-bit time
};

// Number of UTF-8 code points in a line (every character we emit is 1 or 3 bytes).
std::size_t CodePoints(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::vector<std::string> Lines(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto nl = s.find('\n', start);
    if (nl == std::string_view::npos) nl = s.size();
    out.emplace_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

}  // namespace

START_TEST(rfc6238_appendix_b_sha1_vectors) {
  TotpVerifier v = MakeVerifier(kSeed20, {TotpAlgo::kSha1, 8, 30, 1});
  for (const auto& vec : kRfc6238) {
    const std::string got = CodeAt(v, vec.t);  // named: ck_assert_str_eq keeps the pointer
    ck_assert_str_eq(got.c_str(), vec.sha1);
  }
}
END_TEST

START_TEST(rfc6238_appendix_b_sha256_vectors) {
  TotpVerifier v = MakeVerifier(kSeed32, {TotpAlgo::kSha256, 8, 30, 1});
  for (const auto& vec : kRfc6238) {
    const std::string got = CodeAt(v, vec.t);  // named: ck_assert_str_eq keeps the pointer
    ck_assert_str_eq(got.c_str(), vec.sha256);
  }
}
END_TEST

START_TEST(rfc6238_appendix_b_sha512_vectors) {
  TotpVerifier v = MakeVerifier(kSeed64, {TotpAlgo::kSha512, 8, 30, 1});
  for (const auto& vec : kRfc6238) {
    const std::string got = CodeAt(v, vec.t);  // named: ck_assert_str_eq keeps the pointer
    ck_assert_str_eq(got.c_str(), vec.sha512);
  }
}
END_TEST

START_TEST(verify_accepts_rfc_vector_and_returns_its_step) {
  TotpVerifier v = MakeVerifier(kSeed20, {TotpAlgo::kSha1, 8, 30, 1});
  auto r = v.Verify("14050471", 1111111111, kNoTotpStep);
  ck_assert(r.ok());
  ck_assert_int_eq(*r, 1111111111 / 30);
  // Spaces are ignored ("1405 0471" as an app shows it).
  ck_assert(v.Verify("1405 0471", 1111111111, kNoTotpStep).ok());
}
END_TEST

START_TEST(window_accepts_one_step_either_side_refuses_two) {
  TotpVerifier v = MakeVerifier(kSeed20, {TotpAlgo::kSha1, 6, 30, 1});
  const std::int64_t now = 1111111111;
  const std::int64_t step = now / 30;
  for (int d = -1; d <= 1; ++d) {
    auto r = v.Verify(CodeAt(v, now + 30 * d), now, kNoTotpStep);
    ck_assert_msg(r.ok(), "offset %d refused", d);
    ck_assert_int_eq(*r, step + d);
  }
  for (int d : {-2, 2, -3, 3}) {
    auto r = v.Verify(CodeAt(v, now + 30 * d), now, kNoTotpStep);
    ck_assert_msg(!r.ok(), "offset %d accepted", d);
    ck_assert(r.code() == Errc::kCodeWrong);
  }
}
END_TEST

START_TEST(window_zero_accepts_only_the_current_step) {
  TotpVerifier v = MakeVerifier(kSeed20, {TotpAlgo::kSha1, 6, 30, 0});
  const std::int64_t now = 1234567890;
  ck_assert(v.Verify(CodeAt(v, now), now, kNoTotpStep).ok());
  ck_assert(!v.Verify(CodeAt(v, now + 30), now, kNoTotpStep).ok());
  ck_assert(!v.Verify(CodeAt(v, now - 30), now, kNoTotpStep).ok());
}
END_TEST

START_TEST(replay_of_the_accepted_step_or_an_older_one_is_refused) {
  TotpVerifier v = MakeVerifier(kSeed20, {TotpAlgo::kSha1, 6, 30, 1});
  const std::int64_t now = 2000000000;
  const std::string code = CodeAt(v, now);
  auto first = v.Verify(code, now, kNoTotpStep);
  ck_assert(first.ok());
  const std::int64_t last = *first;
  // Same code again, even 10 s later within the same step: refused.
  auto again = v.Verify(code, now + 10, last);
  ck_assert(!again.ok());
  ck_assert(again.code() == Errc::kCodeWrong);
  ck_assert(again.error().detail.find("replay") != std::string::npos);
  // The previous step's code (still inside the window) is refused too.
  ck_assert(!v.Verify(CodeAt(v, now - 30), now, last).ok());
  // The next step's code is fresh and accepted.
  auto next = v.Verify(CodeAt(v, now + 30), now + 30, last);
  ck_assert(next.ok());
  ck_assert_int_eq(*next, last + 1);
}
END_TEST

START_TEST(wrong_and_malformed_codes_are_refused) {
  TotpVerifier v = MakeVerifier(kSeed20, {TotpAlgo::kSha1, 6, 30, 1});
  const std::int64_t now = 1111111111;
  std::string good = CodeAt(v, now);
  std::string bad = good;
  bad[5] = bad[5] == '9' ? '0' : static_cast<char>(bad[5] + 1);
  ck_assert(!v.Verify(bad, now, kNoTotpStep).ok());
  ck_assert(!v.Verify(good.substr(0, 5), now, kNoTotpStep).ok());     // too short
  ck_assert(!v.Verify(good + "0", now, kNoTotpStep).ok());            // too long
  ck_assert(!v.Verify(good.substr(0, 5) + "x", now, kNoTotpStep).ok());  // not a digit
  ck_assert(!v.Verify("", now, kNoTotpStep).ok());
  ck_assert(v.Verify(good, now, kNoTotpStep).ok());  // and the good one still works
}
END_TEST

START_TEST(create_refuses_short_seed_and_bad_params) {
  ck_assert(TotpVerifier::Create(S("short"), {}).code() == Errc::kConfig);
  ck_assert(TotpVerifier::Create(S(kSeed20), {TotpAlgo::kSha1, 5, 30, 1}).code() == Errc::kConfig);
  ck_assert(TotpVerifier::Create(S(kSeed20), {TotpAlgo::kSha1, 9, 30, 1}).code() == Errc::kConfig);
  ck_assert(TotpVerifier::Create(S(kSeed20), {TotpAlgo::kSha1, 6, 0, 1}).code() == Errc::kConfig);
  ck_assert(TotpVerifier::Create(S(kSeed20), {TotpAlgo::kSha1, 6, 30, -1}).code() == Errc::kConfig);
}
END_TEST

START_TEST(new_seed_is_20_random_bytes) {
  Secret a = NewTotpSeed(), b = NewTotpSeed();
  ck_assert_uint_eq(a.size(), 20);
  ck_assert(!a.Equals(b));
  ck_assert_uint_eq(Base32(a).size(), 32);  // 160 bits / 5
}
END_TEST

START_TEST(base32_matches_rfc4648_vectors_without_padding) {
  const char* const kVectors[][2] = {{"", ""},           {"f", "MY"},
                                     {"fo", "MZXQ"},     {"foo", "MZXW6"},
                                     {"foob", "MZXW6YQ"}, {"fooba", "MZXW6YTB"},
                                     {"foobar", "MZXW6YTBOI"}};
  for (const auto& vec : kVectors) {
    const std::string out(Base32(S(vec[0])).view());
    ck_assert_str_eq(out.c_str(), vec[1]);
  }
  const std::string seed_b32(Base32(S(kSeed20)).view());
  ck_assert_str_eq(seed_b32.c_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  // All 256 byte values map into the alphabet.
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  const Secret all_b32 = Base32(S(all));
  ck_assert_uint_eq(all_b32.size(), (256 * 8 + 4) / 5);
  for (char c : all_b32.view()) ck_assert((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'));
}
END_TEST

START_TEST(otpauth_uri_has_key_uri_shape) {
  auto uri = OtpauthUri("ACME Corp", "alice@example.org", S(kSeed20));
  ck_assert(uri.ok());
  const std::string text(uri->view());
  ck_assert_str_eq(text.c_str(),
                   "otpauth://totp/ACME%20Corp:alice%40example.org"
                   "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Corp"
                   "&algorithm=SHA1&digits=6&period=30");
  auto u256 = OtpauthUri("X", "y", S(kSeed32), 8, 60, TotpAlgo::kSha256);
  ck_assert(u256.ok());
  ck_assert(u256->view().find("&algorithm=SHA256&digits=8&period=60") != std::string_view::npos);
  ck_assert(!OtpauthUri("X", "y", S(kSeed20), 5).ok());
  ck_assert(!OtpauthUri("X", "y", S(kSeed20), 6, 0).ok());
}
END_TEST

START_TEST(otpauth_uri_labels_cannot_inject_parameters) {
  auto uri = OtpauthUri("Evil:Inc&secret=AAAA", "bob?secret=BBBB#x", S(kSeed20));
  ck_assert(uri.ok());
  std::string_view u = uri->view();
  // One '?', one "secret=", and ':' only as the scheme separator and label separator.
  ck_assert_uint_eq(std::count(u.begin(), u.end(), '?'), 1);
  ck_assert(u.find("secret=") == u.rfind("secret="));
  ck_assert(u.find('#') == std::string_view::npos);
  ck_assert(u.find("otpauth://totp/Evil%3AInc%26secret%3DAAAA:bob%3Fsecret%3DBBBB%23x?") == 0);
}
END_TEST

START_TEST(qr_render_uses_only_half_blocks_and_is_square) {
  auto qr = RenderQrUtf8("otpauth://totp/ACME:alice?secret=JBSWY3DPEHPK3PXP");
  ck_assert(qr.ok());
  std::string_view text = qr->view();
  ck_assert(!text.empty());
  ck_assert(text.back() == '\n');
  // Only ▀ ▄ █, space and newline.
  for (std::size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == ' ' || c == '\n') { ++i; continue; }
    ck_assert_uint_ge(text.size() - i, 3);
    std::string_view g = text.substr(i, 3);
    ck_assert_msg(g == "\xE2\x96\x80" || g == "\xE2\x96\x84" || g == "\xE2\x96\x88",
                  "unexpected byte 0x%02x at %zu", c, i);
    i += 3;
  }
  auto lines = Lines(text);
  const std::size_t width = CodePoints(lines[0]);
  for (const auto& l : lines) ck_assert_uint_eq(CodePoints(l), width);
  // Two module rows per line: lines = ceil(width / 2).
  ck_assert_uint_eq(lines.size(), (width + 1) / 2);
  // Quiet zone: first line and first/last column fully light (drawn).
  for (std::size_t i = 0; i < lines[0].size(); i += 3)
    ck_assert(lines[0].substr(i, 3) == "\xE2\x96\x88");
}
END_TEST

START_TEST(qr_for_known_uri_has_the_module_count_of_its_version) {
  // 95 bytes: in 8-bit mode 4+8+8*95 = 772 data bits > 688 (version 5-M),
  // <= 864 (version 6-M). Mixed segments cannot save the 84 bits needed
  // for version 5 (the only alphanumeric run is 16 characters).
  // Version 6 is 17 + 4*6 = 41 modules.
  const char* uri =
      "otpauth://totp/ACME:alice?secret=JBSWY3DPEHPK3PXP&issuer=ACME&algorithm=SHA1&digits=6&period=30";
  auto qr = RenderQrUtf8(uri);
  ck_assert(qr.ok());
  auto lines = Lines(qr->view());
  const std::size_t modules = 41, total = modules + 2 * kQrQuietZone;
  ck_assert_uint_eq(CodePoints(lines[0]), total);
  ck_assert_uint_eq(lines.size(), (total + 1) / 2);
  // "hello" fits version 1: 21 modules.
  auto small = RenderQrUtf8("hello");
  ck_assert(small.ok());
  ck_assert_uint_eq(CodePoints(Lines(small->view())[0]), 21 + 2 * kQrQuietZone);
  // A finder pattern's dark 7x7 square starts right after the quiet zone:
  // line 1 (module rows 2,3) column 2 is dark on top (row 2 = the finder's top edge).
  const std::string l1 = Lines(small->view())[1];
  // Columns 0,1 are quiet zone (█ = both light), column 2: top dark, bottom dark → ' '.
  ck_assert(l1.substr(0, 6) == "\xE2\x96\x88\xE2\x96\x88");
  ck_assert(l1[6] == ' ');
}
END_TEST

START_TEST(qr_refuses_text_with_nul_and_oversized_text) {
  ck_assert(!RenderQrUtf8(std::string_view("a\0b", 3)).ok());
  ck_assert(!RenderQrUtf8(std::string(5000, 'x')).ok());  // > 2331 bytes (40-M in 8-bit mode)
}
END_TEST

Suite* MakeSuite() {
  Suite* s = suite_create("totp");
  TCase* tc = tcase_create("totp");
  tcase_add_test(tc, rfc6238_appendix_b_sha1_vectors);
  tcase_add_test(tc, rfc6238_appendix_b_sha256_vectors);
  tcase_add_test(tc, rfc6238_appendix_b_sha512_vectors);
  tcase_add_test(tc, verify_accepts_rfc_vector_and_returns_its_step);
  tcase_add_test(tc, window_accepts_one_step_either_side_refuses_two);
  tcase_add_test(tc, window_zero_accepts_only_the_current_step);
  tcase_add_test(tc, replay_of_the_accepted_step_or_an_older_one_is_refused);
  tcase_add_test(tc, wrong_and_malformed_codes_are_refused);
  tcase_add_test(tc, create_refuses_short_seed_and_bad_params);
  tcase_add_test(tc, new_seed_is_20_random_bytes);
  tcase_add_test(tc, base32_matches_rfc4648_vectors_without_padding);
  tcase_add_test(tc, otpauth_uri_has_key_uri_shape);
  tcase_add_test(tc, otpauth_uri_labels_cannot_inject_parameters);
  tcase_add_test(tc, qr_render_uses_only_half_blocks_and_is_square);
  tcase_add_test(tc, qr_for_known_uri_has_the_module_count_of_its_version);
  tcase_add_test(tc, qr_refuses_text_with_nul_and_oversized_text);
  suite_add_tcase(s, tc);
  return s;
}
