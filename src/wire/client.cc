#include "sspr/wire/client.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sspr::wire {

int ConnectToHelper(const std::string& path, unsigned helper_uid, std::string* error) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (error) *error = path + ": " + std::strerror(errno);
    return -1;
  }
  if (!S_ISSOCK(st.st_mode) || st.st_uid != helper_uid) {
    if (error) *error = path + " is not a socket owned by uid " + std::to_string(helper_uid) + "; refusing";
    return -1;
  }
  sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    if (error) *error = path + ": path too long";
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    if (error) *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (error) *error = "connect " + path + ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  ucred cred {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != helper_uid) {
    if (error) *error = "the process serving " + path + " does not run as uid " + std::to_string(helper_uid) + "; refusing";
    close(fd);
    return -1;
  }
  return fd;
}

bool RunClientDialogue(int fd, const StartMsg& start, int timeout_ms, const ConverseFn& converse,
                       const std::string* stashed_authtok, ClientResult& res) {
  if (SendFrame(fd, Encode(start), NowMs() + timeout_ms) != IoStatus::kOk) {
    res.error = "could not send the request";
    return false;
  }
  for (int steps = 0; steps < 256; ++steps) {
    Buffer payload;
    IoStatus io = RecvFrame(fd, payload, NowMs() + timeout_ms);
    MsgType type{};
    if (io != IoStatus::kOk || !PeekType(payload.bytes(), type)) {
      res.error = std::string("helper reply: ") + (io == IoStatus::kOk ? "bad header" : IoStatusName(io));
      return false;
    }
    const char* err = nullptr;
    if (type == MsgType::kResult) {
      ResultMsg result;
      if (!Decode(payload.bytes(), result, &err)) {
        res.error = std::string("malformed result: ") + (err ? err : "?");
        return false;
      }
      std::string unused;
      if (!result.items.empty()) converse(result.items, unused);
      Wipe(unused);
      res.have_outcome = true;
      res.outcome = result.outcome;
      return true;
    }
    StepMsg step;
    if (type != MsgType::kStep || !Decode(payload.bytes(), step, &err)) {
      res.error = std::string("malformed step: ") + (err ? err : "unexpected message type");
      return false;
    }
    const Item& last = step.items.back();
    const bool prompt = last.style == Style::kPromptEchoOff || last.style == Style::kPromptEchoOn;
    AnswerMsg answer;
    std::string reply;
    bool ok = true;
    if (prompt && (last.flags & kItemUseAuthtok) && stashed_authtok && !stashed_authtok->empty()) {
      // The password this login just proved: answer without asking again,
      // but still show what came before the prompt.
      std::vector<Item> shown(step.items.begin(), step.items.end() - 1);
      std::string unused;
      if (!shown.empty()) ok = converse(shown, unused);
      Wipe(unused);
      reply = *stashed_authtok;
    } else {
      ok = converse(step.items, reply);
    }
    if (!ok) {
      answer.flags = kAnswerCancelled;
    } else if (!prompt) {
      answer.flags = kAnswerNone;
    } else if (reply.size() > kMaxAnswer || !IsValidUtf8(reply)) {
      // Too long or not UTF-8: an empty answer, which the helper treats as
      // a cancel at code prompts and a refusal at password prompts.
      answer.answer.clear();
    } else {
      answer.answer = reply;
      if (last.flags & kItemNewAuthtok) {
        Wipe(res.new_authtok);
        res.new_authtok = reply;
      }
      if (last.flags & kItemOldAuthtok) {
        Wipe(res.old_authtok);
        res.old_authtok = reply;
      }
    }
    Wipe(reply);
    if (SendFrame(fd, Encode(answer), NowMs() + timeout_ms) != IoStatus::kOk) {
      res.error = "could not send an answer";
      return false;
    }
    if (!ok) {
      res.error = "conversation failed";
      return false;
    }
  }
  res.error = "too many steps";
  return false;
}

}  // namespace sspr::wire
