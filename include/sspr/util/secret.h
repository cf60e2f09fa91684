// Secret: the one type for passwords, OTPs, answers and keys.
//
// Backed by libsodium's guarded allocator (sodium_malloc: mlock'ed, guard
// pages, wiped by sodium_free). Move-only. There is deliberately no stream
// operator, formatter or implicit conversion to std::string, so a secret
// cannot be logged by accident. Never put one in argv or the environment.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sspr {

class Secret {
 public:
  Secret() noexcept = default;
  // Copies `len` bytes from `data`; the caller wipes its own copy.
  Secret(const void* data, std::size_t len);
  // Takes the bytes of `s` and wipes `s` (including its spare capacity).
  static Secret Take(std::string& s);
  // A secret of `len` random bytes (CSPRNG).
  static Secret Random(std::size_t len);

  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret();

  Secret Clone() const;

  const unsigned char* data() const noexcept { return m_data; }
  unsigned char* data() noexcept { return m_data; }
  std::size_t size() const noexcept { return m_len; }
  bool empty() const noexcept { return m_len == 0; }
  // A view for APIs that need one (e.g. UTF-16 conversion). Do not store it.
  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(m_data), m_len};
  }
  // Constant-time comparison (sodium_memcmp); different lengths compare
  // unequal without leaking where they differ.
  bool Equals(const Secret& other) const noexcept;
  bool Equals(std::string_view other) const noexcept;

 private:
  void Reset() noexcept;
  unsigned char* m_data = nullptr;
  std::size_t m_len = 0;
};

// Wipe a std::string's whole buffer (size and spare capacity) and clear it.
void WipeString(std::string& s) noexcept;

// Initialise libsodium once; aborts the process if it cannot (no CSPRNG
// means no safe operation at all).
void CryptoInit();

}  // namespace sspr
