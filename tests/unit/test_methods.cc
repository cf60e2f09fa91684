// One-time codes, address masking and the local password-policy check.
#include <sodium.h>

#include <set>
#include <string>

#include "sspr/method/email.h"
#include "sspr/method/otp.h"
#include "sspr/policy/banned.h"
#include "sspr/policy/password.h"
#include "check_main.h"  // last: Check defines a fail() macro

using namespace sspr;
using namespace sspr::method;

START_TEST(codes_are_digits_of_the_asked_length_and_vary) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    Secret c = GenerateNumericCode(8);
    ck_assert_uint_eq(c.size(), 8);
    for (char ch : c.view()) ck_assert(ch >= '0' && ch <= '9');
    seen.insert(std::string(c.view()));
  }
  ck_assert_uint_gt(seen.size(), 195);  // 10^8 space: collisions would mean a broken RNG
}
END_TEST

START_TEST(code_verifies_once_ignoring_spaces_and_dashes) {
  OneTimeCode otp(Secret("12345678", 8), "b", 1000, 5);
  ck_assert(otp.Verify("1234 5678", "b", 10) == CodeCheck::kOk);
  ck_assert(otp.Verify("12345678", "b", 11) == CodeCheck::kUsed);  // single use
  OneTimeCode dashed(Secret("12345678", 8), "b", 1000, 5);
  ck_assert(dashed.Verify("1234-5678", "b", 10) == CodeCheck::kOk);
}
END_TEST

START_TEST(code_refused_after_five_wrong_tries_even_if_right) {
  OneTimeCode otp(Secret("12345678", 8), "b", 1000, 5);
  for (int i = 0; i < 4; ++i) ck_assert(otp.Verify("00000000", "b", 10) == CodeCheck::kWrong);
  ck_assert(otp.Verify("00000000", "b", 10) == CodeCheck::kExhausted);
  ck_assert(otp.Verify("12345678", "b", 10) == CodeCheck::kExhausted);
}
END_TEST

START_TEST(expired_code_is_refused) {
  OneTimeCode otp(Secret("12345678", 8), "b", 1000, 5);
  ck_assert(otp.Verify("12345678", "b", 1000) == CodeCheck::kExpired);
}
END_TEST

START_TEST(code_bound_to_its_binding) {
  std::string b1 = CodeBinding("alice", "email", "a@x.org", "f1");
  std::string b2 = CodeBinding("alice", "email", "evil@x.org", "f1");
  OneTimeCode otp(Secret("12345678", 8), b1, 1000, 5);
  ck_assert(otp.Verify("12345678", b2, 10) == CodeCheck::kWrong);
  ck_assert(otp.Verify("12345678", b1, 10) == CodeCheck::kOk);
  // Length prefixes keep field boundaries: ("ab","c") != ("a","bc").
  ck_assert(CodeBinding("ab", "c", "", "") != CodeBinding("a", "bc", "", ""));
}
END_TEST

START_TEST(masking_hides_all_but_initials_and_tld) {
  std::string m = MaskAddress("alice.alt@example.org");
  ck_assert_str_eq(m.c_str(), "a\xE2\x80\xA2\xE2\x80\xA2\xE2\x80\xA2@e\xE2\x80\xA2\xE2\x80\xA2\xE2\x80\xA2.org");
  ck_assert(m.find("alice") == std::string::npos);
  ck_assert(m.find("example") == std::string::npos);
}
END_TEST

START_TEST(fake_mask_is_stable_per_account_and_shaped_like_a_real_one) {
  unsigned char key[32] = {1, 2, 3};
  std::string a1 = FakeMaskedAddress("nosuchuser", key);
  std::string a2 = FakeMaskedAddress("nosuchuser", key);
  ck_assert_str_eq(a1.c_str(), a2.c_str());
  std::string real = MaskAddress("bob@example.com");
  ck_assert_uint_eq(a1.size() - a1.substr(a1.rfind('.')).size(),
                    real.size() - real.substr(real.rfind('.')).size());
}
END_TEST

START_TEST(address_validation_refuses_header_injection) {
  ck_assert(IsUsableAddress("alice.alt@example.org"));
  ck_assert(!IsUsableAddress("alice@example.org\r\nBcc: x@evil.org"));
  ck_assert(!IsUsableAddress("a@b@c.org"));
  ck_assert(!IsUsableAddress("@example.org"));
  ck_assert(!IsUsableAddress("alice@localhost"));
  ck_assert(!IsUsableAddress("<alice@example.org>"));
}
END_TEST

