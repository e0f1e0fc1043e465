// Metrics: counters and a latency histogram, exportable as JSON.
#ifndef PREHEAT_METRICS_H_
#define PREHEAT_METRICS_H_

#include <array>
#include <cstdint>
#include <string>

namespace preheat {

// Latency buckets with about 3% relative error, from 0 ms to about 49 days;
// larger values go into the last bucket. Fixed size: recording never
// allocates.
class LatencyHistogram {
 public:
  static constexpr int64_t kInstantMs = 200;  // "instant": painted in < 200 ms
  static constexpr int64_t kFastMs = 1000;    // "fast": < 1000 ms

  void Record(int64_t latency_ms);
  uint64_t count() const { return count_; }
  uint64_t instant() const { return instant_; }  // < 200 ms
  uint64_t fast() const { return fast_; }        // 200 .. 999 ms
  uint64_t slow() const { return count_ - instant_ - fast_; }
  // The value at percentile p (0..100), to bucket precision; 0 when empty.
  int64_t Percentile(double p) const;
  void Merge(const LatencyHistogram& other);
  // {"count":..,"instant":..,"fast":..,"slow":..,"p10":..,"p25":..,"p50":..,
  //  "p75":..,"p90":..}
  std::string ToJson() const;

 private:
  static constexpr int kBuckets = 64 + 26 * 32;
  static int BucketOf(int64_t v);
  static int64_t ValueOf(int bucket);
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t instant_ = 0;
  uint64_t fast_ = 0;
};

// What the engine counts. Plain fields so drivers can read them cheaply.
struct Metrics {
  // Where gets were answered.
  uint64_t gets = 0;
  uint64_t prefetches = 0;             // Prefetch calls (preheater)
  uint64_t memory_hits = 0;
  uint64_t store_hits = 0;
  uint64_t misses = 0;
  uint64_t peeks = 0;
  uint64_t peek_hits = 0;
  // What was served.
  uint64_t fresh_served = 0;
  uint64_t stale_served = 0;           // within stale-while-revalidate
  uint64_t stale_if_error_served = 0;  // origin failed, stale-if-error
  uint64_t revalidated_served = 0;     // validated (304) before serving
  uint64_t coalesced = 0;              // gets that joined a request in flight
  // Revalidation.
  uint64_t revalidations = 0;          // background + blocking
  uint64_t not_modified = 0;           // 304s
  uint64_t revalidations_changed = 0;  // new representation differed
  uint64_t notifications = 0;          // subscriber callbacks made
  // Network.
  uint64_t requests = 0;
  uint64_t requests_by_lane[3] = {0, 0, 0};
  uint64_t network_errors = 0;
  uint64_t http_errors = 0;       // 5xx and other error statuses received
  uint64_t queue_rejected = 0;    // a lane queue was full
  // Storage decisions.
  uint64_t not_stored = 0;        // not storable (no-store, status, Vary: *)
  uint64_t too_large = 0;         // over entry_max_bytes
  uint64_t malformed_headers = 0;
  uint64_t bad_requests = 0;      // malformed URL, key or namespace
  // Persistent tier.
  uint64_t store_reads = 0;
  uint64_t store_errors = 0;
  // Removals sent to a store as it degraded, so that no removed or
  // invalidated record outlives the failure (tried once).
  uint64_t degrade_removals = 0;
  uint64_t corrupt_records = 0;   // dropped on decode
  uint64_t batches_written = 0;
  uint64_t records_written = 0;
  uint64_t store_evicted_bytes = 0;
  uint64_t writes_dropped = 0;    // pending_writes_max was reached
  bool store_degraded = false;    // memory-only after a store failure
  std::string store_degraded_reason;
  // Tier sizes (updated as they change).
  uint64_t memory_bytes = 0;
  uint64_t memory_entries = 0;
  uint64_t memory_evictions = 0;
  uint64_t store_bytes = 0;
  uint64_t store_entries = 0;
  uint64_t pending_writes = 0;
  // Invalidation and mutation.
  uint64_t invalidations = 0;
  uint64_t mutations = 0;
  uint64_t rollbacks = 0;
  // Time from Get() to its answer.
  LatencyHistogram get_latency;

  std::string ToJson() const;
};

}  // namespace preheat

#endif  // PREHEAT_METRICS_H_
