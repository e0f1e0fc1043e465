#include "preheat/preheater.h"

#include <algorithm>
#include <cmath>
#include <list>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "preheat/http_date.h"
#include "preheat/rate_limit.h"
#include "preheat/route.h"

namespace preheat {

namespace {

constexpr size_t kVisibleMax = 1024;
constexpr size_t kHoversMax = 16;
constexpr double kIntentScore = 1.0;
constexpr double kStrongIntentScore = 2.0;

// Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date. -1 when
// absent or malformed.
int64_t RetryAfterMs(const CacheEntry& e, Instant now) {
  auto value = e.headers.Get("retry-after");
  if (!value) return -1;
  std::string_view v = TrimOws(*value);
  if (!v.empty() && v.size() <= 9 &&
      std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t seconds = 0;
    for (char c : v) seconds = seconds * 10 + (c - '0');
    return seconds * 1000;
  }
  if (auto at = ParseHttpDate(v)) return std::max<int64_t>(0, ElapsedMs(now, *at));
  return -1;
}

}  // namespace

struct Preheater::Impl {
  struct Candidate {
    std::string url;
    std::string key;
    double score = 0;
    bool intent = false;
    bool strong = false;
  };
  using TrackedOrder = std::list<std::pair<std::string, Instant>>;  // url, fetched at
  struct Tracked {
    Instant fetched_at;
    uint64_t bytes = 0;
    std::string key;
    TrackedOrder::iterator order;  // its place in tracked_order
  };

  PreheatOptions options;
  Engine* engine;
  mutable TokenBucket requests;
  mutable TokenBucket bytes;
  CircuitBreaker breaker;
  TransitionModel model;
  std::vector<std::pair<RoutePattern, std::string>> routes;
  PreheatStats stats;
  bool save_data = false;
  bool enabled = true;
  std::string current_page;
  // Places of the current surface's budget taken: preheats issued for it,
  // and cached top candidates. Kept when the same page surfaces again
  // without a navigation (a re-render), whose cached candidates then take
  // no place again: its budget is not spent again on what it could not
  // keep (an error status, no-store).
  uint32_t surface_issued = 0;
  std::vector<Candidate> queue;
  std::unordered_map<std::string, bool> visible;
  std::vector<std::pair<std::string, Instant>> hovers;  // url, started
  uint32_t inflight = 0;
  // The URLs of preheats on the wire (at most inflight_max), and whether a
  // navigation opened one before its answer came: that navigation joined
  // the request, so the preheat was used though it was never tracked.
  std::unordered_map<std::string, bool> flying;
  // Preheats followed for accounting, by URL, and the same oldest first:
  // always in step, so both stay within tracked_max.
  std::unordered_map<std::string, Tracked> tracked;
  TrackedOrder tracked_order;
  // The latest `now` the preheater was given: NextDeadline must not answer
  // from an earlier time than the budgets were last updated at.
  Instant seen;
  Engine::SubscriptionId clear_watch = 0;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  Impl(PreheatOptions opts, Engine* e, Instant now)
      : options(std::move(opts)),
        engine(e),
        requests(options.requests_per_s, options.requests_burst, now),
        bytes(options.bytes_per_s, options.bytes_burst, now),
        breaker(options.breaker),
        model(options.model) {}

  std::string RouteKey(const std::string& url) const {
    auto parsed = ParseUrl(url);
    if (!parsed.ok()) return "";
    for (const auto& [pattern, text] : routes) {
      if (pattern.Match(parsed->path)) return "route:" + text;
    }
    return "";
  }

  double Score(const Reference& ref, Instant now) const {
    double p_url = model.Probability(current_page, ref.url, now);
    // Position prior (Zipf-like), weighted by how often this route leads to
    // the candidate's route once enough has been seen.
    double position = 1.0 / std::pow(1.0 + ref.position, 0.7);
    std::string from_route = RouteKey(current_page), to_route = RouteKey(ref.url);
    double route_weight = 0.5;
    if (!from_route.empty() && !to_route.empty() && model.Total(from_route, now) >= 5) {
      route_weight = model.Probability(from_route, to_route, now);
    }
    // What this page's own history says comes first; the prior fills in
    // what it does not know.
    // The position prior fades as the page's own history grows.
    double prior_weight = 1.0 / (1.0 + model.Total(current_page, now) / 5.0);
    double score = p_url + (1 - p_url) * position * route_weight * 0.5 * prior_weight;
    if (ref.hinted) score += 0.2;
    auto v = visible.find(ref.url);
    if (v != visible.end()) score += v->second ? 0.1 : -0.1;
    return score;
  }

