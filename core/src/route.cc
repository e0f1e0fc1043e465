#include "preheat/route.h"

namespace preheat {

namespace {

constexpr size_t kSegmentsMax = 64;

bool IsParam(std::string_view segment) { return !segment.empty() && segment[0] == ':'; }

// Characters a path segment may hold raw (RFC 3986 pchar). '%' is kept so
// a value captured by Match (still percent-encoded) expands back unchanged.
bool IsSegmentChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~!$&'()*+,;=:@%").find(c) != std::string_view::npos;
}

void AppendSegment(std::string_view value, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : value) {
    if (IsSegmentChar(c)) {
      out->push_back(c);
    } else {
      const auto u = static_cast<unsigned char>(c);
      out->push_back('%');
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 0xF]);
    }
  }
}

}  // namespace

Result<RoutePattern> RoutePattern::Parse(std::string_view pattern) {
  if (pattern.empty() || pattern[0] != '/') {
    return Status::InvalidArgument("route pattern must start with /");
  }
  RoutePattern route;
  route.text_ = std::string(pattern);
  std::string_view rest = pattern.substr(1);
  while (true) {
    if (route.segments_.size() == kSegmentsMax) {
      return Status::InvalidArgument("route pattern has more than 64 segments");
    }
    const size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    if (segment == ":") return Status::InvalidArgument("route pattern has an empty :name");
    if (!route.segments_.empty() && route.segments_.back() == "*") {
      return Status::InvalidArgument("route pattern has * before its last segment");
    }
    route.segments_.emplace_back(segment);
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return route;
}

bool RoutePattern::Match(std::string_view path, Params* params) const {
  path = path.substr(0, path.find_first_of("?#"));
  if (path.empty() || path[0] != '/') return false;
  Params captured;
  std::string_view rest = path.substr(1);
  bool exhausted = false;  // every path segment consumed
  for (const std::string& segment : segments_) {
    if (segment == "*") {
      exhausted = true;
      break;
    }
    if (exhausted) return false;
    const size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    if (slash == std::string_view::npos) {
      exhausted = true;
    } else {
      rest.remove_prefix(slash + 1);
    }
    if (IsParam(segment)) {
      if (part.empty()) return false;
      captured.emplace_back(segment.substr(1), std::string(part));
    } else if (part != segment) {
      return false;
    }
  }
  if (!exhausted) return false;
  if (params != nullptr) *params = std::move(captured);
  return true;
}

Result<std::string> RoutePattern::Expand(const Params& params) const {
  std::string out;
  // A name used twice takes its values in order, so expanding what Match
  // captured rebuilds the path; with one value, every use takes it.
  std::vector<std::string_view> used;
  for (const std::string& segment : segments_) {
    if (segment == "*") return Status::InvalidArgument("route pattern with * cannot be expanded");
    out.push_back('/');
    if (!IsParam(segment)) {
      out.append(segment);
      continue;
    }
    const std::string_view name = std::string_view(segment).substr(1);
    size_t occurrence = 0;
    for (std::string_view u : used) occurrence += u == name ? 1 : 0;
    used.push_back(name);
    const std::string* value = nullptr;
    const std::string* first = nullptr;
    for (const auto& [key, v] : params) {
      if (key != name) continue;
      if (first == nullptr) first = &v;
      if (occurrence-- == 0) {
        value = &v;
        break;
      }
    }
    if (value == nullptr) value = first;
    if (value == nullptr || value->empty()) {
      return Status::InvalidArgument("route parameter " + std::string(name) + " has no value");
    }
    AppendSegment(*value, &out);
  }
  return out;
}

}  // namespace preheat
