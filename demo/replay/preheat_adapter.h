// PreheatAdapter: connects the replay's navigations to the core Preheater
// that the Runtime hosts (RuntimeOptions::preheat). It turns each page's
// JSON into references (ExtractJsonReferences: a list's issues[].api_url in
// list order, an issue's references[], then the repository list,
// page 1) for Preheater::Surface, hovers into
// Intent(kHoverStart), and navigations into Navigated. Everything else —
// skipping what is cached, the lowest lane, token buckets, the per-surface
// budget, the breaker, the transition model — is the library's.
#ifndef PREHEAT_DEMO_REPLAY_PREHEAT_ADAPTER_H_
#define PREHEAT_DEMO_REPLAY_PREHEAT_ADAPTER_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "preheat/preheater.h"
#include "preheat_native/runtime.h"

namespace preheat_demo {

// The demo's preheat policy: what RuntimeOptions::preheat is set to. Three
// preheats per page: on a list its top rows (Zipf: rows 1-3 take ~48% of
// its clicks), on an issue its cross-references and its list; a hover held
// 50 ms fetches the rest. What is cached or in flight is skipped.
preheat::PreheatOptions DemoPreheatOptions();

struct PreheatStats {
  uint64_t started = 0;  // preheat requests issued
  uint64_t fetched = 0;  // answered from the network and stored
  uint64_t failed = 0;
  uint64_t hovers = 0;
  uint64_t bytes = 0;       // body bytes fetched by preheating
  uint64_t used_bytes = 0;  // of which a navigation then used
};

// Thread-safety: every method may be called from any thread.
class PreheatAdapter {
 public:
  // `runtime` must have been created with RuntimeOptions::preheat set and
  // must outlive the adapter's use.
  PreheatAdapter(preheat_native::Runtime* runtime, std::string origin);

  // A navigation to absolute `url` answered with `body` (JSON).
  void Navigated(const std::string& url, int status, const std::string& body);
  // The pointer rests on a link to absolute `url`.
  void Hover(const std::string& url);
  // Reads the preheater's counters; call before the runtime shuts down.
  PreheatStats Collect();

 private:
  preheat_native::Runtime* runtime_;
  std::string origin_;
  std::mutex mu_;
  std::string last_url_;
  uint64_t hovers_ = 0;
};

// The references of a page's JSON, as absolute URLs, in page order, without
// repeats; empty for bodies that are not JSON.
std::vector<std::string> WalkReferences(const std::string& body, const std::string& page_url);

}  // namespace preheat_demo

#endif  // PREHEAT_DEMO_REPLAY_PREHEAT_ADAPTER_H_
