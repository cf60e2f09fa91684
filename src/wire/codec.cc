#include "sspr/wire/codec.h"

#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cstring>

namespace sspr::wire {

// explicit_bzero is not elided by the optimiser (glibc ≥ 2.25).
void Wipe(std::string& s) noexcept {
  if (s.capacity() != 0) explicit_bzero(s.data(), s.capacity());
  s.clear();
}

void Wipe(std::vector<std::uint8_t>& v) noexcept {
  if (v.capacity() != 0) explicit_bzero(v.data(), v.capacity());
  v.clear();
}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    Wipe(m_bytes);
    m_bytes = std::move(o.m_bytes);
    o.m_bytes.clear();
  }
  return *this;
}

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;  // continuation byte, overlong lead (C0/C1) or > F4
    }
    if (static_cast<std::size_t>(end - p) <= n) return false;
    for (std::size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;  // overlong
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;                        // surrogate
    if (cp > 0x10FFFF) return false;
    p += n + 1;
  }
  return true;
}

namespace {

class Writer {
 public:
  explicit Writer(MsgType type) {
    m_buf.bytes().resize(4);  // length, patched in Finish
    U8(kProtocolVersion);
    U8(static_cast<std::uint8_t>(type));
  }
  void U8(std::uint8_t v) { m_buf.bytes().push_back(v); }
  void U16(std::uint16_t v) {
    U8(static_cast<std::uint8_t>(v >> 8));
    U8(static_cast<std::uint8_t>(v));
  }
  void Str(std::string_view s, std::size_t cap) {
    if (s.size() > cap || s.size() > 0xFFFF) {
      m_bad = true;
      return;
    }
    U16(static_cast<std::uint16_t>(s.size()));
    m_buf.bytes().insert(m_buf.bytes().end(), s.begin(), s.end());
  }
  void Fail() { m_bad = true; }
  Buffer Finish() {
    auto& b = m_buf.bytes();
    std::size_t len = b.size() - 4;
    if (m_bad || len > kMaxFrame) return Buffer();
    b[0] = static_cast<std::uint8_t>(len >> 24);
    b[1] = static_cast<std::uint8_t>(len >> 16);
    b[2] = static_cast<std::uint8_t>(len >> 8);
    b[3] = static_cast<std::uint8_t>(len);
    return std::move(m_buf);
  }

 private:
  Buffer m_buf;
  bool m_bad = false;
};

void PutItems(Writer& w, const std::vector<Item>& items, bool prompts_allowed) {
  if (items.size() > kMaxItems) return w.Fail();
  w.U8(static_cast<std::uint8_t>(items.size()));
  for (std::size_t i = 0; i < items.size(); ++i) {
    const Item& it = items[i];
    bool prompt = it.style == Style::kPromptEchoOff || it.style == Style::kPromptEchoOn;
    if (prompt && (!prompts_allowed || i + 1 != items.size())) return w.Fail();
    if (!prompt && it.flags != 0) return w.Fail();
    if (it.params.size() > kMaxParams) return w.Fail();
    w.U8(static_cast<std::uint8_t>(it.style));
    w.U8(it.flags);
    w.U16(it.msg);
    w.U8(static_cast<std::uint8_t>(it.params.size()));
    for (const auto& p : it.params) w.Str(p, kMaxParam);
  }
}

bool GetItems(Reader& r, std::vector<Item>& items, bool prompts_allowed, bool need_one) {
  std::uint8_t count = 0;
  if (!r.U8(count)) return false;
  if (count > kMaxItems) return r.Fail("too many items");
  if (need_one && count == 0) return r.Fail("step without items");
  items.clear();
  items.reserve(count);
  for (std::uint8_t i = 0; i < count; ++i) {
    Item it;
    std::uint8_t style = 0, nparams = 0;
    if (!r.U8(style) || !r.U8(it.flags) || !r.U16(it.msg) || !r.U8(nparams)) return false;
    if (style < 1 || style > 4) return r.Fail("unknown item style");
    it.style = static_cast<Style>(style);
    bool prompt = it.style == Style::kPromptEchoOff || it.style == Style::kPromptEchoOn;
    if (prompt && !prompts_allowed) return r.Fail("prompt not allowed here");
    if (prompt && i + 1 != count) return r.Fail("prompt must be the last item");
    if ((it.flags & ~kItemFlagsKnown) != 0 || (!prompt && it.flags != 0))
      return r.Fail("unknown item flags");
    if (nparams > kMaxParams) return r.Fail("too many parameters");
    it.params.resize(nparams);
    for (auto& p : it.params)
      if (!r.Str(p, kMaxParam, "parameter")) return false;
    items.push_back(std::move(it));
  }
  return true;
}

bool Finish(Reader& r, const char** error) {
  if (!r.ExpectEnd()) {
    if (error) *error = r.error();
    return false;
  }
  return true;
}

bool Begin(Reader& r, MsgType want, const char** error) {
  MsgType type{};
  if (!ReadHeader(r, type)) {
    if (error) *error = r.error();
    return false;
  }
  if (type != want) {
    r.Fail("unexpected message type");
    if (error) *error = r.error();
    return false;
  }
  return true;
}

}  // namespace