  void Enqueue(Candidate c) {
    if (engine->HasInMemoryOrInflight(c.key)) {
      stats.skipped_cached++;
      return;
    }
    for (Candidate& q : queue) {
      if (q.key == c.key) {
        q.score = std::max(q.score, c.score);
        q.intent |= c.intent;
        q.strong |= c.strong;
        return;
      }
    }
    if (queue.size() >= options.queue_max) {
      auto weakest = std::min_element(queue.begin(), queue.end(), [](const auto& a, const auto& b) {
        return a.score < b.score;
      });
      if (weakest->score >= c.score) {
        stats.dropped_queue_full++;
        return;
      }
      *weakest = std::move(c);
      stats.dropped_queue_full++;
      return;
    }
    queue.push_back(std::move(c));
  }

  std::optional<Candidate> MakeCandidate(const std::string& url, double score, bool intent,
                                         bool strong) {
    auto key = Engine::KeyFor(url, options.namespace_name);
    if (!key.ok()) return std::nullopt;
    return CandidateOfKey(std::move(*key), score, intent, strong);
  }
  // `key`: Engine::KeyFor's, made already.
  static Candidate CandidateOfKey(std::string key, double score, bool intent, bool strong) {
    std::string normalized = key.substr(key.find(' ') + 1);
    return Candidate{std::move(normalized), std::move(key), score, intent, strong};
  }

  void Pump(Instant now) {
    seen = std::max(seen, now);
    while (enabled && inflight < options.inflight_max && !queue.empty()) {
      auto best = std::max_element(queue.begin(), queue.end(), [](const auto& a, const auto& b) {
        return a.score < b.score;
      });
      if (!best->intent && surface_issued >= options.per_surface_max) {
        // The surface's budget is spent: its remaining candidates go.
        size_t before = queue.size();
        queue.erase(std::remove_if(queue.begin(), queue.end(), [](const auto& c) { return !c.intent; }),
                    queue.end());
        stats.dropped_budget += before - queue.size();
        continue;
      }
      if (save_data && !best->strong) {
        stats.skipped_save_data++;
        queue.erase(best);
        continue;
      }
      if (engine->HasInMemoryOrInflight(best->key)) {
        stats.skipped_cached++;
        queue.erase(best);
        continue;
      }
      // Budgets first, so a half-open breaker's single probe is not spent
      // on a request that then cannot start.
      if (requests.Available(now) < 1 || bytes.Available(now) < 0) return;
      CircuitBreaker::Ticket ticket = breaker.Allow(now);
      if (!ticket) {
        stats.breaker_blocked++;
        return;
      }
      requests.TryTake(1, now);
      Candidate c = std::move(*best);
      queue.erase(best);
      Issue(std::move(c), ticket, now);
    }
  }

  void Issue(Candidate c, CircuitBreaker::Ticket ticket, Instant now) {
    stats.issued++;
    inflight++;
    if (!c.intent) surface_issued++;
    CacheRequest req;
    req.url = c.url;
    req.namespace_name = options.namespace_name;
    req.headers = options.request_headers;
    req.lane = Lane::kPreheat;
    std::weak_ptr<bool> alive_token = alive;
    std::string url = c.url;
    std::string key = c.key;
    flying[url] = false;
    engine->Prefetch(req, now, [this, alive_token, url, key, ticket](Result<CacheResult> result) {
      if (alive_token.expired()) return;
      OnDone(url, key, ticket, std::move(result), engine->CurrentTime());
    });
  }

