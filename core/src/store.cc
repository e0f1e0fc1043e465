#include "preheat/store.h"

namespace preheat {

uint64_t StoreRecord::ChargeBytes() const {
  uint64_t bytes = key.size() + value.size();
  for (const auto& tag : tags) bytes += tag.size();
  return bytes;
}

}  // namespace preheat