Buffer Encode(const StartMsg& m) {
  Writer w(MsgType::kStart);
  w.U8(static_cast<std::uint8_t>(m.flow));
  w.U8(m.flags);
  w.Str(m.account, kMaxAccount);
  w.Str(m.service, kMaxClaim);
  w.Str(m.tty, kMaxClaim);
  w.Str(m.rhost, kMaxClaim);
  return w.Finish();
}

Buffer Encode(const AnswerMsg& m) {
  Writer w(MsgType::kAnswer);
  w.U8(m.flags);
  w.Str(m.answer, kMaxAnswer);
  return w.Finish();
}

Buffer Encode(const StepMsg& m) {
  Writer w(MsgType::kStep);
  if (m.items.empty()) w.Fail();
  PutItems(w, m.items, true);
  return w.Finish();
}

Buffer Encode(const ResultMsg& m) {
  Writer w(MsgType::kResult);
  w.U8(static_cast<std::uint8_t>(m.outcome));
  PutItems(w, m.items, false);
  return w.Finish();
}

bool Reader::U8(std::uint8_t& v) {
  if (!ok()) return false;
  if (m_end - m_p < 1) return Fail("truncated");
  v = *m_p++;
  return true;
}

bool Reader::U16(std::uint16_t& v) {
  if (!ok()) return false;
  if (m_end - m_p < 2) return Fail("truncated");
  v = static_cast<std::uint16_t>((m_p[0] << 8) | m_p[1]);
  m_p += 2;
  return true;
}

bool Reader::U32(std::uint32_t& v) {
  if (!ok()) return false;
  if (m_end - m_p < 4) return Fail("truncated");
  v = (std::uint32_t{m_p[0]} << 24) | (std::uint32_t{m_p[1]} << 16) |
      (std::uint32_t{m_p[2]} << 8) | std::uint32_t{m_p[3]};
  m_p += 4;
  return true;
}

bool Reader::Str(std::string& out, std::size_t cap, const char* field) {
  (void)field;
  std::uint16_t len = 0;
  if (!U16(len)) return false;
  if (len > cap) return Fail("string longer than its cap");  // before allocating
  if (m_end - m_p < len) return Fail("truncated");
  std::string_view v(reinterpret_cast<const char*>(m_p), len);
  if (v.find('\0') != std::string_view::npos) return Fail("NUL in string");
  if (!IsValidUtf8(v)) return Fail("string is not UTF-8");
  out.assign(v);
  m_p += len;
  return true;
}

bool Reader::Fail(const char* why) {
  if (m_error == nullptr) m_error = why;
  return false;
}

bool Reader::ExpectEnd() {
  if (!ok()) return false;
  if (m_p != m_end) return Fail("trailing bytes");
  return true;
}

bool ReadHeader(Reader& r, MsgType& type) {
  std::uint8_t version = 0, t = 0;
  if (!r.U8(version) || !r.U8(t)) return false;
  if (version != kProtocolVersion) return r.Fail("unsupported protocol version");
  if (t != 2 && t != 3 && t != 4 && t != 5) return r.Fail("unknown message type");
  type = static_cast<MsgType>(t);
  return true;
}

bool PeekType(const std::vector<std::uint8_t>& payload, MsgType& type) {
  Reader r(payload.data(), payload.size());
  return ReadHeader(r, type);
}

bool Decode(const std::vector<std::uint8_t>& payload, StartMsg& out, const char** error) {
  Reader r(payload.data(), payload.size());
  if (!Begin(r, MsgType::kStart, error)) return false;
  std::uint8_t flow = 0;
  if (r.U8(flow) && (flow < 1 || flow > kMaxFlow)) r.Fail("unknown flow");
  if (r.U8(out.flags) && (out.flags & ~kStartFlagsKnown) != 0) r.Fail("unknown start flags");
  out.flow = static_cast<Flow>(flow);
  r.Str(out.account, kMaxAccount, "account");
  r.Str(out.service, kMaxClaim, "service");
  r.Str(out.tty, kMaxClaim, "tty");
  r.Str(out.rhost, kMaxClaim, "rhost");
  return Finish(r, error);
}

