#include "sspr/util/secret.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace sspr {

void CryptoInit() {
  if (sodium_init() < 0) std::abort();
}

namespace {
unsigned char* Allocate(std::size_t len) {
  CryptoInit();
  // sodium_malloc(0) is valid but keep one byte so data() is never null.
  void* p = sodium_malloc(len == 0 ? 1 : len);
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<unsigned char*>(p);
}
}  // namespace

Secret::Secret(const void* data, std::size_t len) : m_data(Allocate(len)), m_len(len) {
  if (len != 0) std::memcpy(m_data, data, len);
}

Secret Secret::Take(std::string& s) {
  Secret out(s.data(), s.size());
  WipeString(s);
  return out;
}

Secret Secret::Random(std::size_t len) {
  Secret out;
  out.m_data = Allocate(len);
  out.m_len = len;
  randombytes_buf(out.m_data, len);
  return out;
}

Secret::Secret(Secret&& other) noexcept
    : m_data(std::exchange(other.m_data, nullptr)), m_len(std::exchange(other.m_len, 0)) {}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Reset();
    m_data = std::exchange(other.m_data, nullptr);
    m_len = std::exchange(other.m_len, 0);
  }
  return *this;
}

Secret::~Secret() { Reset(); }

void Secret::Reset() noexcept {
  if (m_data != nullptr) sodium_free(m_data);  // wipes before freeing
  m_data = nullptr;
  m_len = 0;
}

Secret Secret::Clone() const { return m_data ? Secret(m_data, m_len) : Secret(); }

bool Secret::Equals(const Secret& other) const noexcept {
  if (m_len != other.m_len) return false;
  if (m_len == 0) return true;
  return sodium_memcmp(m_data, other.m_data, m_len) == 0;
}

bool Secret::Equals(std::string_view other) const noexcept {
  if (m_len != other.size()) return false;
  if (m_len == 0) return true;
  return sodium_memcmp(m_data, other.data(), m_len) == 0;
}

void WipeString(std::string& s) noexcept {
  // capacity() bytes are ours to overwrite; the terminator slot too.
  if (s.capacity() != 0) sodium_memzero(s.data(), s.capacity());
  s.clear();
}

}  // namespace sspr
