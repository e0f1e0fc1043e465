// Keys and probe orders shared by the benchmarks, so the memory tier and the
// store are measured on the same kind of keys and the same access pattern.
#ifndef PREHEAT_TESTS_BENCH_BENCH_DATA_H_
#define PREHEAT_TESTS_BENCH_BENCH_DATA_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "preheat/prng.h"

namespace preheat::bench {

// A realistic cache key: namespace, then an API URL with a query.
inline std::string KeyOf(size_t i) {
  return "user42 https://app.example/api/issues/" + std::to_string(i) + "?expand=comments";
}

// KeyOf(0) .. KeyOf(count - 1).
inline std::vector<std::string> MakeKeys(size_t count) {
  std::vector<std::string> keys;
  keys.reserve(count);
  for (size_t i = 0; i < count; ++i) keys.push_back(KeyOf(i));
  return keys;
}

// 65,536 indexes below `count` in a fixed random order (seed 7): every
// benchmark and its baseline probe the same keys in the same order. The
// size is a power of two so callers can wrap with a mask.
inline std::vector<uint32_t> MakeProbes(size_t count) {
  Prng prng(7);
  std::vector<uint32_t> probes(1 << 16);
  for (auto& p : probes) p = static_cast<uint32_t>(prng.Below(count));
  return probes;
}

}  // namespace preheat::bench

#endif  // PREHEAT_TESTS_BENCH_BENCH_DATA_H_
