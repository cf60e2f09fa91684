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

// Connect to ssprd after checking that the socket belongs to the helper's
// uid, then check the serving process's uid (SO_PEERCRED): a socket planted
// by someone else is never spoken to (SSSD's check_server_cred).
int ConnectHelper(pam_handle_t* pamh, const Args& args) {
  struct stat st {};
  if (lstat(args.socket.c_str(), &st) != 0) {
    pam_syslog(pamh, LOG_ERR, "helper socket %s: %s", args.socket.c_str(), std::strerror(errno));
    return -1;
  }
  if (!S_ISSOCK(st.st_mode) || st.st_uid != args.helper_uid) {
    pam_syslog(pamh, LOG_ERR, "helper socket %s is not a socket owned by uid %u; refusing",
               args.socket.c_str(), static_cast<unsigned>(args.helper_uid));
    return -1;
  }
  sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (args.socket.size() >= sizeof addr.sun_path) return -1;
  std::memcpy(addr.sun_path, args.socket.c_str(), args.socket.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    pam_syslog(pamh, LOG_ERR, "connect %s: %s", args.socket.c_str(), std::strerror(errno));
    close(fd);
    return -1;
  }
  ucred cred {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != args.helper_uid) {
    pam_syslog(pamh, LOG_ERR, "helper on %s is not served by uid %u; refusing",
               args.socket.c_str(), static_cast<unsigned>(args.helper_uid));
    close(fd);
    return -1;
  }
  return fd;
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

// What a dialogue left behind: the kept answers (wiped on destruction) and
// the helper's outcome, if it sent one.
struct DialogueResult {
  std::string new_authtok;  // last kItemNewAuthtok answer
  std::string old_authtok;  // last kItemOldAuthtok answer
  bool have_outcome = false;
  Outcome outcome = Outcome::kNotWritten;
  bool unreachable = false;  // no helper to talk to at all
  ~DialogueResult() {
    sspr::wire::Wipe(new_authtok);
    sspr::wire::Wipe(old_authtok);
  }
};

// Run one helper-driven dialogue. Returns PAM_SUCCESS only when the helper
// ended it with an outcome (in `res`); any I/O or protocol failure is a PAM
// error code and never success.
int RunDialogue(pam_handle_t* pamh, const Args& args, const std::string& user,
                sspr::wire::Flow flow, std::uint8_t start_flags, DialogueResult& res,
                bool quiet_if_unreachable) {
  std::string& new_authtok = res.new_authtok;
  Fd conn;
  conn.fd = ConnectHelper(pamh, args);
  if (conn.fd < 0) {
    res.unreachable = true;
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
  if (SendFrame(conn.fd, Encode(start), sspr::wire::NowMs() + args.timeout_ms) != IoStatus::kOk) {
    Say(pamh, Style::kError, MsgId::kModuleUnavailable);
    return PAM_AUTHINFO_UNAVAIL;
  }
  for (int steps = 0; steps < 256; ++steps) {
    Buffer payload;
    IoStatus io = RecvFrame(conn.fd, payload, sspr::wire::NowMs() + args.timeout_ms);
    MsgType type{};
    if (io != IoStatus::kOk || !PeekType(payload.bytes(), type)) {
      pam_syslog(pamh, LOG_ERR, "helper reply: %s", sspr::wire::IoStatusName(io));
      Say(pamh, Style::kError, MsgId::kModuleUnavailable);
      return PAM_AUTHINFO_UNAVAIL;
    }
    const char* err = nullptr;
    if (type == MsgType::kResult) {
      sspr::wire::ResultMsg result;
      if (!Decode(payload.bytes(), result, &err)) break;
      Reply unused;
      Converse(pamh, result.items, unused);
      res.have_outcome = true;
      res.outcome = result.outcome;
      return PAM_SUCCESS;
    }
    sspr::wire::StepMsg step;
    if (type != MsgType::kStep || !Decode(payload.bytes(), step, &err)) {
      pam_syslog(pamh, LOG_ERR, "malformed helper reply: %s", err ? err : "unexpected type");
      break;
    }
    Reply reply;
    int rc = Converse(pamh, step.items, reply);
    AnswerMsg answer;
    const Item& last = step.items.back();
    bool prompt = last.style == Style::kPromptEchoOff || last.style == Style::kPromptEchoOn;
    if (rc != PAM_SUCCESS) {
      answer.flags = sspr::wire::kAnswerCancelled;
    } else if (!prompt) {
      answer.flags = sspr::wire::kAnswerNone;
    } else if (reply.text.size() > sspr::wire::kMaxAnswer ||
               !sspr::wire::IsValidUtf8(reply.text)) {
      // Too long or not UTF-8: send an empty answer; the helper treats it as
      // a cancel at code prompts and a refusal at password prompts.
      answer.answer.clear();
    } else {
      answer.answer = reply.text;
      if (last.flags & sspr::wire::kItemNewAuthtok) {
        sspr::wire::Wipe(new_authtok);
        new_authtok = reply.text;
      }
      if (last.flags & sspr::wire::kItemOldAuthtok) {
        sspr::wire::Wipe(res.old_authtok);
        res.old_authtok = reply.text;
      }
    }
    if (SendFrame(conn.fd, Encode(answer), sspr::wire::NowMs() + args.timeout_ms) !=
        IoStatus::kOk) {
      Say(pamh, Style::kError, MsgId::kModuleUnavailable);
      return PAM_AUTHINFO_UNAVAIL;
    }
    if (rc != PAM_SUCCESS) return PAM_CONV_ERR;
  }
  Say(pamh, Style::kError, MsgId::kModuleUnavailable);
  return PAM_AUTHINFO_UNAVAIL;
}

int Authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  (void)flags;
  Args args = ParseArgs(pamh, argc, argv);
  const char* user = nullptr;
  int rc = pam_get_user(pamh, &user, nullptr);
  if (rc != PAM_SUCCESS || user == nullptr || *user == '\0') return PAM_USER_UNKNOWN;
  std::string account(user);
  if (account.size() > sspr::wire::kMaxAccount || !sspr::wire::IsValidUtf8(account))
    return PAM_USER_UNKNOWN;

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
    return rc == PAM_SUCCESS ? PAM_IGNORE : rc;
  }

  if (args.debug) pam_syslog(pamh, LOG_DEBUG, "empty password: starting reset for %s", user);
  DialogueResult res;
  rc = RunDialogue(pamh, args, account, sspr::wire::Flow::kReset, 0, res, false);
  if (rc != PAM_SUCCESS) return rc;
  switch (res.outcome) {
    case Outcome::kPasswordWritten:
    case Outcome::kUnlocked:
      // The next module proves this password against the directory.
      if (res.new_authtok.empty()) return PAM_AUTH_ERR;
      rc = pam_set_item(pamh, PAM_AUTHTOK, res.new_authtok.c_str());
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
  const char* user = nullptr;
  int rc = pam_get_user(pamh, &user, nullptr);
  if (rc != PAM_SUCCESS || user == nullptr || *user == '\0') return PAM_USER_UNKNOWN;
  std::string account(user);
  if (account.size() > sspr::wire::kMaxAccount || !sspr::wire::IsValidUtf8(account))
    return PAM_USER_UNKNOWN;
  std::uint8_t start_flags =
      (flags & PAM_CHANGE_EXPIRED_AUTHTOK) ? sspr::wire::kStartFlagExpired : 0;
  DialogueResult res;
  rc = RunDialogue(pamh, args, account, sspr::wire::Flow::kChange, start_flags, res, true);
  if (rc != PAM_SUCCESS) {
    if (res.unreachable) {
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

SSPR_EXPORT int pam_sm_acct_mgmt(pam_handle_t*, int, int, const char**) { return PAM_IGNORE; }

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
