// Memory-tier budgets (issue: core engine):
//  - a hit of a 4 KB entry in a 100,000-entry tier within 3x of
//    std::unordered_map<std::string, std::string>::find on the same keys;
//  - puts with eviction active within 3x of the same unordered_map
//    insert + erase pattern.
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_data.h"
#include "bench_ratio.h"
#include "preheat/memory_tier.h"

namespace preheat::bench {
namespace {

constexpr size_t kEntries = 100'000;
constexpr size_t kBodyBytes = 4096;

const std::vector<std::string>& Keys() {
  static const std::vector<std::string> keys = MakeKeys(kEntries);
  return keys;
}

// A fixed random probe order, the same for both sides.
const std::vector<uint32_t>& Probes() {
  static const std::vector<uint32_t> probes = MakeProbes(kEntries);
  return probes;
}

std::shared_ptr<CacheEntry> MakeEntry(const std::string& key, const std::string& body) {
  auto e = std::make_shared<CacheEntry>();
  e->key = key;
  e->url = key.substr(key.find(' ') + 1);
  e->status = 200;
  e->body = body;
  return e;
}

void BM_UnorderedMapFind(benchmark::State& state) {
  std::unordered_map<std::string, std::string> map;
  const std::string body(kBodyBytes, 'b');
  for (const auto& k : Keys()) map.emplace(k, body);
  const auto& probes = Probes();
  size_t i = 0;
  for (auto _ : state) {
    auto it = map.find(Keys()[probes[i++ & (probes.size() - 1)]]);
    benchmark::DoNotOptimize(it->second.data());
  }
}
BENCHMARK(BM_UnorderedMapFind);

void BM_MemoryTierGet(benchmark::State& state) {
  MemoryTier tier(uint64_t{1} << 40, kEntries);
  const std::string body(kBodyBytes, 'b');
  for (const auto& k : Keys()) tier.Put(MakeEntry(k, body));
  const auto& probes = Probes();
  size_t i = 0;
  for (auto _ : state) {
    auto entry = tier.Get(Keys()[probes[i++ & (probes.size() - 1)]]);
    benchmark::DoNotOptimize(entry->body.data());
  }
}
BENCHMARK(BM_MemoryTierGet);

// Steady state at kEntries: each iteration inserts a new key and drops the
// oldest, as the LRU does when full.
void BM_UnorderedMapInsertErase(benchmark::State& state) {
  std::unordered_map<std::string, std::string> map;
  std::deque<std::string> order;
  const std::string body(kBodyBytes, 'b');
  for (const auto& k : Keys()) {
    map.emplace(k, body);
    order.push_back(k);
  }
  size_t next = kEntries;
  for (auto _ : state) {
    std::string key = KeyOf(next++);
    map.emplace(key, body);
    order.push_back(std::move(key));
    map.erase(order.front());
    order.pop_front();
  }
}
BENCHMARK(BM_UnorderedMapInsertErase);

void BM_MemoryTierPutEvict(benchmark::State& state) {
  MemoryTier tier(uint64_t{1} << 40, kEntries);
  const std::string body(kBodyBytes, 'b');
  for (const auto& k : Keys()) tier.Put(MakeEntry(k, body));
  size_t next = kEntries;
  for (auto _ : state) {
    tier.Put(MakeEntry(KeyOf(next++), body));
  }
  state.counters["evictions"] = static_cast<double>(tier.evictions());
}
BENCHMARK(BM_MemoryTierPutEvict);

}  // namespace
}  // namespace preheat::bench

int main(int argc, char** argv) {
  return preheat::bench::RunWithRatios(
      argc, argv,
      {{"BM_MemoryTierGet", "BM_UnorderedMapFind", 3.0},
       {"BM_MemoryTierPutEvict", "BM_UnorderedMapInsertErase", 3.0}});
}
