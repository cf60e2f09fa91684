#include "sspr/method/totp.h"

#include <liboath/oath.h>
#include <qrencode.h>
#include <sodium.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>

namespace sspr::method {

namespace {

constexpr std::size_t kMinSeedBytes = 10;  // RFC 4226 §4 R6: at least 128 bits; 80 is the floor some apps use

bool LiboathReady() {
  // oath_init sets up the crypto backend; it must run once before any call.
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = oath_init() == OATH_OK; });
  return ok;
}

int OathFlags(TotpAlgo algo) {
  switch (algo) {
    case TotpAlgo::kSha1: return 0;
    case TotpAlgo::kSha256: return OATH_TOTP_HMAC_SHA256;
    case TotpAlgo::kSha512: return OATH_TOTP_HMAC_SHA512;
  }
  return 0;
}

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 3986 percent-encoding of everything but the unreserved set.
void AppendPercentEncoded(std::string& out, std::string_view in) {
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : in) {
    if (Unreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0F];
    }
  }
}

}  // namespace

std::string_view TotpAlgoName(TotpAlgo algo) noexcept {
  switch (algo) {
    case TotpAlgo::kSha1: return "SHA1";
    case TotpAlgo::kSha256: return "SHA256";
    case TotpAlgo::kSha512: return "SHA512";
  }
  return "SHA1";
}

Secret NewTotpSeed() { return Secret::Random(20); }

Secret Base32(const Secret& bytes) {
  // RFC 4648 §6: 5-bit groups, MSB first, alphabet A-Z then 2-7.
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  unsigned buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    buffer = (buffer << 8) | bytes.data()[i];
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 0x1F];
      bits -= 5;
    }
    buffer &= (1u << bits) - 1;  // keep only unread bits (nothing secret lingers above them)
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 0x1F];
  buffer = 0;
  return Secret::Take(out);
}

Result<Secret> OtpauthUri(std::string_view issuer, std::string_view account, const Secret& seed,
                          int digits, int period, TotpAlgo algo) {
  if (digits < 6 || digits > 8) return Fail(Errc::kInternal, "otpauth: digits must be 6..8");
  if (period < 1 || period > 3600) return Fail(Errc::kInternal, "otpauth: period must be 1..3600");
  if (seed.empty()) return Fail(Errc::kInternal, "otpauth: empty seed");
  Secret b32 = Base32(seed);
  std::string uri;
  uri.reserve(128 + 3 * (issuer.size() * 2 + account.size()) + b32.size());
  // Key Uri Format: the label is "issuer:account" (the ':' literal, each
  // part percent-encoded), and the issuer parameter repeats the issuer.
  uri += "otpauth://totp/";
  if (!issuer.empty()) {
    AppendPercentEncoded(uri, issuer);
    uri += ':';
  }
  AppendPercentEncoded(uri, account);
  uri += "?secret=";
  uri.append(b32.view());
  if (!issuer.empty()) {
    uri += "&issuer=";
    AppendPercentEncoded(uri, issuer);
  }
  uri += "&algorithm=";
  uri += TotpAlgoName(algo);
  uri += "&digits=" + std::to_string(digits);
  uri += "&period=" + std::to_string(period);
  return Secret::Take(uri);
}

Result<Secret> RenderQrUtf8(std::string_view text) {
  if (text.find('\0') != std::string_view::npos)
    return Fail(Errc::kInternal, "QR: text holds a NUL byte");
  // libqrencode wants a C string; keep the copy in wiped memory.
  Secret cstr = [&] {
    std::string tmp(text);
    tmp.push_back('\0');
    return Secret::Take(tmp);
  }();
  // Version 0: the smallest that fits. QR_MODE_8 with case sensitivity
  // lets libqrencode split into numeric/alphanumeric/8-bit segments.
  QRcode* qr = QRcode_encodeString(reinterpret_cast<const char*>(cstr.data()), 0, QR_ECLEVEL_M,
                                   QR_MODE_8, 1);
  if (qr == nullptr) return Fail(Errc::kInternal, std::string("QR: cannot encode: ") + std::strerror(errno));
  const int width = qr->width;
  const int total = width + 2 * kQrQuietZone;
  // Module (x, y) in quiet-zone coordinates is light when outside the code
  // or when its bit 0 (dark) is clear (libqrencode's data layout).
  auto light = [&](int x, int y) {
    if (y >= total) return false;  // the half line below an odd last row stays undrawn
    int cx = x - kQrQuietZone, cy = y - kQrQuietZone;
    if (cx < 0 || cy < 0 || cx >= width || cy >= width) return true;
    return (qr->data[static_cast<std::size_t>(cy) * static_cast<std::size_t>(width) +
                     static_cast<std::size_t>(cx)] & 1) == 0;
  };
  std::string out;
  out.reserve(static_cast<std::size_t>((total + 1) / 2) * (static_cast<std::size_t>(total) * 3 + 1));
  for (int y = 0; y < total; y += 2) {
    for (int x = 0; x < total; ++x) {
      bool top = light(x, y), bottom = light(x, y + 1);
      if (top && bottom) out += "\xE2\x96\x88";       // █ U+2588
      else if (top) out += "\xE2\x96\x80";            // ▀ U+2580
      else if (bottom) out += "\xE2\x96\x84";         // ▄ U+2584
      else out += ' ';
    }
    out += '\n';
  }
  // The module matrix is the seed in another form: wipe it before freeing.
  sodium_memzero(qr->data, static_cast<std::size_t>(width) * static_cast<std::size_t>(width));
  QRcode_free(qr);
  return Secret::Take(out);
}

