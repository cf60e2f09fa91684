#include "sspr/util/error.h"

namespace sspr {

std::string_view ErrcName(Errc code) noexcept {
  switch (code) {
    case Errc::kInternal: return "internal";
    case Errc::kConfig: return "config";
    case Errc::kIo: return "io";
    case Errc::kTimeout: return "timeout";
    case Errc::kProtocol: return "protocol";
    case Errc::kPermission: return "permission";
    case Errc::kCancelled: return "cancelled";
    case Errc::kDirUnavailable: return "dir_unavailable";
    case Errc::kDirTls: return "dir_tls";
    case Errc::kDirServiceAuth: return "dir_service_auth";
    case Errc::kDirNoSuchUser: return "dir_no_such_user";
    case Errc::kDirAmbiguous: return "dir_ambiguous";
    case Errc::kDirAccessDenied: return "dir_access_denied";
    case Errc::kDirPolicy: return "dir_policy";
    case Errc::kDirPolicyTooShort: return "dir_policy_too_short";
    case Errc::kDirPolicyQuality: return "dir_policy_quality";
    case Errc::kDirPolicyHistory: return "dir_policy_history";
    case Errc::kDirPolicyTooYoung: return "dir_policy_too_young";
    case Errc::kDirWrongPassword: return "dir_wrong_password";
    case Errc::kDirLocked: return "dir_locked";
    case Errc::kDirDisabled: return "dir_disabled";
    case Errc::kDirExpired: return "dir_expired";
    case Errc::kDirMustChange: return "dir_must_change";
    case Errc::kDirAccountExpired: return "dir_account_expired";
    case Errc::kDirRejected: return "dir_rejected";
    case Errc::kDirWriteUnknown: return "dir_write_unknown";
    case Errc::kDirBadReply: return "dir_bad_reply";
    case Errc::kSendFailed: return "send_failed";
    case Errc::kNoDestination: return "no_destination";
    case Errc::kCodeWrong: return "code_wrong";
    case Errc::kCodeExpired: return "code_expired";
    case Errc::kTooManyTries: return "too_many_tries";
    case Errc::kFlowExpired: return "flow_expired";
    case Errc::kNotEligible: return "not_eligible";
    case Errc::kPasswordMismatch: return "password_mismatch";
  }
  return "unknown";
}

}  // namespace sspr
