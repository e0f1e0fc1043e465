// RoutePolicy: per-route application policy layered over HTTP headers.
#ifndef PREHEAT_POLICY_H_
#define PREHEAT_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>

namespace preheat {

// Lets an app say what its headers do not. The first policy whose pattern
// (a RoutePattern, e.g. "/issues/:id" or "/api/*") matches the URL's path
// applies; otherwise EngineOptions::default_policy.
struct RoutePolicy {
  std::string pattern;
  // Replaces the freshness lifetime the headers give.
  std::optional<int64_t> max_age_ms;
  // Replaces the stale-while-revalidate window the headers give.
  std::optional<int64_t> stale_while_revalidate_ms;
  // Never serve a response more than this long past its freshness lifetime,
  // whatever the headers allow (stale-while-revalidate, stale-if-error).
  std::optional<int64_t> max_stale_ms;
  // GitHub's rule: every serve from the cache, even a fresh one, is followed
  // by a background revalidation (except `immutable` responses).
  bool revalidate_after_serving = false;
  // Never store responses of this route.
  bool no_store = false;
};

}  // namespace preheat

#endif  // PREHEAT_POLICY_H_