Result<TotpVerifier> TotpVerifier::Create(Secret seed, TotpParams params) {
  if (seed.size() < kMinSeedBytes)
    return Fail(Errc::kConfig, "totp: seed must be at least 10 bytes, got " + std::to_string(seed.size()));
  if (params.digits < 6 || params.digits > 8)
    return Fail(Errc::kConfig, "totp: digits must be 6..8, got " + std::to_string(params.digits));
  if (params.period < 1 || params.period > 3600)
    return Fail(Errc::kConfig, "totp: period must be 1..3600 s, got " + std::to_string(params.period));
  if (params.window < 0 || params.window > 10)
    return Fail(Errc::kConfig, "totp: window must be 0..10 steps, got " + std::to_string(params.window));
  if (!LiboathReady()) return Fail(Errc::kInternal, "totp: oath_init failed");
  return TotpVerifier(std::move(seed), params);
}

std::int64_t TotpVerifier::StepAt(std::int64_t now_s) const noexcept {
  // RFC 6238 §4.2: T = floor((now - T0) / X), T0 = 0.
  if (now_s < 0) return kNoTotpStep;
  return now_s / m_params.period;
}

Result<Secret> TotpVerifier::CodeForStep(std::int64_t step) const {
  char otp[16] = {0};
  // liboath derives the step from a time: the step's first second gives it
  // back exactly.
  const auto at = static_cast<time_t>(step * m_params.period);
  int rc = oath_totp_generate2(reinterpret_cast<const char*>(m_seed.data()), m_seed.size(), at,
                               static_cast<unsigned>(m_params.period), OATH_TOTP_DEFAULT_START_TIME,
                               static_cast<unsigned>(m_params.digits), OathFlags(m_params.algo), otp);
  if (rc != OATH_OK) {
    sodium_memzero(otp, sizeof otp);
    return Fail(Errc::kInternal, std::string("totp: liboath: ") + oath_strerror(rc));
  }
  Secret out(otp, std::strlen(otp));
  sodium_memzero(otp, sizeof otp);
  return out;
}

Result<Secret> TotpVerifier::Generate(std::int64_t now_s) const {
  if (now_s < 0) return Fail(Errc::kInternal, "totp: time before the epoch");
  return CodeForStep(StepAt(now_s));
}

Result<std::int64_t> TotpVerifier::Verify(std::string_view code, std::int64_t now_s,
                                          std::int64_t last_accepted_step) const {
  std::string digits;
  digits.reserve(code.size());
  bool malformed = false;
  for (char c : code) {
    if (c == ' ') continue;
    if (c < '0' || c > '9') malformed = true;
    digits += c;
  }
  Secret answer = Secret::Take(digits);
  if (malformed || answer.size() != static_cast<std::size_t>(m_params.digits))
    return Fail(Errc::kCodeWrong, "totp: malformed code");
  if (now_s < 0) return Fail(Errc::kInternal, "totp: time before the epoch");

  // Compute and compare every step of the window (no early exit), then pick
  // the newest match that is not a replay. Taking the newest also stops an
  // older step that collides with the same digits from shadowing a fresh one.
  const std::int64_t now_step = StepAt(now_s);
  std::int64_t accepted = kNoTotpStep;
  bool replayed = false;
  for (std::int64_t step = now_step - m_params.window; step <= now_step + m_params.window; ++step) {
    if (step < 0) continue;
    auto expect = CodeForStep(step);
    if (!expect) return Fail(expect.error());
    if (!expect->Equals(answer)) continue;  // sodium_memcmp: constant time
    if (step > last_accepted_step) {
      accepted = step;
    } else {
      replayed = true;
    }
  }
  if (accepted != kNoTotpStep) return accepted;
  if (replayed)
    return Fail(Errc::kCodeWrong, "totp: replay of an already used time step (last accepted " +
                                      std::to_string(last_accepted_step) + ")");
  return Fail(Errc::kCodeWrong, "totp: code does not match any step in the window");
}

}  // namespace sspr::method
