// Preheater: fetches what the user is likely to open next, at the lowest
// priority, only when it is not cached yet, under strict budgets.
#ifndef PREHEAT_PREHEATER_H_
#define PREHEAT_PREHEATER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "preheat/circuit_breaker.h"
#include "preheat/engine.h"
#include "preheat/metrics.h"
#include "preheat/references.h"
#include "preheat/status.h"
#include "preheat/time.h"
#include "preheat/transition_model.h"

namespace preheat {

enum class IntentKind : uint8_t {
  kHoverStart = 0,   // pointer entered a link; counts once held hover_intent_ms
  kHoverEnd = 1,     // pointer left (cancels a hover not yet held long enough)
  kPointerDown = 2,  // strong: the click is on its way
  kTouchStart = 3,   // strong
  kFocus = 4,        // keyboard focus on a link; like a held hover
};

struct PreheatOptions {
  std::string namespace_name;  // the engine namespace preheats go into
  // Sent with every preheat (e.g. what the app's own requests carry to
  // select Vary variants or identify the account).
  Headers request_headers;
  // Route patterns ("/issues/:id") the model also learns at route level, so
  // what users do on one issue informs the next one.
  std::vector<std::string> routes;
  // Global request and byte budgets (token buckets). Bytes are charged when
  // a response arrives; no preheat starts while the byte bucket is in debt.
  double requests_per_s = 4;
  double requests_burst = 8;
  double bytes_per_s = 256 * 1024;
  double bytes_burst = 1024 * 1024;
  uint32_t inflight_max = 2;     // preheats on the wire at once
  uint32_t queue_max = 64;       // candidates waiting
  uint32_t per_surface_max = 12; // preheats issued for one surface
  int64_t hover_intent_ms = 80;  // a hover held this long is intent
  // Candidates scoring below this are not preheated from surfaces alone
  // (intents always qualify).
  double score_min = 0.05;
  // A preheated entry not used within this long counts as wasted.
  int64_t use_window_ms = 10 * 60 * 1000;
  uint32_t tracked_max = 4096;   // preheated entries followed for accounting
  BreakerOptions breaker;
  TransitionModelOptions model;
};

struct PreheatStats {
  uint64_t candidates = 0;        // references offered by surfaces and intents
  uint64_t issued = 0;            // requests started (not those a tier answered)
  uint64_t skipped_cached = 0;    // already in a tier (or on its way), or the page being viewed
  uint64_t skipped_low_score = 0;
  uint64_t skipped_save_data = 0;
  uint64_t dropped_left_surface = 0;
  uint64_t dropped_queue_full = 0;
  uint64_t dropped_budget = 0;    // per-surface budget exhausted
  uint64_t breaker_blocked = 0;   // start attempts refused by the breaker
  uint64_t failures = 0;
  uint64_t fetched = 0;           // preheats that stored a response (not a failure)
  uint64_t used = 0;              // a navigation opened a preheated entry (or joined it in flight)
  uint64_t evicted_unused = 0;    // gone from memory before any use
  uint64_t wasted_bytes = 0;      // bytes of preheats never used in use_window_ms
  uint64_t fetched_bytes = 0;
  uint64_t used_bytes = 0;        // bytes of preheats a navigation then used
  LatencyHistogram preheat_to_use_ms;
};

// Single-threaded like the Engine it drives; every entry point takes `now`.
// Call NextDeadline()/OnDeadline(now) like the engine's.
class Preheater {
 public:
  // Errors: kInvalidArgument for non-positive limits, breaker settings
  // under which it could never open or hold back (min_requests above the
  // window, a zero window or open_ms, open_max_ms below open_ms,
  // failure_ratio_max outside [0, 1)), or a bad namespace; kLimitReached (Engine::WatchClears) when the engine has no
  // subscription left. `engine` must outlive the preheater. The preheater
  // watches the engine's Clear: clearing its namespace (logout) drops its
  // queued preheats and hovers, and in-flight preheats the clear cancels
  // start no others.
  static Result<std::unique_ptr<Preheater>> Create(PreheatOptions options, Engine* engine,
                                                   Instant now);
  ~Preheater();

  // The user is now on `page_url`, whose references are `refs` (from
  // ExtractHtmlReferences / ExtractJsonReferences or the app; URLs the
  // engine does not take are skipped, the others are normalised as its
  // keys are, fragment dropped). Queued preheats of the previous surface
  // are dropped: the user left it. The same page surfaced again with no
  // Navigated between (a re-render) goes on with the budget
  // (per_surface_max) it has left.
  void Surface(const std::string& page_url, const std::vector<Reference>& refs, Instant now);
  // Visibility of a reference on the current surface (from an
  // IntersectionObserver); visible ones rank higher.
  void Visible(const std::string& url, bool visible, Instant now);
  // Pointer or focus intent towards `url`. Ignored while disabled.
  void Intent(const std::string& url, IntentKind kind, Instant now);
  // A navigation happened: teaches the model and accounts preheats used.
  void Navigated(const std::string& from_url, const std::string& to_url, Instant now);
  // Save-Data or a slow connection: only strong intents (pointerdown,
  // touchstart) still preheat.
  void SetSaveData(bool save_data);
  // Disabling drops queued preheats and hovers; nothing is queued while
  // disabled.
  void SetEnabled(bool enabled);

  Instant NextDeadline() const;
  void OnDeadline(Instant now);

  // Persists the transition model through the engine's store (a blob named
  // after the namespace), and loads it back, adding to what the model has
  // learned since. Errors: Engine::PutBlob's; LoadModel: GetBlob's and
  // TransitionModel::Import's (kNotFound on a first start).
  Status SaveModel(Instant now);
  void LoadModel(Instant now, std::function<void(Status)> done);

  const PreheatStats& stats() const;
  BreakerState breaker_state(Instant now) const;
  TransitionModel& model();
  // Stats, breaker state, queue and tracked preheats as JSON.
  std::string StatsJson(Instant now) const;

 private:
  struct Impl;
  explicit Preheater(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace preheat

#endif  // PREHEAT_PREHEATER_H_
