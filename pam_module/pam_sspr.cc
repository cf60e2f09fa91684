// pam_sspr.so: the untrusted PAM shim of sspr.
//
// It holds no directory credential and links only the wire codec. In the
// auth phase it asks for the password itself; a typed password becomes
// PAM_AUTHTOK and the module returns PAM_IGNORE so the next module
// (use_first_pass) decides. An empty answer starts a reset that ssprd
// drives step by step; after a confirmed write the new password becomes
// PAM_AUTHTOK and the module again returns PAM_IGNORE: sspr never grants a
// login by itself.
//
// Inside login/sshd/gdm we touch no process-wide state: no openlog, no
// signal handlers, no threads; sockets are CLOEXEC and writes MSG_NOSIGNAL.

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "sspr/wire/catalog.h"
#include "sspr/wire/client.h"
#include "sspr/wire/codec.h"

#define SSPR_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using sspr::wire::AnswerMsg;
using sspr::wire::Buffer;
using sspr::wire::IoStatus;
using sspr::wire::Item;
using sspr::wire::MsgId;
using sspr::wire::MsgType;
using sspr::wire::Outcome;
using sspr::wire::Style;

constexpr const char* kDefaultSocket = "/run/sspr/ssprd.sock";

struct Args {
  std::string socket = kDefaultSocket;
  uid_t helper_uid = 0;  // the uid that must own the socket and serve it
  int timeout_ms = 60000;  // wait for one helper reply (the helper has its own deadlines)
  bool debug = false;
  bool use_first_pass = false;  // an existing PAM_AUTHTOK is left to the next module
};

// Parse module arguments; unknown ones are logged and ignored (an admin
// typo must not lock everyone out of login).
Args ParseArgs(pam_handle_t* pamh, int argc, const char** argv) {
  Args a;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg(argv[i]);
    if (arg.rfind("socket=", 0) == 0 && arg.size() > 7 && arg[7] == '/') {
      a.socket = std::string(arg.substr(7));
    } else if (arg.rfind("timeout=", 0) == 0) {
      char* end = nullptr;
      long v = std::strtol(argv[i] + 8, &end, 10);
      if (end != nullptr && *end == '\0' && v >= 1 && v <= 3600)
        a.timeout_ms = static_cast<int>(v * 1000);
      else
        pam_syslog(pamh, LOG_ERR, "bad argument %s (1..3600 seconds)", argv[i]);
    } else if (arg.rfind("helper_uid=", 0) == 0) {
      char* end = nullptr;
      long v = std::strtol(argv[i] + 11, &end, 10);
      if (end != nullptr && *end == '\0' && v >= 0 && v < 0x7fffffff)
        a.helper_uid = static_cast<uid_t>(v);
      else
        pam_syslog(pamh, LOG_ERR, "bad argument %s", argv[i]);
    } else if (arg == "debug") {
      a.debug = true;
    } else if (arg == "use_first_pass" || arg == "try_first_pass") {
      a.use_first_pass = true;
    } else {
      pam_syslog(pamh, LOG_ERR, "unknown argument %s (ignored)", argv[i]);
    }
  }
  return a;
}

// A conversation answer, wiped and freed however we leave.
struct Reply {
  std::string text;
  bool ok = false;
  ~Reply() { sspr::wire::Wipe(text); }
};

void FreeResponses(pam_response* resp, std::size_t n) {
  if (resp == nullptr) return;
  for (std::size_t i = 0; i < n; ++i) {
    if (resp[i].resp != nullptr) {
      explicit_bzero(resp[i].resp, std::strlen(resp[i].resp));
      std::free(resp[i].resp);
    }
  }
  std::free(resp);
}

