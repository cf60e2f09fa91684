// Result<T>: a value or an sspr::Error, shaped like std::expected (C++23).
// Core code returns these instead of throwing; nothing here allocates on the
// success path beyond T itself.
#pragma once

#include <cassert>
#include <utility>
#include <variant>

#include "sspr/util/error.h"

namespace sspr {

struct Unexpected {
  Error error;
};

inline Unexpected Fail(Errc code, std::string detail = {}) {
  return Unexpected{Error{code, std::move(detail)}};
}
inline Unexpected Fail(Error err) { return Unexpected{std::move(err)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Result(Unexpected u) : m_v(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT

  bool ok() const noexcept { return m_v.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(m_v); }
  const T& value() const& { assert(ok()); return std::get<0>(m_v); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(m_v)); }
  T& operator*() & { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { assert(!ok()); return std::get<1>(m_v); }
  Error&& error() && { assert(!ok()); return std::get<1>(std::move(m_v)); }
  Errc code() const { return error().code; }

 private:
  std::variant<T, Error> m_v;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected u) : m_err(std::move(u.error)), m_failed(true) {}  // NOLINT

  bool ok() const noexcept { return !m_failed; }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const& { assert(m_failed); return m_err; }
  Error&& error() && { assert(m_failed); return std::move(m_err); }
  Errc code() const { return error().code; }

 private:
  Error m_err;
  bool m_failed = false;
};

using Status = Result<void>;

}  // namespace sspr
