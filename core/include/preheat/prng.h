// Prng: the core's only source of randomness, seeded by the driver.
#ifndef PREHEAT_PRNG_H_
#define PREHEAT_PRNG_H_

#include <cstdint>

namespace preheat {

// xoshiro256** seeded through splitmix64: fast, good quality, and the same
// sequence on every platform for the same seed.
class Prng {
 public:
  explicit Prng(uint64_t seed);
  uint64_t Next();
  // Uniform in [0, bound); 0 when bound is 0.
  uint64_t Below(uint64_t bound);
  // Uniform in [0, 1).
  double NextDouble();
  // True with probability p.
  bool Chance(double p) { return NextDouble() < p; }

 private:
  uint64_t s_[4];
};

}  // namespace preheat

#endif  // PREHEAT_PRNG_H_
