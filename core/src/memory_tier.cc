#include "preheat/memory_tier.h"

#include <algorithm>
#include <unordered_map>

namespace preheat {

// An intrusive doubly linked list in recency order (head = most recent) and
// a hash map from the entry's own key bytes to its node. The map's
// string_view keys point into the node's entry, which the node keeps alive.
struct MemoryTier::Impl {
  struct Node {
    EntryPtr entry;
    uint64_t charge_bytes = 0;
    Node* prev = nullptr;
    Node* next = nullptr;
  };
  std::unordered_map<std::string_view, Node*> map;
  Node* head = nullptr;
  Node* tail = nullptr;

  void Unlink(Node* n) {
    (n->prev ? n->prev->next : head) = n->next;
    (n->next ? n->next->prev : tail) = n->prev;
    n->prev = n->next = nullptr;
  }
  void PushFront(Node* n) {
    n->next = head;
    n->prev = nullptr;
    if (head) head->prev = n;
    head = n;
    if (!tail) tail = n;
  }
  // Removes the node at `it` from the map and the list and frees it;
  // returns its charge.
  uint64_t EraseAt(std::unordered_map<std::string_view, Node*>::iterator it) {
    Node* n = it->second;
    map.erase(it);
    Unlink(n);
    const uint64_t charge = n->charge_bytes;
    delete n;
    return charge;
  }
};

// Buckets reserved up front: a fresh tier (every page load in a browser)
// otherwise rehashes at 1, 3, 6, 12, 24... entries during its first reads.
constexpr uint64_t kReservedEntries = 64;

MemoryTier::MemoryTier(uint64_t max_bytes, uint64_t max_entries)
    : impl_(std::make_unique<Impl>()), max_bytes_(max_bytes), max_entries_(max_entries) {
  impl_->map.reserve(static_cast<size_t>(std::min(max_entries, kReservedEntries)));
}

MemoryTier::~MemoryTier() { Clear(); }

MemoryTier::EntryPtr MemoryTier::Get(std::string_view key) {
  auto it = impl_->map.find(key);
  if (it == impl_->map.end()) return nullptr;
  Impl::Node* n = it->second;
  if (impl_->head != n) {
    impl_->Unlink(n);
    impl_->PushFront(n);
  }
  return n->entry;
}

MemoryTier::EntryPtr MemoryTier::Peek(std::string_view key) const {
  auto it = impl_->map.find(key);
  return it == impl_->map.end() ? nullptr : it->second->entry;
}

bool MemoryTier::Put(EntryPtr entry) {
  const uint64_t charge = entry->ChargeBytes();
  if (charge > max_bytes_ || max_entries_ == 0) {
    Erase(entry->key);
    return false;
  }
  auto* n = new Impl::Node{std::move(entry), charge};
  // One lookup when the key is new (a store read's promotion, a miss).
  auto [it, inserted] = impl_->map.emplace(std::string_view(n->entry->key), n);
  if (!inserted) {
    // The map's key views the old entry's key bytes: replace the whole slot.
    bytes_ -= impl_->EraseAt(it);
    impl_->map.emplace(std::string_view(n->entry->key), n);
  }
  impl_->PushFront(n);
  bytes_ += charge;
  EvictToBudget();
  return true;
}

bool MemoryTier::Erase(std::string_view key) {
  auto it = impl_->map.find(key);
  if (it == impl_->map.end()) return false;
  bytes_ -= impl_->EraseAt(it);
  return true;
}

void MemoryTier::Clear() {
  Impl::Node* n = impl_->head;
  while (n) {
    Impl::Node* next = n->next;
    delete n;
    n = next;
  }
  impl_->map.clear();
  impl_->head = impl_->tail = nullptr;
  bytes_ = 0;
}

void MemoryTier::ForEach(const std::function<void(const EntryPtr&)>& fn) const {
  for (Impl::Node* n = impl_->head; n; n = n->next) fn(n->entry);
}

uint64_t MemoryTier::entries() const { return impl_->map.size(); }

void MemoryTier::EvictToBudget() {
  while (impl_->tail && (bytes_ > max_bytes_ || impl_->map.size() > max_entries_)) {
    bytes_ -= impl_->EraseAt(impl_->map.find(std::string_view(impl_->tail->entry->key)));
    evictions_++;
  }
}

}  // namespace preheat
