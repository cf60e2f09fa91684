// Fuzz target: the enrolment record decoder (sspr::store::DecodeEnrolment)
// and the sealed-seed opener over arbitrary bytes. Whatever decodes must
// re-encode and decode to the same record (the codec is canonical).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sspr/store/enrolment.h"
#include "sspr/util/secret.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto e = sspr::store::DecodeEnrolment(in);
  if (e.ok()) {
    auto again = sspr::store::EncodeEnrolment(e.value());
    if (!again.ok() || again.value() != in) std::abort();  // decode accepted a non-canonical record
    auto back = sspr::store::DecodeEnrolment(again.value());
    if (!back.ok() || !(back.value() == e.value())) std::abort();
  }
  static const sspr::Secret key(std::string(32, 'k').data(), 32);
  (void)sspr::store::OpenSeed(key, "alice", in);
  std::string n = sspr::store::NormaliseAnswer(in);
  (void)n;
  return 0;
}
