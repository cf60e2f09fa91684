// The TOTP method (RFC 6238 over RFC 4226 HOTP, computed by liboath):
// seed creation, the otpauth:// enrolment URI and its QR code for a
// terminal, and verification with a ±window of time steps and replay
// protection.
//
// Everything that encodes the seed (Base32 text, URI, QR drawing) is
// returned as a Secret: it is the seed in another form.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include "sspr/util/result.h"
#include "sspr/util/secret.h"

namespace sspr::method {

enum class TotpAlgo { kSha1, kSha256, kSha512 };

// "SHA1", "SHA256", "SHA512" (the otpauth `algorithm` parameter values).
std::string_view TotpAlgoName(TotpAlgo algo) noexcept;

// 20 CSPRNG bytes: the RFC 4226 §4 recommended 160-bit shared secret.
Secret NewTotpSeed();

// RFC 4648 §6 Base32 (A-Z2-7), upper case, without '=' padding (the form
// authenticator apps expect in the otpauth `secret` parameter).
Secret Base32(const Secret& bytes);

// otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=...&digits=...&period=...
// (Google Authenticator "Key Uri Format"). Issuer and account are
// percent-encoded (everything but RFC 3986 unreserved characters), so a ':'
// or '&' in them cannot change the label or add a parameter.
// digits must be 6..8 and period 1..3600; otherwise Errc::kInternal.
Result<Secret> OtpauthUri(std::string_view issuer, std::string_view account, const Secret& seed,
                          int digits = 6, int period = 30, TotpAlgo algo = TotpAlgo::kSha1);

// The QR code (libqrencode, ECC level M, version chosen to fit) of `text`
// drawn with UTF-8 half blocks: each text line holds two module rows, each
// column one module, so the code is about square in a terminal cell grid.
// Characters used: U+2580 ▀, U+2584 ▄, U+2588 █, space and '\n'. As with
// `qrencode -t UTF8`, a drawn half is a LIGHT module (terminals are
// usually light-on-dark); a quiet zone of kQrQuietZone light modules
// surrounds the code. Errc::kInternal if the text does not fit a QR code.
inline constexpr int kQrQuietZone = 2;
Result<Secret> RenderQrUtf8(std::string_view text);

struct TotpParams {
  TotpAlgo algo = TotpAlgo::kSha1;
  int digits = 6;   // 6..8
  int period = 30;  // seconds per time step, 1..3600
  int window = 1;   // steps accepted either side of now (clock drift), 0..10
};

// No step accepted yet.
inline constexpr std::int64_t kNoTotpStep = -1;

class TotpVerifier {
 public:
  // Takes the seed (raw bytes, not Base32, at least 10 bytes). Parameters
  // out of range, or a short seed, are refused with Errc::kConfig.
  static Result<TotpVerifier> Create(Secret seed, TotpParams params = {});

  // Check `code` (ASCII digits; spaces ignored) at unix time `now_s`.
  // Every step in [now-window, now+window] is computed and compared in
  // constant time; the code is accepted for the latest matching step that
  // is > `last_accepted_step` (replay protection: a code, or an older one,
  // never works twice). Returns that step, which the caller must persist
  // before telling the user it succeeded. Errors: kCodeWrong (malformed,
  // no match, or replay — the detail says which, for the admin log only),
  // kInternal (liboath failed).
  Result<std::int64_t> Verify(std::string_view code, std::int64_t now_s,
                              std::int64_t last_accepted_step) const;

  // The code for the step holding `now_s` (tests, and showing the enrolling
  // admin what to expect). Errc::kInternal if liboath fails.
  Result<Secret> Generate(std::int64_t now_s) const;

  std::int64_t StepAt(std::int64_t now_s) const noexcept;
  const TotpParams& params() const noexcept { return m_params; }

 private:
  TotpVerifier(Secret seed, TotpParams params) : m_seed(std::move(seed)), m_params(params) {}
  Result<Secret> CodeForStep(std::int64_t step) const;
  Secret m_seed;
  TotpParams m_params;
};

}  // namespace sspr::method