bool Decode(const std::vector<std::uint8_t>& payload, AnswerMsg& out, const char** error) {
  Reader r(payload.data(), payload.size());
  if (!Begin(r, MsgType::kAnswer, error)) return false;
  if (r.U8(out.flags) && (out.flags & ~kAnswerFlagsKnown) != 0) r.Fail("unknown answer flags");
  r.Str(out.answer, kMaxAnswer, "answer");
  return Finish(r, error);
}

bool Decode(const std::vector<std::uint8_t>& payload, StepMsg& out, const char** error) {
  Reader r(payload.data(), payload.size());
  if (!Begin(r, MsgType::kStep, error)) return false;
  GetItems(r, out.items, true, true);
  return Finish(r, error);
}

bool Decode(const std::vector<std::uint8_t>& payload, ResultMsg& out, const char** error) {
  Reader r(payload.data(), payload.size());
  if (!Begin(r, MsgType::kResult, error)) return false;
  std::uint8_t outcome = 0;
  if (r.U8(outcome) && (outcome < 1 || outcome > kMaxOutcome)) r.Fail("unknown outcome");
  out.outcome = static_cast<Outcome>(outcome);
  GetItems(r, out.items, false, false);
  return Finish(r, error);
}

// ---- I/O -----------------------------------------------------------------

const char* IoStatusName(IoStatus s) {
  switch (s) {
    case IoStatus::kOk: return "ok";
    case IoStatus::kEof: return "end of stream";
    case IoStatus::kTimeout: return "timed out";
    case IoStatus::kTooLarge: return "frame length out of bounds";
    case IoStatus::kError: return "socket error";
  }
  return "?";
}

std::int64_t NowMs() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

namespace {

IoStatus WaitFor(int fd, short events, std::int64_t deadline_ms) {
  for (;;) {
    std::int64_t left = deadline_ms - NowMs();
    if (left <= 0) return IoStatus::kTimeout;
    struct pollfd p {fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(left > 60000 ? 60000 : left));
    if (n > 0) return IoStatus::kOk;
    if (n == 0) continue;
    if (errno == EINTR) continue;
    return IoStatus::kError;
  }
}

// Read exactly `len` bytes; `started` says whether a partial frame exists
// (an EOF then is an error, not an orderly close).
IoStatus ReadExact(int fd, std::uint8_t* buf, std::size_t len, std::int64_t deadline_ms,
                   bool started) {
  std::size_t got = 0;
  while (got < len) {
    IoStatus w = WaitFor(fd, POLLIN, deadline_ms);
    if (w != IoStatus::kOk) return w;
    ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
      started = true;
      continue;
    }
    if (n == 0) return started ? IoStatus::kError : IoStatus::kEof;
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    return IoStatus::kError;
  }
  return IoStatus::kOk;
}

}  // namespace

IoStatus SendFrame(int fd, const Buffer& frame, std::int64_t deadline_ms) {
  const auto& b = frame.bytes();
  if (b.size() < 6) return IoStatus::kError;  // an encoder refused its input
  std::size_t sent = 0;
  while (sent < b.size()) {
    IoStatus w = WaitFor(fd, POLLOUT, deadline_ms);
    if (w != IoStatus::kOk) return w;
    ssize_t n = send(fd, b.data() + sent, b.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    return IoStatus::kError;
  }
  return IoStatus::kOk;
}

IoStatus RecvFrame(int fd, Buffer& payload, std::int64_t deadline_ms) {
  std::uint8_t hdr[4];
  IoStatus s = ReadExact(fd, hdr, sizeof hdr, deadline_ms, false);
  if (s != IoStatus::kOk) return s;
  std::uint32_t len = (std::uint32_t{hdr[0]} << 24) | (std::uint32_t{hdr[1]} << 16) |
                      (std::uint32_t{hdr[2]} << 8) | std::uint32_t{hdr[3]};
  if (len < 2 || len > kMaxFrame) return IoStatus::kTooLarge;  // before allocating
  auto& b = payload.bytes();
  Wipe(b);
  b.resize(len);
  return ReadExact(fd, b.data(), len, deadline_ms, true);
}

}  // namespace sspr::wire
