// Encoder/decoder for the frames specified in protocol.h, and frame I/O on
// a socket with deadlines. Used by both pam_sspr.so and ssprd, so it
// depends on nothing but libc and libstdc++.
//
// Decoding is strict: every field is checked against its cap before any
// allocation, strings must be UTF-8 without NUL, unknown flag bits and
// enum values are rejected, the body must be consumed exactly, and the
// first error sticks (later reads fail and keep the first message).
// Buffers and strings that may hold an answer are wiped when destroyed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sspr/wire/protocol.h"

namespace sspr::wire {

// Overwrite a string's whole buffer (size and spare capacity, which also
// covers the small-string buffer) and clear it.
void Wipe(std::string& s) noexcept;
void Wipe(std::vector<std::uint8_t>& v) noexcept;

// A byte buffer that wipes itself when destroyed or reassigned.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Buffer&& o) noexcept : m_bytes(std::move(o.m_bytes)) { o.m_bytes.clear(); }
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { Wipe(m_bytes); }
  std::vector<std::uint8_t>& bytes() { return m_bytes; }
  const std::vector<std::uint8_t>& bytes() const { return m_bytes; }

 private:
  std::vector<std::uint8_t> m_bytes;
};

struct Item {
  Style style = Style::kInfo;
  std::uint8_t flags = 0;
  std::uint16_t msg = 0;
  std::vector<std::string> params;
};

struct StartMsg {
  Flow flow = Flow::kReset;
  std::uint8_t flags = 0;
  std::string account;
  std::string service;
  std::string tty;
  std::string rhost;
};

struct AnswerMsg {
  AnswerMsg() = default;
  AnswerMsg(AnswerMsg&&) noexcept = default;
  AnswerMsg& operator=(AnswerMsg&&) noexcept = default;
  ~AnswerMsg() { Wipe(answer); }
  std::uint8_t flags = 0;
  std::string answer;  // secret: wiped on destruction
};

struct StepMsg {
  std::vector<Item> items;
};

struct ResultMsg {
  Outcome outcome = Outcome::kNotWritten;
  std::vector<Item> items;
};

// Encoding. Each returns a whole frame (length prefix included) or an empty
// buffer when a field exceeds its cap (a programming error on our side, but
// never a reason to send a malformed frame).
Buffer Encode(const StartMsg& m);
Buffer Encode(const AnswerMsg& m);
Buffer Encode(const StepMsg& m);
Buffer Encode(const ResultMsg& m);

// Sticky-error reader over a frame payload (after the length prefix).
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t len) : m_p(data), m_end(data + len) {}
  bool U8(std::uint8_t& v);
  bool U16(std::uint16_t& v);
  bool U32(std::uint32_t& v);
  // u16 length + bytes; fails if length > cap, NUL inside or not UTF-8.
  bool Str(std::string& out, std::size_t cap, const char* field);
  bool Fail(const char* why);
  bool ExpectEnd();
  bool ok() const { return m_error == nullptr; }
  const char* error() const { return m_error ? m_error : ""; }

 private:
  const std::uint8_t* m_p;
  const std::uint8_t* m_end;
  const char* m_error = nullptr;
};

// Frame payload header: version + type. Fails on a wrong version.
bool ReadHeader(Reader& r, MsgType& type);

// Typed decoders over a whole payload (header included). They check the
// type, decode, and require exact consumption. On failure `error` names the
// problem (static string; no input bytes are echoed).
bool Decode(const std::vector<std::uint8_t>& payload, StartMsg& out, const char** error);
bool Decode(const std::vector<std::uint8_t>& payload, AnswerMsg& out, const char** error);
bool Decode(const std::vector<std::uint8_t>& payload, StepMsg& out, const char** error);
bool Decode(const std::vector<std::uint8_t>& payload, ResultMsg& out, const char** error);
// Peek at the type of a payload without decoding it (false if too short or
// wrong version).
bool PeekType(const std::vector<std::uint8_t>& payload, MsgType& type);

// True if `s` is valid UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF).
bool IsValidUtf8(std::string_view s);

// ---- I/O -----------------------------------------------------------------

enum class IoStatus {
  kOk,
  kEof,       // orderly close before/at a frame boundary
  kTimeout,   // the deadline passed
  kTooLarge,  // length prefix above kMaxFrame or below the header size
  kError,     // socket error or close mid-frame
};
const char* IoStatusName(IoStatus s);

// Milliseconds on CLOCK_MONOTONIC; deadlines are absolute in this clock.
std::int64_t NowMs();

// Write a whole frame (MSG_NOSIGNAL) before `deadline_ms`.
IoStatus SendFrame(int fd, const Buffer& frame, std::int64_t deadline_ms);
// Read one frame's payload (length prefix stripped) before `deadline_ms`.
// The length is checked against kMaxFrame before the buffer is allocated.
IoStatus RecvFrame(int fd, Buffer& payload, std::int64_t deadline_ms);

}  // namespace sspr::wire
