// Fuzz target: the configuration parser over arbitrary text.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sspr/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto r = sspr::config::Parse(text, "fuzz.conf");
  (void)r;
  return 0;
}
