// One test per row of src/ad/error_map.cc, plus the code parsers' edges.
// The diagnostics are the forms AD and Samba 4.17 actually send.
#include <ldap.h>

#include <cstdio>
#include <cstdlib>

#include "sspr/ad/error_map.h"

#include "check_main.h"  // last: Check defines a fail() macro

using sspr::Errc;
using sspr::ad::BindDataCode;
using sspr::ad::LeadingWin32Code;
using sspr::ad::MapLdapResult;
using sspr::ad::Op;

namespace {

constexpr const char* kSambaBind52e =
    "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1";
constexpr const char* kWinBind52e =
    "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563";

const char* BindDiag(const char* code) {
  // Same shape as AD's; static storage per call site is enough for tests.
  static char buf[160];
  snprintf(buf, sizeof buf,
           "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data %s, v4563",
           code);
  return buf;
}

void ExpectMap(Op op, int rc, const char* diag, Errc want) {
  const Errc got = MapLdapResult(op, rc, diag);
  ck_assert_msg(got == want, "rc %d diag '%s': got %s, want %s", rc, diag,
                sspr::ErrcName(got).data(), sspr::ErrcName(want).data());
}

}  // namespace

// ---- parsers ---------------------------------------------------------------
START_TEST(leading_code_parses_samba_policy) {
  auto c = LeadingWin32Code(
      "0000052D: Constraint violation - check_password_restrictions: the password is too short. "
      "It should be equal or longer than 7 characters!");
  ck_assert(c.has_value());
  ck_assert_uint_eq(*c, 0x52d);
}
END_TEST

START_TEST(leading_code_parses_windows_atrerr) {
  auto c = LeadingWin32Code(
      "0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005 "
      "(CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)\n");
  ck_assert(c.has_value());
  ck_assert_uint_eq(*c, 0x52d);
}
END_TEST

START_TEST(leading_code_accepts_lowercase_hex) {
  auto c = LeadingWin32Code("0000052d: constraint violation");
  ck_assert(c.has_value());
  ck_assert_uint_eq(*c, 0x52d);
}
END_TEST

START_TEST(leading_code_accepts_bare_code) {
  auto c = LeadingWin32Code("00000775");
  ck_assert(c.has_value());
  ck_assert_uint_eq(*c, 0x775);
}
END_TEST

START_TEST(leading_code_rejects_short_code) {
  ck_assert(!LeadingWin32Code("52D: x").has_value());
  ck_assert(!LeadingWin32Code("0000052").has_value());
  ck_assert(!LeadingWin32Code("").has_value());
}
END_TEST

START_TEST(leading_code_rejects_garbage) {
  ck_assert(!LeadingWin32Code("0000052G: x").has_value());
  ck_assert(!LeadingWin32Code(" 0000052D: x").has_value());
  ck_assert(!LeadingWin32Code("Constraint violation").has_value());
  ck_assert(!LeadingWin32Code("0x00052D: x").has_value());
}
END_TEST

START_TEST(leading_code_rejects_nine_digits) {
  ck_assert(!LeadingWin32Code("0000052D0: x").has_value());
  ck_assert(!LeadingWin32Code("0000052D x").has_value());
}
END_TEST

START_TEST(bind_data_parses_samba_and_windows) {
  auto a = BindDataCode(kSambaBind52e);
  auto b = BindDataCode(kWinBind52e);
  ck_assert(a.has_value() && b.has_value());
  ck_assert_uint_eq(*a, 0x52e);
  ck_assert_uint_eq(*b, 0x52e);
}
END_TEST

START_TEST(bind_data_accepts_uppercase_and_end) {
  auto a = BindDataCode("comment: AcceptSecurityContext error, data 775");
  auto b = BindDataCode("x, data 52E, v1");
  ck_assert(a.has_value() && b.has_value());
  ck_assert_uint_eq(*a, 0x775);
  ck_assert_uint_eq(*b, 0x52e);
}
END_TEST