// Show `items` in one conversation call; if the last is a prompt, return
// its answer in `reply`.
int Converse(pam_handle_t* pamh, const std::vector<Item>& items, Reply& reply) {
  const pam_conv* conv = nullptr;
  int rc = pam_get_item(pamh, PAM_CONV, reinterpret_cast<const void**>(&conv));
  if (rc != PAM_SUCCESS || conv == nullptr || conv->conv == nullptr) return PAM_CONV_ERR;
  if (items.empty()) return PAM_SUCCESS;

  std::vector<std::string> texts;
  std::vector<pam_message> msgs(items.size());
  std::vector<const pam_message*> ptrs(items.size());
  texts.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    texts.push_back(sspr::wire::Render(items[i].msg, items[i].params));
    switch (items[i].style) {
      case Style::kInfo: msgs[i].msg_style = PAM_TEXT_INFO; break;
      case Style::kError: msgs[i].msg_style = PAM_ERROR_MSG; break;
      case Style::kPromptEchoOff: msgs[i].msg_style = PAM_PROMPT_ECHO_OFF; break;
      case Style::kPromptEchoOn: msgs[i].msg_style = PAM_PROMPT_ECHO_ON; break;
    }
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    msgs[i].msg = texts[i].c_str();
    ptrs[i] = &msgs[i];
  }
  pam_response* resp = nullptr;
  rc = conv->conv(static_cast<int>(items.size()), ptrs.data(), &resp, conv->appdata_ptr);
  const Item& last = items.back();
  bool prompt = last.style == Style::kPromptEchoOff || last.style == Style::kPromptEchoOn;
  if (rc == PAM_SUCCESS && prompt) {
    if (resp != nullptr && resp[items.size() - 1].resp != nullptr) {
      reply.text = resp[items.size() - 1].resp;
      reply.ok = true;
    } else {
      rc = PAM_CONV_ERR;
    }
  }
  FreeResponses(resp, items.size());
  return rc;
}

int Say(pam_handle_t* pamh, Style style, MsgId id) {
  Reply unused;
  return Converse(pamh, {Item{style, 0, static_cast<std::uint16_t>(id), {}}}, unused);
}

