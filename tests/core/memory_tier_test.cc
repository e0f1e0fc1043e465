#include "preheat/memory_tier.h"

#include <doctest/doctest.h>

namespace preheat {
namespace {

MemoryTier::EntryPtr Make(const std::string& key, size_t body_bytes) {
  auto e = std::make_shared<CacheEntry>();
  e->key = key;
  e->body.assign(body_bytes, 'b');
  return e;
}

TEST_CASE("memory tier: LRU eviction by bytes") {
  uint64_t one = Make("k0", 100)->ChargeBytes();
  MemoryTier tier(one * 3, 100);
  tier.Put(Make("k0", 100));
  tier.Put(Make("k1", 100));
  tier.Put(Make("k2", 100));
  CHECK(tier.entries() == 3);
  CHECK(static_cast<bool>(tier.Get("k0")));  // k0 now most recent
  tier.Put(Make("k3", 100));         // evicts k1, the least recent
  CHECK(!tier.Peek("k1"));
  CHECK(static_cast<bool>(tier.Peek("k0")));
  CHECK(tier.bytes() <= one * 3);
  CHECK(tier.evictions() == 1);
}

TEST_CASE("memory tier: entry budget, replace, erase, clear") {
  MemoryTier tier(1 << 20, 2);
  tier.Put(Make("a", 1));
  tier.Put(Make("b", 1));
  tier.Put(Make("a", 50));  // replace keeps count
  CHECK(tier.entries() == 2);
  CHECK(tier.Peek("a")->body.size() == 50);
  tier.Put(Make("c", 1));  // evicts b
  CHECK(!tier.Peek("b"));
  CHECK(tier.Erase("a"));
  CHECK_FALSE(tier.Erase("a"));
  tier.Clear();
  CHECK(tier.entries() == 0);
  CHECK(tier.bytes() == 0);
}

TEST_CASE("memory tier: an entry larger than the budget is not kept") {
  MemoryTier tier(500, 10);
  tier.Put(Make("small", 10));
  CHECK_FALSE(tier.Put(Make("huge", 1000)));
  CHECK(!tier.Peek("huge"));
  CHECK(static_cast<bool>(tier.Peek("small")));
  // Replacing a kept entry with an oversized one removes the old one.
  CHECK_FALSE(tier.Put(Make("small", 1000)));
  CHECK(!tier.Peek("small"));
  CHECK(tier.bytes() == 0);
}

TEST_CASE("memory tier: a reader's snapshot outlives eviction") {
  MemoryTier tier(Make("x", 10)->ChargeBytes(), 10);
  tier.Put(Make("x", 10));
  auto held = tier.Get("x");
  tier.Put(Make("y", 10));
  CHECK(!tier.Peek("x"));
  CHECK(held->body.size() == 10);
}

}  // namespace
}  // namespace preheat