START_TEST(bind_data_absent_is_nullopt) {
  ck_assert(!BindDataCode("").has_value());
  ck_assert(!BindDataCode("Invalid credentials").has_value());
  ck_assert(!BindDataCode("x, data , v1").has_value());
  ck_assert(!BindDataCode("x, data").has_value());
}
END_TEST

START_TEST(bind_data_rejects_garbage_and_glued_words) {
  ck_assert(!BindDataCode("x, data 52x, v1").has_value());
  ck_assert(!BindDataCode("x, metadata 52e, v1").has_value());
  ck_assert(!BindDataCode("x, data 123456789, v1").has_value());
}
END_TEST

START_TEST(bind_data_skips_bad_then_finds_good) {
  auto c = BindDataCode("metadata 1, data 773, v1");
  ck_assert(c.has_value());
  ck_assert_uint_eq(*c, 0x773);
}
END_TEST

// ---- transport rows ----------------------------------------------------------
START_TEST(connect_error_with_tls_text_is_tls) {
  ExpectMap(Op::kBind, LDAP_CONNECT_ERROR, "The certificate is NOT trusted.", Errc::kDirTls);
}
END_TEST
START_TEST(server_down_with_tls_text_is_tls) {
  ExpectMap(Op::kSearch, LDAP_SERVER_DOWN,
            "error:0A000086:SSL routines::certificate verify failed", Errc::kDirTls);
}
END_TEST
START_TEST(ms_connect_error_91_with_tls_text_is_tls) {
  ExpectMap(Op::kBind, 91, "TLS handshake failed", Errc::kDirTls);
}
END_TEST
START_TEST(ms_server_down_81_with_tls_text_is_tls) {
  ExpectMap(Op::kBind, 81, "X509 verify error", Errc::kDirTls);
}
END_TEST
START_TEST(server_down_is_unavailable) {
  ExpectMap(Op::kSearch, LDAP_SERVER_DOWN, "", Errc::kDirUnavailable);
}
END_TEST
START_TEST(connect_error_is_unavailable) {
  ExpectMap(Op::kBind, LDAP_CONNECT_ERROR, "", Errc::kDirUnavailable);
}
END_TEST
START_TEST(ms_server_down_81_is_unavailable) {
  ExpectMap(Op::kModify, 81, "", Errc::kDirUnavailable);
}
END_TEST
START_TEST(ms_connect_error_91_is_unavailable) {
  ExpectMap(Op::kBind, 91, "", Errc::kDirUnavailable);
}
END_TEST
START_TEST(busy_51_is_unavailable) { ExpectMap(Op::kSearch, LDAP_BUSY, "", Errc::kDirUnavailable); }
END_TEST
START_TEST(unavailable_52_is_unavailable) {
  ExpectMap(Op::kModify, LDAP_UNAVAILABLE, "", Errc::kDirUnavailable);
}
END_TEST
START_TEST(api_timeout_is_timeout) { ExpectMap(Op::kModify, LDAP_TIMEOUT, "", Errc::kTimeout); }
END_TEST
START_TEST(ms_timeout_85_is_timeout) { ExpectMap(Op::kSearch, 85, "", Errc::kTimeout); }
END_TEST
START_TEST(time_limit_exceeded_3_is_timeout) {
  ExpectMap(Op::kSearch, LDAP_TIMELIMIT_EXCEEDED, "", Errc::kTimeout);
}
END_TEST
START_TEST(stronger_auth_required_8_is_tls) {
  ExpectMap(Op::kBind, LDAP_STRONG_AUTH_REQUIRED, "00002028: LdapErr: DSID-0C090259",
            Errc::kDirTls);
}
END_TEST
START_TEST(confidentiality_required_13_is_tls) {
  ExpectMap(Op::kModify, LDAP_CONFIDENTIALITY_REQUIRED, "", Errc::kDirTls);
}
END_TEST
START_TEST(decoding_error_is_bad_reply) {
  ExpectMap(Op::kSearch, LDAP_DECODING_ERROR, "", Errc::kDirBadReply);
}
END_TEST