START_TEST(policy_rules_named) {
  ad::DomainPolicy p;
  p.min_length = 7;
  p.complexity = true;
  p.history_length = 24;
  using policy::Rule;
  ck_assert(policy::Check("Ab1!", p, "alice", "Alice Liddell") == Rule::kTooShort);
  ck_assert(policy::Check("abcdefgh", p, "alice", "Alice Liddell") == Rule::kComplexity);
  ck_assert(policy::Check("Fresh-Pass-42", p, "alice", "Alice Liddell") == Rule::kOk);
  ck_assert(policy::Check("xxALICE-99yy", p, "alice", "") == Rule::kComplexity);      // account name
  ck_assert(policy::Check("Liddell-2024!", p, "bob", "Alice Liddell") == Rule::kComplexity);  // display token
  ck_assert(policy::Check("Al-2024-Zz!x", p, "bob", "Al Li") == Rule::kOk);  // tokens < 3 chars ignored
  ad::DomainPolicy loose;
  ck_assert(policy::Check("a", loose, "alice", "") == Rule::kOk);
  // Code points, not bytes: four 3-byte characters are 4 characters.
  ad::DomainPolicy len5;
  len5.min_length = 5;
  ck_assert(policy::Check("\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC", len5, "x", "") == Rule::kTooShort);
}
END_TEST

START_TEST(banned_list_folds_substitutions_and_near_misses) {
  auto list = policy::BannedList::FromEntries({"password", "contoso", "# not a comment here", "qwerty"});
  ck_assert(list.Matches("P@ssw0rd"));            // substitutions folded
  ck_assert(list.Matches("MyContoso2024!"));      // contained
  ck_assert(list.Matches("Passwerd"));            // one edit away
  ck_assert(list.Matches("qwerty1"));             // one edit away
  ck_assert(!list.Matches("Correct-Horse-Battery"));
  ck_assert(list.Matches("Pa-55-Word-Lx"));       // "passwordix" contains "password"
  ck_assert(!list.Matches("Pa-Word-99-Lx"));      // "pawordix": two edits from "password"
  const std::string folded = policy::BannedList::Normalise("L1l!|");
  ck_assert_str_eq(folded.c_str(), "iiiii");
}
END_TEST

START_TEST(banned_list_unreadable_fails_closed) {
  policy::BannedListSource src("/nonexistent/banned.txt");
  ck_assert(src.configured());
  auto r = src.Get();
  ck_assert(!r.ok());
  ck_assert(r.error().detail.find("/nonexistent/banned.txt") != std::string::npos);
  policy::BannedListSource none("");
  ck_assert(!none.configured());
}
END_TEST

START_TEST(secret_wipes_and_compares_in_constant_time) {
  std::string s = "hunter2-hunter2";
  Secret sec = Secret::Take(s);
  ck_assert(s.empty());
  ck_assert(sec.Equals(std::string_view("hunter2-hunter2")));
  ck_assert(!sec.Equals(std::string_view("hunter2-hunter3")));
  ck_assert(!sec.Equals(std::string_view("hunter2")));
  Secret moved = std::move(sec);
  ck_assert(sec.empty());
  ck_assert_uint_eq(moved.size(), 15);
}
END_TEST

Suite* MakeSuite() {
  Suite* s = suite_create("methods");
  TCase* tc = tcase_create("otp_email_policy");
  tcase_add_test(tc, codes_are_digits_of_the_asked_length_and_vary);
  tcase_add_test(tc, code_verifies_once_ignoring_spaces_and_dashes);
  tcase_add_test(tc, code_refused_after_five_wrong_tries_even_if_right);
  tcase_add_test(tc, expired_code_is_refused);
  tcase_add_test(tc, code_bound_to_its_binding);
  tcase_add_test(tc, masking_hides_all_but_initials_and_tld);
  tcase_add_test(tc, fake_mask_is_stable_per_account_and_shaped_like_a_real_one);
  tcase_add_test(tc, address_validation_refuses_header_injection);
  tcase_add_test(tc, policy_rules_named);
  tcase_add_test(tc, secret_wipes_and_compares_in_constant_time);
  tcase_add_test(tc, banned_list_folds_substitutions_and_near_misses);
  tcase_add_test(tc, banned_list_unreadable_fails_closed);
  suite_add_tcase(s, tc);
  return s;
}
