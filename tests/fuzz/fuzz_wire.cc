// Fuzz target: every decoder of the wire protocol over arbitrary payloads.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sspr/wire/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> p(data, data + size);
  const char* err = nullptr;
  sspr::wire::StartMsg s;
  sspr::wire::StepMsg st;
  sspr::wire::AnswerMsg a;
  sspr::wire::ResultMsg r;
  if (sspr::wire::Decode(p, s, &err)) (void)sspr::wire::Encode(s);
  if (sspr::wire::Decode(p, st, &err)) (void)sspr::wire::Encode(st);
  if (sspr::wire::Decode(p, a, &err)) (void)sspr::wire::Encode(a);
  if (sspr::wire::Decode(p, r, &err)) (void)sspr::wire::Encode(r);
  return 0;
}
