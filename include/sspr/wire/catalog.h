// The message catalog: every text a user sees, by stable id. The helper
// sends ids and parameters; pam_sspr.so renders them here (through
// dgettext("sspr", …), so translations need no code). Parameters are
// substituted for %1..%4. Ids are part of the wire protocol: never reuse
// or renumber one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sspr::wire {

enum class MsgId : std::uint16_t {
  // Rendered by the module itself.
  kPasswordPrompt = 1,        // "Password (press Enter if you forgot it): "
  kModuleUnavailable = 2,     // helper down / protocol failure
  // Reset flow.
  kResetIntro = 10,
  kCodeSentEmail = 20,        // %1 masked address, %2 minutes valid
  kCodePrompt = 21,
  kCodeWrong = 22,            // %1 tries left
  kCodeExpired = 23,
  kTooManyTries = 24,
  kSendFailed = 25,
  kNewPasswordPrompt = 30,
  kConfirmPasswordPrompt = 31,
  kPasswordMismatch = 32,
  kPasswordEmpty = 33,
  kPolicyTooShort = 34,       // %1 minimum length
  kPolicyComplexity = 35,
  kPolicyHistory = 36,
  kPolicyOther = 37,
  kPasswordTooManyTries = 38,
  kPasswordWritten = 40,
  kPasswordNotWritten = 41,
  kPasswordUnknown = 42,
  kServiceUnavailable = 43,
  kFlowExpired = 44,
  kCancelled = 45,
  kHelpdesk = 46,             // %1 admin-configured help-desk text
  kNotVerified = 47,
  kPolicyHistoryCount = 48,   // %1 history length
  kPolicyBanned = 49,
  kAccountLockedUntil = 50,   // %1 time (UTC) it unlocks by itself
  kAccountLockedAdmin = 51,
  kUnlockChoicePrompt = 52,
  kUnlocked = 53,
  kCurrentPasswordPrompt = 54,
  kPolicySummaryComplex = 55, // %1 min length, %2 history length
  kPolicySummarySimple = 56,  // %1 min length, %2 history length
  kChangeIntro = 57,          // %1 account
  kPasswordExpiredIntro = 58, // %1 account
  kOldPasswordPrompt = 59,
  kWrongCurrentPassword = 60,
  kPolicyTooSoon = 61,        // %1 earliest time of the next change
  kChooseMethodIntro = 62,
  kOptionEmail = 63,          // %1 number, %2 masked address
  kOptionSms = 64,            // %1 number, %2 masked phone
  kOptionVoiceMobile = 65,    // %1 number, %2 masked phone
  kOptionVoiceOffice = 66,    // %1 number, %2 masked phone
  kChooseMethodPrompt = 67,   // %1 highest number
  kCodeSentSms = 68,          // %1 masked phone, %2 minutes
  kCodeCalling = 69,          // %1 masked phone, %2 minutes
  kSecondMethodNeeded = 70,
  kNotEnoughMethods = 71,     // %1 methods required
  kOptionTotp = 72,           // %1 number
  kOptionQuestions = 73,      // %1 number
  kTotpPrompt = 74,
  kQuestionPrompt = 75,       // %1 question text
  kAnswersWrong = 76,         // %1 tries left
  kEnrolIntro = 77,           // %1 account
  kEnrolDueSkippable = 78,    // %1 skips left
  kEnrolDue = 79,
  kEnrolChoicePrompt = 80,    // %1 highest number
  kEnrolOptionTotp = 81,      // %1 number
  kEnrolOptionQuestions = 82, // %1 number
  kEnrolOptionDone = 83,      // %1 number
  kQrLines = 84,              // %1 several lines of a QR code
  kTotpUri = 85,              // %1 otpauth URI
  kTotpConfirmPrompt = 86,
  kTotpConfirmed = 87,
  kTotpWrong = 88,
  kQuestionChoose = 89,       // %1 number, %2 question
  kQuestionChoicePrompt = 90, // %1 highest number
  kAnswerPrompt = 91,
  kAnswerConfirmPrompt = 92,
  kAnswerTooShort = 93,       // %1 minimum length
  kAnswerContainsQuestion = 94,
  kQuestionsSaved = 95,
  kEnrolPasswordWrong = 96,
  kEnrolNotAllowedHere = 97,
  kReconfirmIntro = 98,
  kReconfirmMethod = 99,      // %1 method line
  kReconfirmPrompt = 100,
  kReconfirmed = 101,
  kEnrolSkipped = 102,
  kEnrolNothingToAdd = 103,
  kEnrolUnavailable = 104,
  kEnrolSkipPrompt = 105,
  kAnswersDiffer = 106,
  kEnrolCodePrompt = 107,
  kEnrolCodeWrong = 108,
  kAdminLine = 109,           // %1 label, %2 value
  kAdminCodeIssued = 110,     // %1 code, %2 hours valid
  kAdminCleared = 111,        // %1 account
  kAdminUnblocked = 112,      // %1 account
  kAdminNoSuchUser = 113,     // %1 account
  kEnrolOptionReplaceTotp = 114,     // %1 number
  kEnrolOptionRemoveQuestions = 115, // %1 number
  kEnrolExistingNotVerified = 116,
  kEnrolOptionAddEmail = 117,   // %1 number
  kEnrolOptionAddMobile = 118,  // %1 number
  kContactEmailPrompt = 119,
  kContactMobilePrompt = 120,
  kContactInvalid = 121,
  kContactAdded = 122,          // %1 masked destination
};

// Render one message. Unknown ids render their parameters (or a generic
// line when there are none), so a newer helper never breaks an older module.
std::string Render(std::uint16_t msg, const std::vector<std::string>& params);

// The untranslated format string of an id, or nullptr if unknown.
const char* FormatOf(std::uint16_t msg);

}  // namespace sspr::wire