std::string ItemString(pam_handle_t* pamh, int item) {
  const void* v = nullptr;
  if (pam_get_item(pamh, item, &v) != PAM_SUCCESS || v == nullptr) return {};
  std::string s(static_cast<const char*>(v));
  if (s.size() > sspr::wire::kMaxClaim) s.resize(sspr::wire::kMaxClaim);
  if (!sspr::wire::IsValidUtf8(s)) s.clear();
  return s;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

constexpr const char* kStashKey = "sspr_authtok";

// The password this login proved (typed, or set by a reset), kept for the
// account phase's registration check; wiped when the PAM handle ends.
void WipeStash(pam_handle_t*, void* data, int) {
  if (data == nullptr) return;
  auto* s = static_cast<char*>(data);
  explicit_bzero(s, std::strlen(s));
  std::free(s);
}

void Stash(pam_handle_t* pamh, const std::string& pw) {
  char* copy = strdup(pw.c_str());
  if (copy == nullptr) return;
  if (pam_set_data(pamh, kStashKey, copy, WipeStash) != PAM_SUCCESS) WipeStash(pamh, copy, 0);
}

const char* Stashed(pam_handle_t* pamh) {
  const void* data = nullptr;
  if (pam_get_data(pamh, kStashKey, &data) != PAM_SUCCESS) return nullptr;
  return static_cast<const char*>(data);
}

// Run one helper-driven dialogue through the PAM conversation. Returns
// PAM_SUCCESS only when the helper ended it with an outcome (in `res`); any
// I/O or protocol failure is a PAM error code and never success.
// `unreachable` tells the caller there was no helper at all.
int RunDialogue(pam_handle_t* pamh, const Args& args, const std::string& user,
                sspr::wire::Flow flow, std::uint8_t start_flags, sspr::wire::ClientResult& res,
                bool quiet_if_unreachable, bool* unreachable = nullptr) {
  std::string why;
  Fd conn;
  conn.fd = sspr::wire::ConnectToHelper(args.socket, args.helper_uid, &why);
  if (conn.fd < 0) {
    pam_syslog(pamh, LOG_ERR, "ssprd: %s", why.c_str());
    if (unreachable) *unreachable = true;
    if (!quiet_if_unreachable) Say(pamh, Style::kError, MsgId::kModuleUnavailable);
    return PAM_AUTHINFO_UNAVAIL;
  }
  sspr::wire::StartMsg start;
  start.flow = flow;
  start.flags = start_flags;
  start.account = user;
  start.service = ItemString(pamh, PAM_SERVICE);
  start.tty = ItemString(pamh, PAM_TTY);
  start.rhost = ItemString(pamh, PAM_RHOST);
  bool conv_failed = false;
  auto converse = [&](const std::vector<Item>& items, std::string& answer) {
    Reply reply;
    int rc = Converse(pamh, items, reply);
    if (rc != PAM_SUCCESS) {
      conv_failed = true;
      return false;
    }
    answer = reply.text;
    return true;
  };
  std::string stash;
  if (const char* s = Stashed(pamh)) stash = s;
  bool ok = sspr::wire::RunClientDialogue(conn.fd, start, args.timeout_ms, converse, &stash, res);
  sspr::wire::Wipe(stash);
  if (ok) return PAM_SUCCESS;
  if (conv_failed) return PAM_CONV_ERR;
  pam_syslog(pamh, LOG_ERR, "ssprd dialogue: %s", res.error.c_str());
  Say(pamh, Style::kError, MsgId::kModuleUnavailable);
  return PAM_AUTHINFO_UNAVAIL;
}

// PAM_USER, as the wire carries it: non-empty UTF-8 within its cap.
int GetAccount(pam_handle_t* pamh, std::string& account) {
  const char* user = nullptr;
  int rc = pam_get_user(pamh, &user, nullptr);
  if (rc != PAM_SUCCESS || user == nullptr || *user == '\0') return PAM_USER_UNKNOWN;
  account = user;
  if (account.size() > sspr::wire::kMaxAccount || !sspr::wire::IsValidUtf8(account))
    return PAM_USER_UNKNOWN;
  return PAM_SUCCESS;
}

int Authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  (void)flags;
  Args args = ParseArgs(pamh, argc, argv);
  std::string account;
  int rc = GetAccount(pamh, account);
  if (rc != PAM_SUCCESS) return rc;
  const char* user = account.c_str();

  if (args.use_first_pass) {
    const void* tok = nullptr;
    if (pam_get_item(pamh, PAM_AUTHTOK, &tok) == PAM_SUCCESS && tok != nullptr &&
        *static_cast<const char*>(tok) != '\0')
      return PAM_IGNORE;  // an earlier module already asked
  }

  Reply pw;
  rc = Converse(pamh,
                {Item{Style::kPromptEchoOff, 0,
                      static_cast<std::uint16_t>(MsgId::kPasswordPrompt), {}}},
                pw);
  if (rc != PAM_SUCCESS) return rc == PAM_CONV_AGAIN ? PAM_INCOMPLETE : PAM_CONV_ERR;
  if (!pw.text.empty()) {
    rc = pam_set_item(pamh, PAM_AUTHTOK, pw.text.c_str());
    if (rc == PAM_SUCCESS) Stash(pamh, pw.text);
    return rc == PAM_SUCCESS ? PAM_IGNORE : rc;
  }

  if (args.debug) pam_syslog(pamh, LOG_DEBUG, "empty password: starting reset for %s", user);
  sspr::wire::ClientResult res;
  rc = RunDialogue(pamh, args, account, sspr::wire::Flow::kReset, 0, res, false);
  if (rc != PAM_SUCCESS) return rc;
  switch (res.outcome) {
    case Outcome::kPasswordWritten:
    case Outcome::kUnlocked:
      // The next module proves this password against the directory.
      if (res.new_authtok.empty()) return PAM_AUTH_ERR;
      rc = pam_set_item(pamh, PAM_AUTHTOK, res.new_authtok.c_str());
      if (rc == PAM_SUCCESS) Stash(pamh, res.new_authtok);
      return rc == PAM_SUCCESS ? PAM_IGNORE : rc;
    case Outcome::kUnknown:
    case Outcome::kUnavailable:
      return PAM_AUTHINFO_UNAVAIL;
    case Outcome::kNotWritten:
    case Outcome::kCancelled:
    case Outcome::kDone:
    case Outcome::kNotApplicable:
      return PAM_AUTH_ERR;
  }
  return PAM_AUTH_ERR;
}

