// The helper side of a conversation with the PAM module. Flows are written
// as straight-line code against this interface; the server implements it
// over the socket (one thread per connection), tests can implement it in
// memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sspr/util/result.h"
#include "sspr/util/secret.h"
#include "sspr/wire/catalog.h"
#include "sspr/wire/codec.h"

namespace sspr::flow {

class Dialogue {
 public:
  virtual ~Dialogue() = default;
  // Queue an info or error line; it is sent with the next prompt or result.
  void Say(wire::MsgId id, std::vector<std::string> params = {});
  void SayError(wire::MsgId id, std::vector<std::string> params = {});
  // Send the queued lines plus one prompt and wait for the answer.
  // kCancelled when the user's conversation failed; kTimeout when no answer
  // came in time; kProtocol when the module broke the protocol.
  Result<Secret> Ask(wire::MsgId id, bool echo, std::uint8_t flags = 0,
                     std::vector<std::string> params = {});
  // Send the queued lines now, with no prompt (long output, e.g. a QR code).
  Status Flush();
  // Send the queued lines and the outcome; ends the dialogue.
  Status Finish(wire::Outcome outcome);

 protected:
  virtual Result<Secret> Exchange(wire::StepMsg step) = 0;
  virtual Status SendResult(wire::ResultMsg result) = 0;

 private:
  std::vector<wire::Item> m_pending;
};

}  // namespace sspr::flow
