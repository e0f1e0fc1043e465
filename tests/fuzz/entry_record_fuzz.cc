// libFuzzer target: stored-record decoding. A record read back from a store
// may be torn, bit-flipped or written by a future version: decoding must
// fail cleanly, and whatever decodes must re-encode to a record that
// decodes to the same entry.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "preheat/entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace preheat;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Result<CacheEntry> entry = DecodeEntry(input, {});
  if (!entry.ok()) {
    Code code = entry.status().code();
    if (code != Code::kCorrupt && code != Code::kTooLarge) std::abort();
    return 0;
  }
  std::string again = EncodeEntry(*entry);
  Result<CacheEntry> round = DecodeEntry(again, {});
  if (!round.ok() || round->body != entry->body || round->key != entry->key ||
      round->headers.fields() != entry->headers.fields()) {
    std::abort();
  }
  return 0;
}
