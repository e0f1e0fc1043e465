#include "preheat_adapter.h"

#include <algorithm>
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

// "http://host:port" of an absolute URL ("" when it has none).
std::string OriginOf(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  size_t path = url.find('/', scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

std::vector<preheat::Reference> Extract(const std::string& body, const std::string& page_url) {
  auto page = preheat::ParseUrl(page_url);
  if (!page.ok()) return {};
  preheat::ExtractReport report;
  auto refs =
      preheat::ExtractJsonReferences(body, *page, Rules(), preheat::ExtractOptions{}, &report);
  // An issue page also links its repository's list (page 1), after the
  // cross-references in page order; users go there about 40% of the time.
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("references") && j.contains("repo") && j["repo"].is_string()) {
    const std::string& repo = j["repo"].get_ref<const std::string&>();
    bool plain = !repo.empty() && repo.size() <= 100 &&
                 std::all_of(repo.begin(), repo.end(), [](char c) {
                   return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                 });
    std::string origin = OriginOf(page_url);
    if (plain && !origin.empty()) {
      preheat::Reference list;
      list.url = origin + "/api/repos/" + repo + "/issues?page=1";
      list.position = static_cast<uint32_t>(refs.size());
      bool seen = false;
      for (const auto& r : refs) seen |= r.url == list.url;
      if (!seen) refs.push_back(std::move(list));
    }
  }
  return refs;
}

}  // namespace

preheat::PreheatOptions DemoPreheatOptions() {
  preheat::PreheatOptions o;
  o.routes = {"/api/issues/:id", "/api/repos/:repo/issues"};
  o.inflight_max = 2;
  o.per_surface_max = 3;
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