  void OnDone(const std::string& url, const std::string& key, CircuitBreaker::Ticket ticket,
              Result<CacheResult> result, Instant now) {
    inflight--;
    bool opened_in_flight = false;
    if (auto f = flying.find(url); f != flying.end()) {
      opened_in_flight = f->second;
      flying.erase(f);
    }
    if (!result.ok()) {
      Code code = result.status().code();
      if (code != Code::kCancelled && code != Code::kLimitReached) stats.failures++;
      // Only what tells of the origin's health counts against it (the
      // breaker's contract: network errors, timeouts, error statuses): a
      // body too large to keep (kTooLarge) or a URL the driver refuses
      // (kInvalidArgument) is this request's, and must not stop preheating.
      if (code == Code::kUnavailable || code == Code::kTimeout || code == Code::kHttpError) {
        breaker.OnFailure(now, ticket);
      } else {
        breaker.OnAbandoned(ticket);
      }
      // Refused by the engine (its preheat lane's queue, or the waiters of
      // a key, is full): no request went out, so it was not issued and its
      // token goes back, as for a tier's answer.
      if (code == Code::kLimitReached) {
        stats.issued--;
        requests.GiveBack(1, now);
      }
      // Cancelled: the namespace was cleared (logout) or the engine is
      // shutting down; starting the next preheat now would refill it.
      // Refused: the refusal comes inside Issue, so the Pump that issued
      // it goes on by itself (pumping here too would recurse once per
      // refused candidate now that refusals cost no token); a refusal
      // that comes later leaves the queue to NextDeadline.
      if (code != Code::kCancelled && code != Code::kLimitReached) Pump(now);
      return;
    }
    const CacheResult& r = *result;
    if (r.source != Source::kNetwork) {
      // In a tier after all: no request went out, so this says nothing
      // about the origin (nor may it close a half-open breaker), and its
      // request token goes back: the budget is for requests, and a warm
      // store must not hold back the references that need the network.
      stats.skipped_cached++;
      stats.issued--;
      requests.GiveBack(1, now);
      breaker.OnAbandoned(ticket);
      Pump(now);
      return;
    }
    int status = r.entry->status;
    bool failed = status == 429 || status >= 500;
    if (failed) {
      stats.failures++;
      breaker.OnFailure(now, ticket, RetryAfterMs(*r.entry, now));
    } else {
      breaker.OnSuccess(now, ticket);
    }
    uint64_t body_bytes = r.entry->body.size();
    bytes.TakeDebt(static_cast<double>(body_bytes), now);
    stats.fetched_bytes += body_bytes;
    if (r.stored && !failed && opened_in_flight) {
      // Used as it arrived: nothing left to follow.
      stats.fetched++;
      stats.used++;
      stats.used_bytes += body_bytes;
      stats.preheat_to_use_ms.Record(0);
    } else if (r.stored && !failed) {
      stats.fetched++;
      Track(url, key, body_bytes, now);
    } else {
      stats.wasted_bytes += body_bytes;  // fetched, yet nothing kept to use
    }
    Pump(now);
  }

  void Track(const std::string& url, const std::string& key, uint64_t body_bytes, Instant now) {
    if (tracked.count(url)) return;
    while (tracked.size() >= options.tracked_max && !tracked_order.empty()) Expire(now, true);
    tracked_order.emplace_back(url, now);
    tracked[url] = Tracked{now, body_bytes, key, std::prev(tracked_order.end())};
  }

  // Retires the oldest tracked preheat: unused, so its bytes were wasted.
  void Expire(Instant now, bool force) {
    if (!force && ElapsedMs(tracked_order.front().second, now) < options.use_window_ms) return;
    auto it = tracked.find(tracked_order.front().first);
    stats.wasted_bytes += it->second.bytes;
    if (!engine->HasInMemoryOrInflight(it->second.key)) stats.evicted_unused++;
    tracked.erase(it);
    tracked_order.pop_front();
  }

  // The engine is clearing `namespace_name` (logout): what was queued or
  // hovered for it must not be fetched into it afterwards, and what was
  // preheated into it is gone unused.
  void OnClear(const std::string& namespace_name) {
    if (namespace_name != options.namespace_name) return;
    queue.clear();
    hovers.clear();
    while (!tracked_order.empty()) Expire(engine->CurrentTime(), true);
  }

