#include "preheat/metrics.h"

#include <doctest/doctest.h>

#include "preheat/prng.h"

namespace preheat {
namespace {

TEST_CASE("histogram: instant/fast/slow buckets and percentiles") {
  LatencyHistogram h;
  for (int i = 1; i <= 100; ++i) h.Record(i * 20);  // 20 .. 2000 ms
  CHECK(h.count() == 100);
  CHECK(h.instant() == 9);   // 20..180
  CHECK(h.fast() == 40);     // 200..980
  CHECK(h.slow() == 51);
  // Within bucket precision (about 3%).
  CHECK(h.Percentile(50) == doctest::Approx(1000).epsilon(0.04));
  CHECK(h.Percentile(10) == doctest::Approx(200).epsilon(0.04));
  CHECK(h.Percentile(90) == doctest::Approx(1800).epsilon(0.04));
  LatencyHistogram empty;
  CHECK(empty.Percentile(50) == 0);
  h.Record(-5);  // clamped, never crashes
  h.Record(int64_t{1} << 50);
  CHECK(h.count() == 102);
}

TEST_CASE("histogram: small values are exact") {
  LatencyHistogram h;
  h.Record(7);
  CHECK(h.Percentile(50) == 7);
}

TEST_CASE("histogram: percentiles are nearest-rank (at least p% of samples at or below)") {
  // Small values have a bucket each, so the answers are exact samples.
  LatencyHistogram three;
  for (int v : {10, 20, 30}) three.Record(v);
  // 75% of 3 samples is 2.25: only the third has at least that many at or
  // below it (the second has 66.7%).
  CHECK(three.Percentile(75) == 30);
  CHECK(three.Percentile(50) == 20);
  CHECK(three.Percentile(25) == 10);
  CHECK(three.Percentile(100) == 30);
  CHECK(three.Percentile(0) == 10);
  LatencyHistogram five;
  for (int v = 1; v <= 5; ++v) five.Record(v);
  CHECK(five.Percentile(25) == 2);  // 1.25 of 5: the second sample
  CHECK(five.Percentile(10) == 1);  // 0.5: the first
  CHECK(five.Percentile(90) == 5);  // 4.5: the fifth
  CHECK(five.Percentile(40) == 2);  // exactly 2 of 5: the second, not the third
  LatencyHistogram ten;
  for (int v = 1; v <= 10; ++v) ten.Record(v);
  CHECK(ten.Percentile(10) == 1);
  CHECK(ten.Percentile(14) == 2);  // 1.4 of 10: the first has only 10%
  CHECK(ten.Percentile(90) == 9);
}

TEST_CASE("prng: same seed, same sequence; bounded draws") {
  Prng a(123), b(123), c(124);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.Next();
    CHECK(x == b.Next());
    differs |= x != c.Next();
    CHECK(a.Below(10) == b.Below(10));
    double d = a.NextDouble();
    CHECK(d == b.NextDouble());
    CHECK(d >= 0.0);
    CHECK(d < 1.0);
  }
  CHECK(differs);
  CHECK(a.Below(0) == 0);
}

TEST_CASE("metrics: JSON has the hit ratio and tiers") {
  Metrics m;
  m.gets = 4;
  m.memory_hits = 1;
  m.store_hits = 1;
  std::string json = m.ToJson();
  CHECK(json.find("\"hit_ratio\":0.5") != std::string::npos);
  CHECK(json.find("\"memory\":{") != std::string::npos);
}

}  // namespace
}  // namespace preheat
