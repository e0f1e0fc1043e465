#include "preheat/metrics.h"

#include <cmath>

#include <nlohmann/json.hpp>

namespace preheat {

// Values below 64 ms get a bucket each; above, each power of two is split
// into 32 sub-buckets (about 3% relative error).
int LatencyHistogram::BucketOf(int64_t v) {
  if (v < 64) return v < 0 ? 0 : static_cast<int>(v);
  int msb = 63 - __builtin_clzll(static_cast<uint64_t>(v));  // >= 6
  int bucket = 64 + (msb - 6) * 32 + static_cast<int>((v >> (msb - 5)) & 31);
  return bucket < kBuckets ? bucket : kBuckets - 1;
}

int64_t LatencyHistogram::ValueOf(int bucket) {
  if (bucket < 64) return bucket;
  int msb = (bucket - 64) / 32 + 6;
  int64_t sub = (bucket - 64) % 32;
  int64_t low = (int64_t{1} << msb) + (sub << (msb - 5));
  int64_t width = int64_t{1} << (msb - 5);
  return low + width / 2;  // bucket midpoint
}

void LatencyHistogram::Record(int64_t latency_ms) {
  if (latency_ms < 0) latency_ms = 0;
  buckets_[BucketOf(latency_ms)]++;
  count_++;
  if (latency_ms < kInstantMs) {
    instant_++;
  } else if (latency_ms < kFastMs) {
    fast_++;
  }
}

int64_t LatencyHistogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  if (!(p >= 0)) p = 0;  // NaN too: it would make the rank undefined
  if (p > 100) p = 100;
  // The smallest value with at least p% of samples at or below it: the
  // nearest rank, ceil(p% of count) (rounding to the nearest rank instead
  // would answer a sample with fewer than p% at or below it, e.g. the 2nd
  // of 3 for p75). p * count is exact for whole p, so whole ranks stay whole.
  double exact_rank = std::ceil(p * static_cast<double>(count_) / 100.0);
  uint64_t rank = exact_rank < 1 ? 1 : static_cast<uint64_t>(exact_rank);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return ValueOf(i);
  }
  return ValueOf(kBuckets - 1);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (int i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  instant_ += other.instant_;
  fast_ += other.fast_;
}

namespace {
nlohmann::json HistogramJson(const LatencyHistogram& h) {
  return nlohmann::json{{"count", h.count()},          {"instant", h.instant()},
                        {"fast", h.fast()},            {"slow", h.slow()},
                        {"p10", h.Percentile(10)},     {"p25", h.Percentile(25)},
                        {"p50", h.Percentile(50)},     {"p75", h.Percentile(75)},
                        {"p90", h.Percentile(90)}};
}
}  // namespace

std::string LatencyHistogram::ToJson() const { return HistogramJson(*this).dump(); }

std::string Metrics::ToJson() const {
  nlohmann::json j;
  j["gets"] = gets;
  j["prefetches"] = prefetches;
  j["memory_hits"] = memory_hits;
  j["store_hits"] = store_hits;
  j["misses"] = misses;
  j["peeks"] = peeks;
  j["peek_hits"] = peek_hits;
  j["fresh_served"] = fresh_served;
  j["stale_served"] = stale_served;
  j["stale_if_error_served"] = stale_if_error_served;
  j["revalidated_served"] = revalidated_served;
  j["coalesced"] = coalesced;
  j["revalidations"] = revalidations;
  j["not_modified"] = not_modified;
  j["revalidations_changed"] = revalidations_changed;
  j["notifications"] = notifications;
  j["requests"] = requests;
  j["requests_by_lane"] = {{"navigate", requests_by_lane[0]},
                           {"revalidate", requests_by_lane[1]},
                           {"preheat", requests_by_lane[2]}};
  j["network_errors"] = network_errors;
  j["http_errors"] = http_errors;
  j["queue_rejected"] = queue_rejected;
  j["not_stored"] = not_stored;
  j["too_large"] = too_large;
  j["malformed_headers"] = malformed_headers;
  j["bad_requests"] = bad_requests;
  j["store_reads"] = store_reads;
  j["store_errors"] = store_errors;
  j["degrade_removals"] = degrade_removals;
  j["corrupt_records"] = corrupt_records;
  j["batches_written"] = batches_written;
  j["records_written"] = records_written;
  j["store_evicted_bytes"] = store_evicted_bytes;
  j["writes_dropped"] = writes_dropped;
  j["store_degraded"] = store_degraded;
  j["store_degraded_reason"] = store_degraded_reason;
  j["memory"] = {{"bytes", memory_bytes}, {"entries", memory_entries},
                 {"evictions", memory_evictions}};
  j["store"] = {{"bytes", store_bytes}, {"entries", store_entries},
                {"pending_writes", pending_writes}};
  j["invalidations"] = invalidations;
  j["mutations"] = mutations;
  j["rollbacks"] = rollbacks;
  j["hit_ratio"] = gets == 0 ? 0.0
                             : static_cast<double>(memory_hits + store_hits) /
                                   static_cast<double>(gets);
  j["get_latency_ms"] = HistogramJson(get_latency);
  return j.dump();
}

}  // namespace preheat