// ---- bind rows ------------------------------------------------------------------
START_TEST(bind_data_52e_is_wrong_password) {
  ExpectMap(Op::kBind, 49, kSambaBind52e, Errc::kDirWrongPassword);
  ExpectMap(Op::kBind, 49, kWinBind52e, Errc::kDirWrongPassword);
}
END_TEST
START_TEST(bind_data_525_is_no_such_user) {
  ExpectMap(Op::kBind, 49, BindDiag("525"), Errc::kDirNoSuchUser);
}
END_TEST
START_TEST(bind_data_775_is_locked) { ExpectMap(Op::kBind, 49, BindDiag("775"), Errc::kDirLocked); }
END_TEST
START_TEST(bind_data_773_is_must_change) {
  ExpectMap(Op::kBind, 49, BindDiag("773"), Errc::kDirMustChange);
}
END_TEST
START_TEST(bind_data_532_is_expired) { ExpectMap(Op::kBind, 49, BindDiag("532"), Errc::kDirExpired); }
END_TEST
START_TEST(bind_data_533_is_disabled) {
  ExpectMap(Op::kBind, 49, BindDiag("533"), Errc::kDirDisabled);
}
END_TEST
START_TEST(bind_data_701_is_account_expired) {
  ExpectMap(Op::kBind, 49, BindDiag("701"), Errc::kDirAccountExpired);
}
END_TEST
START_TEST(bind_data_530_logon_hours_is_rejected) {
  ExpectMap(Op::kBind, 49, BindDiag("530"), Errc::kDirRejected);
}
END_TEST
START_TEST(bind_data_531_workstation_is_rejected) {
  ExpectMap(Op::kBind, 49, BindDiag("531"), Errc::kDirRejected);
}
END_TEST
START_TEST(bind_data_52f_restriction_is_rejected) {
  ExpectMap(Op::kBind, 49, BindDiag("52f"), Errc::kDirRejected);
}
END_TEST
START_TEST(bind_data_568_logon_type_is_rejected) {
  ExpectMap(Op::kBind, 49, BindDiag("568"), Errc::kDirRejected);
}
END_TEST
START_TEST(bind_49_without_data_is_wrong_password) {
  ExpectMap(Op::kBind, 49, "", Errc::kDirWrongPassword);
  ExpectMap(Op::kBind, 49, "Invalid credentials", Errc::kDirWrongPassword);
  ExpectMap(Op::kBind, 49, BindDiag("999"), Errc::kDirWrongPassword);
}
END_TEST

// ---- write rows -------------------------------------------------------------------
START_TEST(modify_19_052d_is_policy) {
  ExpectMap(Op::kModify, 19,
            "0000052D: Constraint violation - check_password_restrictions: the password is too "
            "short. It should be equal or longer than 7 characters!",
            Errc::kDirPolicy);
}
END_TEST
START_TEST(change_19_052d_windows_is_policy) {
  ExpectMap(Op::kPasswordChange, 19,
            "0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005 "
            "(CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)\n",
            Errc::kDirPolicy);
}
END_TEST
START_TEST(change_19_0056_is_wrong_password) {
  ExpectMap(Op::kPasswordChange, 19,
            "00000056: Constraint violation - The old password specified doesn't match!",
            Errc::kDirWrongPassword);
}
END_TEST
START_TEST(modify_19_0775_is_locked) {
  ExpectMap(Op::kModify, 19, "00000775: Constraint violation", Errc::kDirLocked);
}
END_TEST
START_TEST(modify_19_other_is_rejected) {
  ExpectMap(Op::kModify, 19, "0000202F: something else", Errc::kDirRejected);
  ExpectMap(Op::kPasswordChange, 19, "", Errc::kDirRejected);
}
END_TEST

