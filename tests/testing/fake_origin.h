// FakeOrigin: a Fetcher answering from a handler, with latency, injected
// faults (network errors, truncated bodies, hung or slow-loris responses that
// only the request's timeout ends) and cancellation. Shared by unit tests and the simulator.
#ifndef PREHEAT_TESTS_TESTING_FAKE_ORIGIN_H_
#define PREHEAT_TESTS_TESTING_FAKE_ORIGIN_H_

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "preheat/fetcher.h"
#include "preheat/prng.h"
#include "testing/sim_loop.h"

namespace preheat::testing {

class FakeOrigin : public Fetcher {
 public:
  // Builds the response at the moment the request reaches the origin.
  using Handler = std::function<HttpResponse(const HttpRequest& request, Instant now)>;

  FakeOrigin(SimLoop* loop, uint64_t seed) : loop_(loop), prng_(seed) {}

  Handler handler;
  int64_t latency_ms = 10;
  int64_t latency_jitter_ms = 0;
  double network_error = 0;  // chance a request fails with kUnavailable
  bool down = false;         // every request fails with kUnavailable
  // Chance the body arrives cut short: a real fetcher reports kUnavailable
  // (never a partial body), after the latency.
  double truncated = 0;
  // Chance the origin hangs or trickles bytes (slow-loris): the fetcher's
  // timeout_ms ends the request with kTimeout.
  double hang = 0;

  void Start(OpId op, const HttpRequest& request, Done done) override {
    requests.push_back(request);
    std::string flight_key = FlightKey(request);
    if (request.method == "GET") {
      int n = ++inflight_by_key_[flight_key];
      if (n > max_inflight_per_key) max_inflight_per_key = n;
    }
    int64_t latency = latency_ms;
    if (latency_jitter_ms > 0) {
      latency += static_cast<int64_t>(prng_.Below(static_cast<uint64_t>(latency_jitter_ms)));
    }
    bool fail = down || prng_.Chance(network_error);
    bool cut = !fail && prng_.Chance(truncated);
    bool hung = !fail && !cut && prng_.Chance(hang);
    // The origin generates the response when the request arrives; the
    // client receives it `latency` later.
    Result<HttpResponse> result =
        fail  ? Result<HttpResponse>(Status::Unavailable("injected network error"))
        : cut ? Result<HttpResponse>(Status::Unavailable("injected truncated body"))
        : hung ? Result<HttpResponse>(Status::Timeout("injected hung origin"))
              : Result<HttpResponse>(handler(request, loop_->now()));
    if (hung) latency = request.timeout_ms > 0 ? request.timeout_ms : 30000;
    pending_[op] = Pending{done, flight_key, request.method == "GET"};
    loop_->After(latency, [this, op, result]() mutable {
      auto it = pending_.find(op);
      if (it == pending_.end()) return;  // cancelled and already answered
      Done d = Finish(it);
      d(op, loop_->now(), std::move(result));
    });
  }

  void Cancel(OpId op) override {
    auto it = pending_.find(op);
    if (it == pending_.end()) return;
    // The origin may still be working on it; from the client's side the
    // request is over, so it no longer counts as in flight for its key.
    Done d = Finish(it);
    loop_->After(0, [this, op, d]() { d(op, loop_->now(), Status::Cancelled("cancelled")); });
    cancelled.insert(op);
  }

  // Forgets requests in flight (a client crash).
  void Crash() {
    pending_.clear();
    inflight_by_key_.clear();
  }

  size_t CountRequests(const std::string& url) const {
    size_t n = 0;
    for (const auto& r : requests) n += r.url == url;
    return n;
  }
  size_t inflight() const { return pending_.size(); }

  std::vector<HttpRequest> requests;
  std::set<OpId> cancelled;
  int max_inflight_per_key = 0;

 private:
  // Requests of different namespaces are different keys: the simulator tags
  // them with an X-Namespace header.
  static std::string FlightKey(const HttpRequest& r) {
    return r.headers.Get("x-namespace").value_or("") + " " + r.url;
  }

  struct Pending {
    Done done;
    std::string flight_key;
    bool is_get;
  };
  Done Finish(std::map<OpId, Pending>::iterator it) {
    Done d = std::move(it->second.done);
    if (it->second.is_get) --inflight_by_key_[it->second.flight_key];
    pending_.erase(it);
    return d;
  }

  SimLoop* loop_;
  Prng prng_;
  std::map<OpId, Pending> pending_;
  std::map<std::string, int> inflight_by_key_;
};

}  // namespace preheat::testing

#endif  // PREHEAT_TESTS_TESTING_FAKE_ORIGIN_H_
