// Route patterns: "/issues/:id", "/api/*", matched against URL paths.
#ifndef PREHEAT_ROUTE_H_
#define PREHEAT_ROUTE_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "preheat/status.h"

namespace preheat {

// A pattern is a path of segments separated by "/". A segment is a literal,
// ":name" (matches one non-empty segment and captures it), or "*" (only as
// the last segment: matches the rest of the path, possibly empty). Literal
// segments compare exactly (case-sensitive), after both sides are split on
// "/". The query string is never part of the match.
class RoutePattern {
 public:
  using Params = std::vector<std::pair<std::string, std::string>>;

  // Errors: kInvalidArgument when the pattern does not start with "/", has
  // an empty ":" name, a "*" that is not last, or more than 64 segments.
  static Result<RoutePattern> Parse(std::string_view pattern);

  // True when `path` (no query) matches; fills `params` when not null.
  bool Match(std::string_view path, Params* params = nullptr) const;

  // Replaces ":name" segments with values from `params` ("/api/issues/:id"
  // with id=42 gives "/api/issues/42"). Errors: kInvalidArgument when a
  // name has no value or the pattern contains "*".
  Result<std::string> Expand(const Params& params) const;

  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::vector<std::string> segments_;
};

}  // namespace preheat

#endif  // PREHEAT_ROUTE_H_