// ---- any-operation rows -------------------------------------------------------------
START_TEST(search_1_04dc_is_service_auth) {
  ExpectMap(Op::kSearch, LDAP_OPERATIONS_ERROR,
            "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a "
            "successful bind must be completed on the connection., data 0, v4563",
            Errc::kDirServiceAuth);
}
END_TEST
START_TEST(rc_50_is_access_denied) {
  ExpectMap(Op::kModify, 50,
            "00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0",
            Errc::kDirAccessDenied);
  ExpectMap(Op::kSearch, 50, "", Errc::kDirAccessDenied);
}
END_TEST
START_TEST(rc_53_is_rejected) {
  ExpectMap(Op::kModify, 53, "0000001F: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM)",
            Errc::kDirRejected);
  ExpectMap(Op::kBind, 53, "unauthenticated bind (DN with no password) disallowed",
            Errc::kDirRejected);
}
END_TEST
START_TEST(rc_32_is_no_such_user) {
  ExpectMap(Op::kModify, 32, "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)",
            Errc::kDirNoSuchUser);
  ExpectMap(Op::kSearch, 32, "", Errc::kDirNoSuchUser);
}
END_TEST
START_TEST(search_size_limit_4_is_ambiguous) {
  ExpectMap(Op::kSearch, LDAP_SIZELIMIT_EXCEEDED, "", Errc::kDirAmbiguous);
}
END_TEST
START_TEST(search_referral_10_is_bad_reply) {
  ExpectMap(Op::kSearch, LDAP_REFERRAL, "0000202B: RefErr", Errc::kDirBadReply);
}
END_TEST

// ---- fallbacks and invariants -----------------------------------------------------
START_TEST(bind_other_rc_falls_back_to_rejected) {
  ExpectMap(Op::kBind, LDAP_PROTOCOL_ERROR, "", Errc::kDirRejected);
}
END_TEST
START_TEST(write_other_rc_falls_back_to_rejected) {
  ExpectMap(Op::kModify, LDAP_UNAVAILABLE_CRITICAL_EXTENSION, "", Errc::kDirRejected);
  ExpectMap(Op::kPasswordChange, LDAP_OBJECT_CLASS_VIOLATION, "", Errc::kDirRejected);
}
END_TEST
START_TEST(search_other_rc_falls_back_to_bad_reply) {
  ExpectMap(Op::kSearch, LDAP_PROTOCOL_ERROR, "", Errc::kDirBadReply);
}
END_TEST
START_TEST(write_codes_do_not_apply_to_search) {
  ExpectMap(Op::kSearch, 19, "0000052D: x", Errc::kDirBadReply);
}
END_TEST
START_TEST(bind_data_does_not_apply_to_modify) {
  ExpectMap(Op::kModify, 49, BindDiag("775"), Errc::kDirRejected);
}
END_TEST
START_TEST(rc_zero_never_maps_to_success_code) {
  ExpectMap(Op::kBind, 0, "", Errc::kInternal);
}
END_TEST
START_TEST(every_rc_maps_to_a_failure) {
  for (int rc = -20; rc <= 130; ++rc) {
    if (rc == 0) continue;
    for (Op op : {Op::kBind, Op::kSearch, Op::kModify, Op::kPasswordChange}) {
      const Errc e = MapLdapResult(op, rc, "garbage");
      ck_assert(e != Errc::kInternal);
    }
  }
}
END_TEST