  Instant HoverDeadline() const {
    Instant first = Instant::Never();
    for (const auto& [url, started] : hovers) first = std::min(first, AddMs(started, options.hover_intent_ms));
    return first;
  }
};

Preheater::Preheater(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Preheater::~Preheater() { impl_->engine->Unsubscribe(impl_->clear_watch); }

Result<std::unique_ptr<Preheater>> Preheater::Create(PreheatOptions options, Engine* engine,
                                                     Instant now) {
  if (engine == nullptr) return Status::InvalidArgument("an engine is required");
  if (!(options.requests_per_s > 0) || !(options.requests_burst >= 1) ||
      !(options.bytes_per_s > 0) || !(options.bytes_burst > 0) || options.inflight_max == 0 ||
      options.queue_max == 0) {
    return Status::InvalidArgument("preheat limits must be positive (burst >= 1 request)");
  }
  // A breaker whose window holds fewer outcomes than its verdict needs
  // would never open, nor one whose failures must exceed a ratio of 1; one
  // that opens for no time would never hold back.
  const BreakerOptions& b = options.breaker;
  if (b.window == 0 || b.min_requests == 0 || b.min_requests > b.window || b.open_ms <= 0 ||
      b.open_max_ms < b.open_ms || !(b.failure_ratio_max >= 0 && b.failure_ratio_max < 1)) {
    return Status::InvalidArgument(
        "breaker: need 1 <= min_requests <= window, 0 < open_ms <= open_max_ms and "
        "0 <= failure_ratio_max < 1");
  }
  auto key = Engine::KeyFor("http://x.invalid/", options.namespace_name);
  if (!key.ok()) return key.status();
  auto impl = std::make_unique<Impl>(std::move(options), engine, now);
  for (const auto& text : impl->options.routes) {
    auto pattern = RoutePattern::Parse(text);
    if (!pattern.ok()) return pattern.status();
    impl->routes.emplace_back(std::move(pattern).value(), text);
  }
  Impl* d = impl.get();
  auto watch = engine->WatchClears([d](const std::string& ns) { d->OnClear(ns); });
  if (!watch.ok()) return watch.status();
  impl->clear_watch = *watch;
  return std::unique_ptr<Preheater>(new Preheater(std::move(impl)));
}

void Preheater::Surface(const std::string& page_url, const std::vector<Reference>& refs, Instant now) {
  Impl& d = *impl_;
  size_t before = d.queue.size();
  d.queue.erase(std::remove_if(d.queue.begin(), d.queue.end(), [](const auto& c) { return !c.intent; }),
                d.queue.end());
  d.stats.dropped_left_surface += before - d.queue.size();
  auto page = Engine::KeyFor(page_url, d.options.namespace_name);
  std::string current = page.ok() ? page->substr(page->find(' ') + 1) : page_url;
  const bool same_page = current == d.current_page;
  if (!same_page) d.surface_issued = 0;
  d.current_page = std::move(current);
  d.visible.clear();
  std::vector<Impl::Candidate> ranked;
  for (const Reference& given : refs) {
    d.stats.candidates++;
    if (!d.enabled) continue;
    if (d.save_data) {
      d.stats.skipped_save_data++;
      continue;
    }
    // Scored by its normalised URL, the form the model records navigations
    // and Visible its URLs in: an app's "…/7#comments" is the model's "…/7".
    Result<std::string> key = Engine::KeyFor(given.url, d.options.namespace_name);
    if (!key.ok()) continue;
    Reference ref = given;
    ref.url = key->substr(key->find(' ') + 1);
    double score = d.Score(ref, now);
    if (score < d.options.score_min) {
      d.stats.skipped_low_score++;
      continue;
    }
    auto c = Impl::CandidateOfKey(std::move(*key), score, false, false);
    // The page itself (a "#main" skip link, a title linking to its page)
    // is not what the user opens next: it is what they are on.
    if (c.url == d.current_page) {
      d.stats.skipped_cached++;
      continue;
    }
    ranked.push_back(std::move(c));
  }
  // The budget is the surface's top candidates, cached or not: a cached
  // top candidate uses its place rather than passing it to a weaker one.
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.score > b.score; });
  // The app's references may name one URL more than once (the extractors
  // keep each once): the best-ranked stays, and a duplicate takes no place
  // of the budget.
  std::unordered_set<std::string> ranked_keys;
  ranked.erase(std::remove_if(ranked.begin(), ranked.end(),
                              [&](const auto& c) { return !ranked_keys.insert(c.key).second; }),
               ranked.end());
  for (size_t i = 0; i < ranked.size(); ++i) {
    if (i >= d.options.per_surface_max) {
      d.stats.dropped_budget += ranked.size() - i;
      break;
    }
    if (d.engine->HasInMemoryOrInflight(ranked[i].key)) {
      d.stats.skipped_cached++;
      if (!same_page) d.surface_issued++;
      continue;
    }
    d.Enqueue(std::move(ranked[i]));
  }
  d.Pump(now);
}