// passwd / expired password: the helper runs a user change (or, if the user
// forgot the current password, verification + reset). Not a directory
// account, or no helper at all: PAM_IGNORE, so pam_unix & co decide.
int ChangeAuthtok(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  Args args = ParseArgs(pamh, argc, argv);
  if (flags & PAM_PRELIM_CHECK) return PAM_IGNORE;  // nothing to check before the update pass
  if (!(flags & PAM_UPDATE_AUTHTOK)) return PAM_IGNORE;
  std::string account;
  int rc = GetAccount(pamh, account);
  if (rc != PAM_SUCCESS) return rc;
  const char* user = account.c_str();
  std::uint8_t start_flags =
      (flags & PAM_CHANGE_EXPIRED_AUTHTOK) ? sspr::wire::kStartFlagExpired : 0;
  sspr::wire::ClientResult res;
  bool unreachable = false;
  rc = RunDialogue(pamh, args, account, sspr::wire::Flow::kChange, start_flags, res, true, &unreachable);
  if (rc != PAM_SUCCESS) {
    if (unreachable) {
      pam_syslog(pamh, LOG_WARNING, "ssprd unreachable: leaving %s's password to other modules", user);
      return PAM_IGNORE;
    }
    return PAM_AUTHTOK_ERR;
  }
  switch (res.outcome) {
    case Outcome::kNotApplicable:
      return PAM_IGNORE;
    case Outcome::kPasswordWritten:
      if (res.new_authtok.empty()) return PAM_AUTHTOK_ERR;
      // Hand the new (and the real current) password on, so modules after
      // us (pam_sss/pam_krb5 with use_authtok) can refresh their caches.
      if (!res.old_authtok.empty()) pam_set_item(pamh, PAM_OLDAUTHTOK, res.old_authtok.c_str());
      rc = pam_set_item(pamh, PAM_AUTHTOK, res.new_authtok.c_str());
      return rc == PAM_SUCCESS ? PAM_SUCCESS : rc;
    case Outcome::kUnlocked:
    case Outcome::kUnknown:
    case Outcome::kUnavailable:
    case Outcome::kNotWritten:
    case Outcome::kCancelled:
    case Outcome::kDone:
      return PAM_AUTHTOK_ERR;
  }
  return PAM_AUTHTOK_ERR;
}

// Account phase: registration of verification methods when it is due
// ("require users to register when signing in", reconfirmation). The helper
// decides; nothing happens when nothing is due. A helper that cannot be
// reached, a local account or a skipped registration never blocks a login;
// only a registration the policy requires and the user refused does.
int AccountManagement(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  (void)flags;
  Args args = ParseArgs(pamh, argc, argv);
  std::string account;
  int rc = GetAccount(pamh, account);
  if (rc != PAM_SUCCESS) return rc;
  sspr::wire::ClientResult res;
  bool unreachable = false;
  rc = RunDialogue(pamh, args, account, sspr::wire::Flow::kEnrol, sspr::wire::kStartFlagAtLogin,
                   res, true, &unreachable);
  if (rc != PAM_SUCCESS) return unreachable ? PAM_IGNORE : (rc == PAM_CONV_ERR ? PAM_CONV_ERR : PAM_IGNORE);
  switch (res.outcome) {
    case Outcome::kNotWritten:
      return PAM_PERM_DENIED;  // registration required, refused
    case Outcome::kDone:
    case Outcome::kNotApplicable:
    case Outcome::kCancelled:
    case Outcome::kPasswordWritten:
    case Outcome::kUnlocked:
    case Outcome::kUnknown:
    case Outcome::kUnavailable:
      return PAM_IGNORE;
  }
  return PAM_IGNORE;
}

}  // namespace

// Each entry point is one guarded call: no exception crosses the C ABI and
// no failure defaults to PAM_SUCCESS.
SSPR_EXPORT int pam_sm_authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  try {
    return Authenticate(pamh, flags, argc, argv);
  } catch (...) {
    pam_syslog(pamh, LOG_CRIT, "internal error in pam_sm_authenticate");
    return PAM_SYSTEM_ERR;
  }
}

SSPR_EXPORT int pam_sm_setcred(pam_handle_t*, int, int, const char**) { return PAM_IGNORE; }

SSPR_EXPORT int pam_sm_acct_mgmt(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  try {
    return AccountManagement(pamh, flags, argc, argv);
  } catch (...) {
    pam_syslog(pamh, LOG_CRIT, "internal error in pam_sm_acct_mgmt");
    return PAM_SYSTEM_ERR;
  }
}

SSPR_EXPORT int pam_sm_chauthtok(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  try {
    return ChangeAuthtok(pamh, flags, argc, argv);
  } catch (...) {
    pam_syslog(pamh, LOG_CRIT, "internal error in pam_sm_chauthtok");
    return PAM_SYSTEM_ERR;
  }
}

SSPR_EXPORT int pam_sm_open_session(pam_handle_t*, int, int, const char**) { return PAM_IGNORE; }

SSPR_EXPORT int pam_sm_close_session(pam_handle_t*, int, int, const char**) { return PAM_IGNORE; }
