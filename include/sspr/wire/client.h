// The client side of a helper dialogue, shared by pam_sspr.so and the
// sspr-enroll CLI: connect (checking the socket's owner and the serving
// process's uid), send kStart, then relay each kStep through a caller's
// `converse` function until kResult. Depends only on libc/libstdc++.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sspr/wire/codec.h"

namespace sspr::wire {

// Connect to the helper's socket at `path`. The socket must be a socket
// owned by `helper_uid`, and the process serving it must run as that uid
// (SO_PEERCRED; SSSD's check_server_cred). Returns an fd (CLOEXEC,
// non-blocking) or -1 with `error` set.
int ConnectToHelper(const std::string& path, unsigned helper_uid, std::string* error);

// What a dialogue left behind. Kept answers are wiped on destruction.
struct ClientResult {
  std::string new_authtok;  // last kItemNewAuthtok answer
  std::string old_authtok;  // last kItemOldAuthtok answer
  bool have_outcome = false;
  Outcome outcome = Outcome::kNotWritten;
  std::string error;        // why there is no outcome
  ClientResult() = default;
  ClientResult(const ClientResult&) = delete;
  ClientResult& operator=(const ClientResult&) = delete;
  ~ClientResult() {
    Wipe(new_authtok);
    Wipe(old_authtok);
  }
};

// Show `items` (a prompt, if any, is last) and, for a prompt, put the
// user's answer in `answer`. Return false if the conversation failed.
using ConverseFn = std::function<bool(const std::vector<Item>& items, std::string& answer)>;

// Run the dialogue on a connected fd. `stashed_authtok` (may be null)
// answers kItemUseAuthtok prompts without asking. Returns true when the
// helper ended the dialogue with an outcome (in `res`); false on any I/O or
// protocol failure, or when the conversation failed (res.error says which).
bool RunClientDialogue(int fd, const StartMsg& start, int timeout_ms, const ConverseFn& converse,
                       const std::string* stashed_authtok, ClientResult& res);

}  // namespace sspr::wire