void Preheater::Visible(const std::string& given_url, bool visible, Instant now) {
  Impl& d = *impl_;
  // Matched by the normalised URL, as the queue's candidates and Score are.
  Result<std::string> key = Engine::KeyFor(given_url, d.options.namespace_name);
  if (!key.ok()) return;
  const std::string url = key->substr(key->find(' ') + 1);
  if (d.visible.size() >= kVisibleMax && !d.visible.count(url)) return;
  bool was = d.visible.count(url) ? d.visible[url] : false;
  d.visible[url] = visible;
  for (auto& c : d.queue) {
    if (c.url == url && !c.intent && was != visible) c.score += visible ? 0.2 : -0.2;
  }
  d.Pump(now);
}

void Preheater::Intent(const std::string& url, IntentKind kind, Instant now) {
  Impl& d = *impl_;
  auto normalized = Engine::KeyFor(url, d.options.namespace_name);
  // Disabled: intents are ignored, not kept for later (a hover that ended
  // minutes ago says nothing about the next click).
  if (!normalized.ok() || !d.enabled) return;
  std::string target = normalized->substr(normalized->find(' ') + 1);
  switch (kind) {
    case IntentKind::kHoverStart:
      d.stats.candidates++;
      if (d.hovers.size() >= kHoversMax) d.hovers.erase(d.hovers.begin());
      d.hovers.emplace_back(target, now);
      return;
    case IntentKind::kHoverEnd:
      d.hovers.erase(std::remove_if(d.hovers.begin(), d.hovers.end(),
                                    [&](const auto& h) { return h.first == target; }),
                     d.hovers.end());
      return;
    case IntentKind::kFocus:
      d.stats.candidates++;
      if (d.save_data) {
        d.stats.skipped_save_data++;
        return;
      }
      if (auto c = d.MakeCandidate(target, kIntentScore, true, false)) d.Enqueue(std::move(*c));
      break;
    case IntentKind::kPointerDown:
    case IntentKind::kTouchStart:
      d.stats.candidates++;
      if (auto c = d.MakeCandidate(target, kStrongIntentScore, true, true)) d.Enqueue(std::move(*c));
      break;
  }
  d.Pump(now);
}

void Preheater::Navigated(const std::string& from_url, const std::string& to_url, Instant now) {
  Impl& d = *impl_;
  auto from = Engine::KeyFor(from_url, d.options.namespace_name);
  auto to = Engine::KeyFor(to_url, d.options.namespace_name);
  if (!to.ok()) return;
  std::string to_norm = to->substr(to->find(' ') + 1);
  if (from.ok()) {
    std::string from_norm = from->substr(from->find(' ') + 1);
    d.model.Record(from_norm, to_norm, now);
    std::string from_route = d.RouteKey(from_norm), to_route = d.RouteKey(to_norm);
    if (!from_route.empty() && !to_route.empty()) d.model.Record(from_route, to_route, now);
  }
  auto it = d.tracked.find(to_norm);
  if (it != d.tracked.end()) {
    d.stats.used++;
    d.stats.used_bytes += it->second.bytes;
    d.stats.preheat_to_use_ms.Record(ElapsedMs(it->second.fetched_at, now));
    d.tracked_order.erase(it->second.order);
    d.tracked.erase(it);
  } else if (auto f = d.flying.find(to_norm); f != d.flying.end()) {
    f->second = true;  // accounted when its answer comes (OnDone)
  }
  d.hovers.clear();
  d.surface_issued = 0;  // a new visit, of the same page too: a new budget
}

