#include "sspr/wire/catalog.h"

#include <libintl.h>

namespace sspr::wire {

namespace {

struct Entry {
  MsgId id;
  const char* text;
};

// One table, English source strings. The module marks the domain "sspr".
constexpr Entry kCatalog[] = {
    {MsgId::kPasswordPrompt, "Password (press Enter if you forgot it): "},
    {MsgId::kModuleUnavailable,
     "Password reset is not available right now. Contact your help desk."},
    {MsgId::kResetIntro,
     "Can't access your account? Let's verify it's you, then you can choose a new password."},
    {MsgId::kCodeSentEmail,
     "We sent a verification code to %1. It is valid for %2 minutes."},
    {MsgId::kCodePrompt, "Verification code (Enter to cancel): "},
    {MsgId::kCodeWrong, "That code is not correct. Tries left: %1."},
    {MsgId::kCodeExpired, "That code has expired. Start again to get a new one."},
    {MsgId::kTooManyTries, "Too many wrong codes. Your password was not changed."},
    {MsgId::kSendFailed,
     "We could not send a verification code right now. Try again later."},
    {MsgId::kNewPasswordPrompt, "New password: "},
    {MsgId::kConfirmPasswordPrompt, "Retype new password: "},
    {MsgId::kPasswordMismatch, "The passwords do not match. Try again."},
    {MsgId::kPasswordEmpty, "The new password cannot be empty. Try again."},
    {MsgId::kPolicyTooShort,
     "That password is too short: it must have at least %1 characters. Choose another."},
    {MsgId::kPolicyComplexity,
     "That password is not complex enough: use at least three of upper-case letters, "
     "lower-case letters, digits and symbols, and not your account or display name. "
     "Choose another."},
    {MsgId::kPolicyHistory,
     "That password was used recently or does not meet the password policy. "
     "Choose one you have not used before."},
    {MsgId::kPolicyOther,
     "The directory refused that password under its password policy. Choose another."},
    {MsgId::kPasswordTooManyTries, "Too many refused passwords."},
    {MsgId::kPasswordWritten, "Your new password has been saved. Use it from now on."},
    {MsgId::kPasswordNotWritten, "Your password was NOT changed."},
    {MsgId::kPasswordUnknown,
     "We could not confirm whether your new password was saved. Try the new password "
     "first; if it does not work, use your old one or contact your help desk."},
    {MsgId::kServiceUnavailable,
     "Password reset is not available right now. Your password was not changed."},
    {MsgId::kFlowExpired, "The reset took too long and was stopped. Start again."},
    {MsgId::kCancelled, "Password reset cancelled. Your password was not changed."},
    {MsgId::kHelpdesk, "%1"},
    {MsgId::kNotVerified, "We could not verify your identity. Your password was not changed."},
    {MsgId::kPolicyHistoryCount,
     "That password was used recently: choose one different from your last %1 passwords."},
    {MsgId::kPolicyBanned,
     "That password is too common or too easy to guess. Choose another."},
    {MsgId::kAccountLockedUntil,
     "Your account is locked after too many wrong passwords. It unlocks by itself at %1."},
    {MsgId::kAccountLockedAdmin,
     "Your account is locked after too many wrong passwords."},
    {MsgId::kUnlockChoicePrompt,
     "Type 1 to unlock your account and keep your password, or 2 to choose a new password: "},
    {MsgId::kUnlocked, "Your account is unlocked. Sign in with your password."},
    {MsgId::kCurrentPasswordPrompt, "Password: "},
    {MsgId::kPolicySummaryComplex,
     "Your new password needs at least %1 characters, three of upper-case letters, lower-case "
     "letters, digits and symbols, not your name, and must differ from your last %2 passwords."},
    {MsgId::kChangeIntro, "Changing the directory password of %1."},
    {MsgId::kPasswordExpiredIntro,
     "The password of %1 has expired or must be changed now. Choose a new one."},
    {MsgId::kOldPasswordPrompt, "Current password (press Enter if you forgot it): "},
    {MsgId::kWrongCurrentPassword,
     "The current password is not correct. Your password was not changed."},
    {MsgId::kPolicyTooSoon,
     "Your password was changed too recently to change it again (earliest: %1). "
     "Your password was not changed."},
    {MsgId::kChooseMethodIntro, "How would you like to get a verification code?"},
    {MsgId::kOptionEmail, "  %1) by email to %2"},
    {MsgId::kOptionSms, "  %1) by text message to %2"},
    {MsgId::kOptionVoiceMobile, "  %1) by a phone call to your mobile %2"},
    {MsgId::kOptionVoiceOffice, "  %1) by a phone call to your office phone %2"},
    {MsgId::kChooseMethodPrompt, "Choose 1-%1 (Enter to cancel): "},
    {MsgId::kCodeSentSms, "We sent a text message with a verification code to %1. It is valid for %2 minutes."},
    {MsgId::kCodeCalling, "We are calling %1 to read you a verification code. It is valid for %2 minutes."},
    {MsgId::kSecondMethodNeeded, "This account needs a second, different verification method."},
    {MsgId::kNotEnoughMethods,
     "This account needs %1 different verification methods, but has fewer registered. "
     "Your password was not changed."},
    {MsgId::kOptionTotp, "  %1) with a code from your authenticator app"},
    {MsgId::kOptionQuestions, "  %1) by answering your security questions"},
    {MsgId::kTotpPrompt, "Code from your authenticator app (Enter to cancel): "},
    {MsgId::kQuestionPrompt, "%1 "},
    {MsgId::kAnswersWrong, "Those answers are not correct. Tries left: %1."},
    {MsgId::kEnrolIntro, "Verification methods for password reset of %1."},
    {MsgId::kEnrolDueSkippable,
     "Please register a way to verify yourself, so you can reset your password when you forget "
     "it. You may skip this %1 more time(s)."},
    {MsgId::kEnrolDue,
     "Please register a way to verify yourself, so you can reset your password when you forget it."},
    {MsgId::kEnrolChoicePrompt, "Choose 1-%1: "},
    {MsgId::kEnrolOptionTotp, "  %1) set up an authenticator app"},
    {MsgId::kEnrolOptionQuestions, "  %1) choose and answer security questions"},
    {MsgId::kEnrolOptionDone, "  %1) done"},
    {MsgId::kQrLines, "%1"},
    {MsgId::kTotpUri, "Scan the code above with your authenticator app, or enter this: %1"},
    {MsgId::kTotpConfirmPrompt, "Code shown by the app: "},
    {MsgId::kTotpConfirmed, "Your authenticator app is registered."},
    {MsgId::kTotpWrong, "That code does not match. Check the app's clock and try again."},
    {MsgId::kQuestionChoose, "  %1) %2"},
    {MsgId::kQuestionChoicePrompt, "Choose a question, 1-%1: "},
    {MsgId::kAnswerPrompt, "Answer: "},
    {MsgId::kAnswerConfirmPrompt, "Answer again: "},
    {MsgId::kAnswerTooShort, "That answer is too short: use at least %1 characters."},
    {MsgId::kAnswerContainsQuestion, "An answer may not contain its question. Choose another answer."},
    {MsgId::kQuestionsSaved, "Your security questions are registered."},
    {MsgId::kEnrolPasswordWrong, "That password is not correct. Nothing was registered."},
    {MsgId::kEnrolNotAllowedHere,
     "A first registration is not allowed from here. Sign in at a terminal or ask your help desk."},
    {MsgId::kReconfirmIntro, "Please confirm that your verification methods are still yours:"},
    {MsgId::kReconfirmMethod, "  %1"},
    {MsgId::kReconfirmPrompt, "Are these still correct? (yes/no): "},
    {MsgId::kReconfirmed, "Thank you, your methods are confirmed."},
    {MsgId::kEnrolSkipped, "Registration skipped."},
    {MsgId::kEnrolNothingToAdd, "There is nothing more to register."},
    {MsgId::kEnrolUnavailable, "Registration is not available right now."},
    {MsgId::kEnrolSkipPrompt, "Register now? (yes/skip): "},
    {MsgId::kAnswersDiffer, "The two answers differ. Try again."},
    {MsgId::kEnrolCodePrompt, "Enrolment code from your help desk: "},
    {MsgId::kEnrolCodeWrong, "That enrolment code is not valid. Nothing was registered."},
    {MsgId::kAdminLine, "%1: %2"},
    {MsgId::kAdminCodeIssued,
     "One-time enrolment code: %1 (valid for %2 hours; give it to the user by a trusted channel)"},
    {MsgId::kAdminCleared, "The registration of %1 was cleared and the user was notified."},
    {MsgId::kAdminUnblocked, "Password reset is no longer blocked for %1."},
    {MsgId::kAdminNoSuchUser, "No directory account %1."},
    {MsgId::kEnrolOptionReplaceTotp, "  %1) replace your authenticator app (needs its current code)"},
    {MsgId::kEnrolOptionRemoveQuestions, "  %1) remove your security questions (needs their answers)"},
    {MsgId::kEnrolOptionAddEmail, "  %1) add an alternate email address"},
    {MsgId::kEnrolOptionAddMobile, "  %1) add a mobile number for text messages"},
    {MsgId::kContactEmailPrompt, "Alternate email address: "},
    {MsgId::kContactMobilePrompt, "Mobile number (with country code, e.g. +44 7700 900123): "},
    {MsgId::kContactInvalid, "That does not look right. Nothing was added."},
    {MsgId::kContactAdded, "%1 is registered for password reset."},
    {MsgId::kEnrolExistingNotVerified,
     "That could not be verified with a method you already have. Nothing was changed; if you "
     "lost it, ask your help desk to clear your registration."},
    {MsgId::kPolicySummarySimple,
     "Your new password needs at least %1 characters and must differ from your last %2 passwords."},
};

}  // namespace

const char* FormatOf(std::uint16_t msg) {
  for (const auto& e : kCatalog)
    if (static_cast<std::uint16_t>(e.id) == msg) return e.text;
  return nullptr;
}

std::string Render(std::uint16_t msg, const std::vector<std::string>& params) {
  const char* fmt = FormatOf(msg);
  if (fmt == nullptr) {
    std::string out;
    for (const auto& p : params) {
      if (!out.empty()) out += ' ';
      out += p;
    }
    return out.empty() ? std::string(dgettext("sspr", "Password reset message.")) : out;
  }
  fmt = dgettext("sspr", fmt);
  std::string out;
  for (const char* p = fmt; *p != '\0'; ++p) {
    if (p[0] == '%' && p[1] >= '1' && p[1] <= '4') {
      std::size_t i = static_cast<std::size_t>(p[1] - '1');
      if (i < params.size()) out += params[i];
      ++p;
    } else {
      out += *p;
    }
  }
  return out;
}

}  // namespace sspr::wire
