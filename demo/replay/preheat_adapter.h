// PreheatAdapter: the demo's stand-in for the core Preheater until it lands
// (core/include/preheat/preheater.h). Same inputs (a page surfaced with its
// references, a hover intent), same effect: Runtime::Get in Lane::kPreheat
// for what is not already cached. Kept to this file and its .cc so it can be
// swapped for the core Preheater without touching the replay.
//
// Policy:
//  - Navigated(page, body): walks the page's JSON for references (a list's
//    issues[].api_url in list order, an issue's references[]) and makes them
//    the preheat queue, replacing the previous page's queue (the user left
//    that page; what was not started is no longer likely).
//  - Hover(url): the strongest signal; jumps to the front of the queue.
//  - At most `inflight_max` preheats on the wire (the engine's preheat lane
//    limit), so the adapter, not the engine's FIFO, decides the order.
//  - Skips URLs it knows are cached or in flight. It learns that from the
//    answers it sees (navigations and preheats), because the Runtime does
//    not expose Engine::HasInMemoryOrInflight; with the demo's memory budget
//    nothing is evicted, so this view is exact.
#ifndef PREHEAT_DEMO_REPLAY_PREHEAT_ADAPTER_H_
#define PREHEAT_DEMO_REPLAY_PREHEAT_ADAPTER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "preheat_native/runtime.h"

namespace preheat_demo {

struct PreheatAdapterOptions {
  std::string origin;  // "http://127.0.0.1:<port>", prefixed to relative references
  uint32_t inflight_max = 2;
  uint32_t per_page_max = 25;  // references taken from one page
};

struct PreheatStats {
  uint64_t started = 0;    // preheat Gets issued
  uint64_t fetched = 0;    // answered from the network (a real preheat)
  uint64_t failed = 0;     // errors and non-2xx
  uint64_t hovers = 0;
  uint64_t bytes = 0;      // body bytes fetched by preheating
  // Body bytes per URL fetched by preheating (for the waste accounting).
  std::map<std::string, uint64_t> bytes_by_url;
};

// Thread-safety: every method may be called from any thread; the runtime's
// callbacks re-enter it on the loop thread.
class PreheatAdapter {
 public:
  // `runtime` must outlive the adapter's use: call Stop() before shutting
  // the runtime down.
  PreheatAdapter(preheat_native::Runtime* runtime, PreheatAdapterOptions options);

  // A navigation to absolute `url` answered with `body` (JSON).
  void Navigated(const std::string& url, int status, const std::string& body);
  // The pointer rests on a link to absolute `url`.
  void Hover(const std::string& url);
  // Issues nothing more; preheats in flight complete or are cancelled by
  // the runtime's Shutdown.
  void Stop();

  PreheatStats stats() const;

 private:
  struct State;
  void Pump();  // starts queued preheats while there is room
  std::shared_ptr<State> state_;
  preheat_native::Runtime* runtime_;
  PreheatAdapterOptions options_;
};

// The references of a page's JSON, as absolute URLs (origin + path), in
// page order, without repeats; empty for bodies that are not JSON.
std::vector<std::string> WalkReferences(const std::string& body, const std::string& origin);

}  // namespace preheat_demo

#endif  // PREHEAT_DEMO_REPLAY_PREHEAT_ADAPTER_H_
