// MemoryTier: the synchronous in-memory tier, an LRU charged in bytes.
#ifndef PREHEAT_MEMORY_TIER_H_
#define PREHEAT_MEMORY_TIER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "preheat/entry.h"

namespace preheat {

// Entries are shared immutable snapshots: a reader keeps its snapshot even if
// the entry is replaced or evicted meanwhile. Get, Put, Erase and eviction
// are O(1) (amortised hashing). Not thread-safe: the core's thread only.
class MemoryTier {
 public:
  using EntryPtr = std::shared_ptr<const CacheEntry>;

  MemoryTier(uint64_t max_bytes, uint64_t max_entries);
  ~MemoryTier();
  MemoryTier(const MemoryTier&) = delete;
  MemoryTier& operator=(const MemoryTier&) = delete;

  // The entry for `key` (marking it most recently used), or null.
  EntryPtr Get(std::string_view key);
  // The entry without changing recency, or null.
  EntryPtr Peek(std::string_view key) const;

  // Inserts or replaces, charged `entry->ChargeBytes()`, then evicts least
  // recently used entries until within budget. Returns false (and keeps
  // nothing, removing any older entry for the key) when the entry alone
  // exceeds max_bytes: it is served by the caller but not kept here.
  bool Put(EntryPtr entry);

  // Removes the key; returns whether it was present.
  bool Erase(std::string_view key);
  void Clear();

  // Calls fn for every entry, most recent first. fn must not modify the tier.
  void ForEach(const std::function<void(const EntryPtr&)>& fn) const;

  uint64_t bytes() const { return bytes_; }
  uint64_t entries() const;
  uint64_t evictions() const { return evictions_; }
  uint64_t max_bytes() const { return max_bytes_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint64_t max_bytes_;
  uint64_t max_entries_;
  uint64_t bytes_ = 0;
  uint64_t evictions_ = 0;
  void EvictToBudget();
};

}  // namespace preheat

#endif  // PREHEAT_MEMORY_TIER_H_
