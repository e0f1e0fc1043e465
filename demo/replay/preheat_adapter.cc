#include "preheat_adapter.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace preheat_demo {

struct PreheatAdapter::State {
  std::mutex mu;
  bool stopped = false;
  uint32_t inflight = 0;
  std::deque<std::string> queue;  // next first
  std::set<std::string> known;    // cached (as far as answers told us) or in flight
  PreheatStats stats;
};

std::vector<std::string> WalkReferences(const std::string& body, const std::string& origin) {
  std::vector<std::string> out;
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return out;
  auto add = [&](const nlohmann::json& v) {
    if (!v.is_string()) return;
    std::string url = v.get<std::string>();
    if (url.rfind("/", 0) == 0) url = origin + url;
    if (std::find(out.begin(), out.end(), url) == out.end()) out.push_back(std::move(url));
  };
  if (j.contains("issues") && j["issues"].is_array()) {
    for (const auto& row : j["issues"]) {
      if (row.is_object() && row.contains("api_url")) add(row["api_url"]);
    }
  }
  if (j.contains("references") && j["references"].is_array()) {
    for (const auto& ref : j["references"]) add(ref);
  }
  return out;
}

PreheatAdapter::PreheatAdapter(preheat_native::Runtime* runtime, PreheatAdapterOptions options)
    : state_(std::make_shared<State>()), runtime_(runtime), options_(std::move(options)) {}

void PreheatAdapter::Navigated(const std::string& url, int status, const std::string& body) {
  std::vector<std::string> refs = WalkReferences(body, options_.origin);
  if (refs.size() > options_.per_page_max) refs.resize(options_.per_page_max);
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (status >= 200 && status < 300) state_->known.insert(url);
    state_->queue.clear();
    for (auto& r : refs) {
      if (state_->known.count(r) == 0) state_->queue.push_back(std::move(r));
    }
  }
  Pump();
}

void PreheatAdapter::Hover(const std::string& url) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stats.hovers++;
    if (state_->known.count(url) != 0) return;
    auto it = std::find(state_->queue.begin(), state_->queue.end(), url);
    if (it != state_->queue.end()) state_->queue.erase(it);
    state_->queue.push_front(url);
  }
  Pump();
}

void PreheatAdapter::Stop() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->stopped = true;
  state_->queue.clear();
}

PreheatStats PreheatAdapter::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

void PreheatAdapter::Pump() {
  // Take work under the lock, call the runtime outside it: after Shutdown
  // the runtime answers inside Get, on this thread, and the answer locks.
  std::vector<std::string> start;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    while (!state_->stopped && state_->inflight < options_.inflight_max &&
           !state_->queue.empty()) {
      std::string url = std::move(state_->queue.front());
      state_->queue.pop_front();
      if (!state_->known.insert(url).second) continue;
      state_->inflight++;
      state_->stats.started++;
      start.push_back(std::move(url));
    }
  }
  for (auto& url : start) {
    preheat::CacheRequest req;
    req.url = url;
    req.lane = preheat::Lane::kPreheat;
    std::shared_ptr<State> state = state_;
    // `this` is used for Pump only while not stopped; Stop() comes before
    // the adapter goes away and before the runtime shuts down.
    runtime_->Get(std::move(req), [this, state, url](preheat::Result<preheat::CacheResult> r) {
      bool pump = false;
      {
        std::lock_guard<std::mutex> lock(state->mu);
        state->inflight--;
        bool ok = r.ok() && r->entry && r->entry->status >= 200 && r->entry->status < 300;
        if (!ok) {
          state->stats.failed++;
          state->known.erase(url);  // may be tried again later
        } else if (r->source == preheat::Source::kNetwork) {
          state->stats.fetched++;
          state->stats.bytes += r->entry->body.size();
          state->stats.bytes_by_url[url] += r->entry->body.size();
        }
        pump = !state->stopped;
      }
      if (pump) Pump();
    });
  }
}

}  // namespace preheat_demo
