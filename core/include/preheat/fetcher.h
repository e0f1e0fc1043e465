// Fetcher: the network's interface (libcurl natively, fetch() in browsers,
// fake origins in tests). The core calls it; drivers implement it.
#ifndef PREHEAT_FETCHER_H_
#define PREHEAT_FETCHER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "preheat/headers.h"
#include "preheat/status.h"
#include "preheat/store.h"  // OpId
#include "preheat/time.h"

namespace preheat {

// Priority lanes, highest first. The core never lets a lower lane delay a
// higher one: each lane has its own in-flight limit and queue.
enum class Lane : uint8_t { kNavigate = 0, kRevalidate = 1, kPreheat = 2 };
inline constexpr int kLaneCount = 3;
const char* LaneName(Lane lane);

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // absolute, normalised
  Headers headers;  // includes conditional headers the core added
  std::string body;
  Lane lane = Lane::kNavigate;
  // The driver fails the request with kTooLarge once the body exceeds this;
  // 0 means no limit.
  uint64_t max_body_bytes = 0;
  // The driver fails the request with kTimeout after this long in flight;
  // 0 or less means the driver's default.
  int64_t timeout_ms = 0;
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
};

// The network.
//
// Threading and re-entrancy: as for Store. `done` runs exactly once per
// started request, later, never inside Start or Cancel; after Cancel(op) it
// runs with kCancelled unless the response had already completed.
// Drivers add `Sec-Purpose: prefetch` to kPreheat requests and may map lanes
// to platform priorities; the core does the lane queueing and limits.
class Fetcher {
 public:
  using Done = std::function<void(OpId op, Instant now, Result<HttpResponse> response)>;

  virtual ~Fetcher() = default;

  // Starts a request. An HTTP error status is a successful HttpResponse.
  // Errors (through `done`): kUnavailable (connect failure, reset, DNS),
  // kTimeout, kTooLarge, kCancelled, kInvalidArgument (a URL the driver
  // cannot fetch).
  virtual void Start(OpId op, const HttpRequest& request, Done done) = 0;

  // Cancels a started request; a no-op for unknown or completed ops.
  virtual void Cancel(OpId op) = 0;
};

}  // namespace preheat

#endif  // PREHEAT_FETCHER_H_
