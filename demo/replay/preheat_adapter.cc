#include "preheat_adapter.h"

#include <nlohmann/json.hpp>

#include "preheat/references.h"
#include "preheat/url.h"

namespace preheat_demo {

namespace {

const std::vector<preheat::JsonReferenceRule>& Rules() {
  static const std::vector<preheat::JsonReferenceRule> rules = {
      {"/issues/*/api_url", ""},
      {"/references/*", ""},
  };
  return rules;
}

std::vector<preheat::Reference> Extract(const std::string& body, const std::string& page_url) {
  auto page = preheat::ParseUrl(page_url);
  if (!page.ok()) return {};
  preheat::ExtractReport report;
  return preheat::ExtractJsonReferences(body, *page, Rules(), preheat::ExtractOptions{}, &report);
}

}  // namespace

preheat::PreheatOptions DemoPreheatOptions() {
  preheat::PreheatOptions o;
  o.routes = {"/api/issues/:id", "/api/repos/:repo/issues"};
  o.inflight_max = 2;
  o.per_surface_max = 6;
  o.requests_per_s = 8;
  o.requests_burst = 8;
  o.bytes_per_s = 2 << 20;
  o.bytes_burst = 4 << 20;
  o.hover_intent_ms = 50;
  return o;
}

std::vector<std::string> WalkReferences(const std::string& body, const std::string& page_url) {
  std::vector<std::string> out;
  for (auto& ref : Extract(body, page_url)) out.push_back(std::move(ref.url));
  return out;
}

PreheatAdapter::PreheatAdapter(preheat_native::Runtime* runtime, std::string origin)
    : runtime_(runtime), origin_(std::move(origin)) {}

void PreheatAdapter::Navigated(const std::string& url, int status, const std::string& body) {
  std::string from;
  {
    std::lock_guard<std::mutex> lock(mu_);
    from = last_url_;
    last_url_ = url;
  }
  if (!from.empty()) runtime_->Navigated(from, url);
  runtime_->Surface(url, status >= 200 && status < 300 ? Extract(body, url)
                                                       : std::vector<preheat::Reference>{});
}

void PreheatAdapter::Hover(const std::string& url) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    hovers_++;
  }
  runtime_->Intent(url, preheat::IntentKind::kHoverStart);
}

PreheatStats PreheatAdapter::Collect() {
  PreheatStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.hovers = hovers_;
  }
  auto j = nlohmann::json::parse(runtime_->PreheatStatsJson().get(), nullptr, false);
  if (!j.is_object()) return s;
  s.started = j.value("issued", uint64_t{0});
  s.fetched = j.value("fetched", uint64_t{0});
  s.failed = j.value("failures", uint64_t{0});
  s.bytes = j.value("fetched_bytes", uint64_t{0});
  s.used_bytes = j.value("used_bytes", uint64_t{0});
  return s;
}

}  // namespace preheat_demo