Suite* MakeSuite() {
  Suite* s = suite_create("ad_error_map");
  TCase* p = tcase_create("parsers");
  tcase_add_test(p, leading_code_parses_samba_policy);
  tcase_add_test(p, leading_code_parses_windows_atrerr);
  tcase_add_test(p, leading_code_accepts_lowercase_hex);
  tcase_add_test(p, leading_code_accepts_bare_code);
  tcase_add_test(p, leading_code_rejects_short_code);
  tcase_add_test(p, leading_code_rejects_garbage);
  tcase_add_test(p, leading_code_rejects_nine_digits);
  tcase_add_test(p, bind_data_parses_samba_and_windows);
  tcase_add_test(p, bind_data_accepts_uppercase_and_end);
  tcase_add_test(p, bind_data_absent_is_nullopt);
  tcase_add_test(p, bind_data_rejects_garbage_and_glued_words);
  tcase_add_test(p, bind_data_skips_bad_then_finds_good);
  suite_add_tcase(s, p);

  TCase* t = tcase_create("rows");
  tcase_add_test(t, connect_error_with_tls_text_is_tls);
  tcase_add_test(t, server_down_with_tls_text_is_tls);
  tcase_add_test(t, ms_connect_error_91_with_tls_text_is_tls);
  tcase_add_test(t, ms_server_down_81_with_tls_text_is_tls);
  tcase_add_test(t, server_down_is_unavailable);
  tcase_add_test(t, connect_error_is_unavailable);
  tcase_add_test(t, ms_server_down_81_is_unavailable);
  tcase_add_test(t, ms_connect_error_91_is_unavailable);
  tcase_add_test(t, busy_51_is_unavailable);
  tcase_add_test(t, unavailable_52_is_unavailable);
  tcase_add_test(t, api_timeout_is_timeout);
  tcase_add_test(t, ms_timeout_85_is_timeout);
  tcase_add_test(t, time_limit_exceeded_3_is_timeout);
  tcase_add_test(t, stronger_auth_required_8_is_tls);
  tcase_add_test(t, confidentiality_required_13_is_tls);
  tcase_add_test(t, decoding_error_is_bad_reply);
  tcase_add_test(t, bind_data_52e_is_wrong_password);
  tcase_add_test(t, bind_data_525_is_no_such_user);
  tcase_add_test(t, bind_data_775_is_locked);
  tcase_add_test(t, bind_data_773_is_must_change);
  tcase_add_test(t, bind_data_532_is_expired);
  tcase_add_test(t, bind_data_533_is_disabled);
  tcase_add_test(t, bind_data_701_is_account_expired);
  tcase_add_test(t, bind_data_530_logon_hours_is_rejected);
  tcase_add_test(t, bind_data_531_workstation_is_rejected);
  tcase_add_test(t, bind_data_52f_restriction_is_rejected);
  tcase_add_test(t, bind_data_568_logon_type_is_rejected);
  tcase_add_test(t, bind_49_without_data_is_wrong_password);
  tcase_add_test(t, modify_19_052d_is_policy);
  tcase_add_test(t, change_19_052d_windows_is_policy);
  tcase_add_test(t, change_19_0056_is_wrong_password);
  tcase_add_test(t, modify_19_0775_is_locked);
  tcase_add_test(t, modify_19_other_is_rejected);
  tcase_add_test(t, search_1_04dc_is_service_auth);
  tcase_add_test(t, rc_50_is_access_denied);
  tcase_add_test(t, rc_53_is_rejected);
  tcase_add_test(t, rc_32_is_no_such_user);
  tcase_add_test(t, search_size_limit_4_is_ambiguous);
  tcase_add_test(t, search_referral_10_is_bad_reply);
  tcase_add_test(t, bind_other_rc_falls_back_to_rejected);
  tcase_add_test(t, write_other_rc_falls_back_to_rejected);
  tcase_add_test(t, search_other_rc_falls_back_to_bad_reply);
  tcase_add_test(t, write_codes_do_not_apply_to_search);
  tcase_add_test(t, bind_data_does_not_apply_to_modify);
  tcase_add_test(t, rc_zero_never_maps_to_success_code);
  tcase_add_test(t, every_rc_maps_to_a_failure);
  suite_add_tcase(s, t);
  return s;
}