void Preheater::SetSaveData(bool save_data) { impl_->save_data = save_data; }
void Preheater::SetEnabled(bool enabled) {
  impl_->enabled = enabled;
  if (!enabled) {
    impl_->queue.clear();
    impl_->hovers.clear();
  }
}

Instant Preheater::NextDeadline() const {
  const Impl& d = *impl_;
  Instant next = d.HoverDeadline();
  if (!d.tracked_order.empty()) {
    next = std::min(next, AddMs(d.tracked_order.front().second, d.options.use_window_ms));
  }
  if (!d.queue.empty() && d.inflight < d.options.inflight_max && d.enabled &&
      !d.breaker.probe_inflight()) {
    Instant now = std::max(d.engine->CurrentTime(), d.seen);
    Instant ready = std::max(d.requests.WhenAvailable(1, now), d.bytes.WhenAvailable(0, now));
    Instant reopen = d.breaker.reopen_at();
    if (!reopen.IsNever()) ready = std::max(ready, reopen);
    next = std::min(next, ready);
  }
  return next;
}

void Preheater::OnDeadline(Instant now) {
  Impl& d = *impl_;
  for (auto it = d.hovers.begin(); it != d.hovers.end();) {
    if (AddMs(it->second, d.options.hover_intent_ms) <= now) {
      if (d.save_data) {
        d.stats.skipped_save_data++;
      } else if (auto c = d.MakeCandidate(it->first, kIntentScore, true, false)) {
        d.Enqueue(std::move(*c));
      }
      it = d.hovers.erase(it);
    } else {
      ++it;
    }
  }
  while (!d.tracked_order.empty() &&
         ElapsedMs(d.tracked_order.front().second, now) >= d.options.use_window_ms) {
    d.Expire(now, false);
  }
  d.Pump(now);
}

static std::string ModelBlobName(const PreheatOptions& options) {
  return "preheat-model " + options.namespace_name;
}

Status Preheater::SaveModel(Instant now) {
  Impl& d = *impl_;
  return d.engine->PutBlob(ModelBlobName(d.options), d.model.Export(now), now);
}

void Preheater::LoadModel(Instant now, std::function<void(Status)> done) {
  Impl& d = *impl_;
  std::weak_ptr<bool> alive_token = d.alive;
  d.engine->GetBlob(ModelBlobName(d.options), now,
                    [this, alive_token, done](Result<std::string> blob) {
                      if (alive_token.expired()) return;
                      if (!blob.ok()) return done(blob.status());
                      done(impl_->model.Import(*blob, impl_->engine->CurrentTime()));
                    });
}

const PreheatStats& Preheater::stats() const { return impl_->stats; }
BreakerState Preheater::breaker_state(Instant now) const { return impl_->breaker.state(now); }
TransitionModel& Preheater::model() { return impl_->model; }

std::string Preheater::StatsJson(Instant now) const {
  const Impl& d = *impl_;
  const PreheatStats& s = d.stats;
  nlohmann::json j{{"candidates", s.candidates},
                   {"issued", s.issued},
                   {"skipped_cached", s.skipped_cached},
                   {"skipped_low_score", s.skipped_low_score},
                   {"skipped_save_data", s.skipped_save_data},
                   {"dropped_left_surface", s.dropped_left_surface},
                   {"dropped_queue_full", s.dropped_queue_full},
                   {"dropped_budget", s.dropped_budget},
                   {"breaker_blocked", s.breaker_blocked},
                   {"failures", s.failures},
                   {"fetched", s.fetched},
                   {"used", s.used},
                   {"evicted_unused", s.evicted_unused},
                   {"wasted_bytes", s.wasted_bytes},
                   {"fetched_bytes", s.fetched_bytes},
                   {"used_bytes", s.used_bytes},
                   {"breaker", BreakerStateName(d.breaker.state(now))},
                   {"breaker_opened", d.breaker.times_opened()},
                   {"queued", d.queue.size()},
                   {"inflight", d.inflight},
                   {"tracked", d.tracked_order.size()},
                   {"save_data", d.save_data},
                   {"model_pages", d.model.pages()}};
  j["preheat_to_use_ms"] = nlohmann::json::parse(s.preheat_to_use_ms.ToJson(), nullptr, false);
  return j.dump();
}

}  // namespace preheat
