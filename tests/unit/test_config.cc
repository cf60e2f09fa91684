// Configuration parsing: the example file is valid and complete, and every
// kind of mistake is reported as FILE:LINE: [section] key: problem.
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "sspr/config/config.h"
#include "check_main.h"  // last: Check defines a fail() macro

using std::strlen;

using sspr::config::Parse;

namespace {

const char* kMinimal =
    "[directory]\n"
    "uri = ldaps://dc1.example.org ldap://dc2.example.org:389\n"
    "ca_file = /etc/ca.pem\n"
    "bind_dn = svc@example.org\n"
    "base_dn = DC=example,DC=org\n";

std::string ErrorsOf(const std::string& text) {
  auto r = Parse(text, "t.conf");
  ck_assert_msg(!r.ok(), "expected a failure for:\n%s", text.c_str());
  return r.error().detail;
}

bool Contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

}  // namespace

START_TEST(example_file_parses_and_matches_defaults) {
  std::ifstream in(SSPR_SOURCE_DIR "/conf/sspr.conf.example");
  ck_assert(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = Parse(ss.str(), "sspr.conf.example");
  ck_assert_msg(r.ok(), "%s", r.ok() ? "" : r.error().detail.c_str());
  sspr::config::Config defaults;
  ck_assert_int_eq(r->flow.code_lifetime_s, defaults.flow.code_lifetime_s);
  ck_assert_int_eq(r->flow.code_tries, defaults.flow.code_tries);
  ck_assert_int_eq(r->flow.flow_lifetime_s, defaults.flow.flow_lifetime_s);
  ck_assert_str_eq(r->email.attribute.c_str(), defaults.email.attribute.c_str());
  ck_assert_str_eq(r->helper.socket_path.c_str(), defaults.helper.socket_path.c_str());
  ck_assert_int_eq(r->helper.max_clients, defaults.helper.max_clients);
  ck_assert_str_eq(r->flow.helpdesk.c_str(), defaults.flow.helpdesk.c_str());
}
END_TEST

START_TEST(minimal_config_parses) {
  auto r = Parse(kMinimal, "t.conf");
  ck_assert(r.ok());
  ck_assert_uint_eq(r->directory.ad.uris.size(), 2);
  ck_assert_str_eq(r->directory.ad.base_dn.c_str(), "DC=example,DC=org");
}
END_TEST

START_TEST(unknown_key_names_file_and_line) {
  std::string e = ErrorsOf(std::string(kMinimal) + "[flow]\ncode_lenght = 8\n");
  ck_assert_msg(Contains(e, "t.conf:7: [flow] code_lenght: unknown key"), "%s", e.c_str());
}
END_TEST

START_TEST(unknown_section_is_an_error) {
  std::string e = ErrorsOf(std::string(kMinimal) + "[smtp]\nx = 1\n");
  ck_assert_msg(Contains(e, "t.conf:6: [smtp]: unknown section"), "%s", e.c_str());
}
END_TEST

START_TEST(out_of_range_value_says_allowed_and_given) {
  std::string e = ErrorsOf(std::string(kMinimal) + "[flow]\ncode_tries = 50\n");
  ck_assert_msg(Contains(e, "t.conf:7: [flow] code_tries: out of range; allowed: 1..10; given: \"50\""),
                "%s", e.c_str());
  e = ErrorsOf(std::string(kMinimal) + "[flow]\ncode_lifetime = 5m\n");
  ck_assert(Contains(e, "not a whole number"));
}
END_TEST

START_TEST(plain_ldap_scheme_and_bad_choice_are_refused) {
  std::string e = ErrorsOf(
      "[directory]\nuri = http://dc1\nca_file = /ca\nbind_dn = x\nbase_dn = y\n[email]\nsmtp_tls = maybe\n");
  ck_assert_msg(Contains(e, "t.conf:2: [directory] uri: only ldaps://"), "%s", e.c_str());
  ck_assert_msg(Contains(e, "t.conf:7: [email] smtp_tls: not one of the allowed values; allowed: starttls|smtps|none"),
                "%s", e.c_str());
}
END_TEST

START_TEST(missing_required_keys_are_listed) {
  std::string e = ErrorsOf("[directory]\nuri = ldaps://dc\n");
  ck_assert(Contains(e, "t.conf: [directory] ca_file: required key missing"));
  ck_assert(Contains(e, "t.conf: [directory] bind_dn: required key missing"));
  ck_assert(Contains(e, "t.conf: [directory] base_dn: required key missing"));
}
END_TEST

START_TEST(duplicates_and_garbage_lines_are_errors) {
  std::string e = ErrorsOf(std::string(kMinimal) + "timeout = 5\ntimeout = 6\njust words\n[broken\n");
  ck_assert_msg(Contains(e, "t.conf:7: [directory] timeout: given twice"), "%s", e.c_str());
  ck_assert(Contains(e, "t.conf:8: expected 'key = value'"));
  ck_assert(Contains(e, "t.conf:9: malformed section header"));
  e = ErrorsOf("orphan = 1\n");
  ck_assert(Contains(e, "t.conf:1: orphan: key outside any [section]"));
}
END_TEST

START_TEST(relative_paths_and_bad_bools_are_refused) {
  std::string e = ErrorsOf(std::string(kMinimal) + "bind_password_file = secret.txt\n[email]\nenabled = perhaps\n");
  ck_assert(Contains(e, "[directory] bind_password_file: not an absolute path"));
  ck_assert(Contains(e, "[email] enabled: not a yes/no value"));
}
END_TEST

START_TEST(custom_questions_join_the_predefined_ones) {
  auto r = Parse(std::string(kMinimal) + "[questions]\npredefined = A?|B?\ncustom = Our own? | Second?\n", "t.conf");
  ck_assert(r.ok());
  ck_assert_uint_eq(r->questions.predefined.size(), 4);
  ck_assert_str_eq(r->questions.predefined[2].c_str(), "Our own?");
  std::string e = ErrorsOf(std::string(kMinimal) + "[questions]\nenabled = yes\npredefined = A?\n");
  ck_assert(Contains(e, "[questions] predefined + custom: need at least `register` questions"));
}
END_TEST

START_TEST(load_refuses_group_writable_and_missing_files) {
  char path[] = "/tmp/sspr-conf-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, kMinimal, strlen(kMinimal)), static_cast<ssize_t>(strlen(kMinimal)));
  close(fd);
  chmod(path, 0664);
  auto r = sspr::config::Load(path);
  ck_assert(!r.ok());
  ck_assert(Contains(r.error().detail, "writable by group or others"));
  chmod(path, 0644);
  ck_assert(sspr::config::Load(path).ok());
  unlink(path);
  ck_assert(!sspr::config::Load("/nonexistent/sspr.conf").ok());
}
END_TEST

Suite* MakeSuite() {
  Suite* s = suite_create("config");
  TCase* tc = tcase_create("parse");
  tcase_add_test(tc, example_file_parses_and_matches_defaults);
  tcase_add_test(tc, minimal_config_parses);
  tcase_add_test(tc, unknown_key_names_file_and_line);
  tcase_add_test(tc, unknown_section_is_an_error);
  tcase_add_test(tc, out_of_range_value_says_allowed_and_given);
  tcase_add_test(tc, plain_ldap_scheme_and_bad_choice_are_refused);
  tcase_add_test(tc, missing_required_keys_are_listed);
  tcase_add_test(tc, duplicates_and_garbage_lines_are_errors);
  tcase_add_test(tc, relative_paths_and_bad_bools_are_refused);
  tcase_add_test(tc, load_refuses_group_writable_and_missing_files);
  tcase_add_test(tc, custom_questions_join_the_predefined_ones);
  suite_add_tcase(s, tc);
  return s;
}
