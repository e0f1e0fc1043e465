#include "preheat/validators.h"

#include <algorithm>
#include <vector>

#include "preheat/http_date.h"

namespace preheat {

namespace {

// At most this many field names from Connection are honoured; the rest of
// the field is ignored (it only ever names a handful).
constexpr size_t kConnectionNamesMax = 32;

bool IsEtagc(unsigned char c) { return c == 0x21 || (c >= 0x23 && c != 0x7F); }

bool IsHopByHop(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "connection", "keep-alive",         "proxy-connection",    "te",     "transfer-encoding",
      "upgrade",    "proxy-authenticate", "proxy-authorization", "trailer"};
  for (std::string_view n : kNames) {
    if (EqualsIgnoreCase(name, n)) return true;
  }
  return false;
}

bool IsSetCookie(std::string_view name) {
  return EqualsIgnoreCase(name, "set-cookie") || EqualsIgnoreCase(name, "set-cookie2");
}

// Lower-case names listed by every Connection field (RFC 9110 7.6.1).
std::vector<std::string> ConnectionNames(const Headers& headers) {
  std::vector<std::string> names;
  for (const auto& [name, value] : headers.fields()) {
    if (!EqualsIgnoreCase(name, "connection")) continue;
    std::string_view rest = value;
    while (!rest.empty() && names.size() < kConnectionNamesMax) {
      size_t comma = rest.find(',');
      std::string_view item = TrimOws(rest.substr(0, comma));
      if (!item.empty()) names.push_back(ToLowerAscii(item));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return names;
}

bool Listed(const std::vector<std::string>& names, std::string_view name) {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& n) { return EqualsIgnoreCase(n, name); });
}

std::string FormatEntityTag(const EntityTag& tag) {
  std::string out = tag.weak ? "W/\"" : "\"";
  out.append(tag.opaque).push_back('"');
  return out;
}

}  // namespace

std::optional<EntityTag> ParseEntityTag(std::string_view text) {
  text = TrimOws(text);
  EntityTag tag;
  if (text.size() >= 2 && text[0] == 'W' && text[1] == '/') {
    tag.weak = true;
    text.remove_prefix(2);
  }
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return std::nullopt;
  text = text.substr(1, text.size() - 2);
  for (char c : text) {
    if (!IsEtagc(static_cast<unsigned char>(c))) return std::nullopt;
  }
  tag.opaque = std::string(text);
  return tag;
}

bool WeakEquals(const EntityTag& a, const EntityTag& b) { return a.opaque == b.opaque; }

bool StrongEquals(const EntityTag& a, const EntityTag& b) {
  return !a.weak && !b.weak && a.opaque == b.opaque;
}

bool AddConditionalHeaders(const Headers& stored_response, Headers* request) {
  // A revalidation is conditional on the stored validators only: a 304 for
  // some other validator would wrongly refresh the stored response.
  for (std::string_view name :
       {"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"}) {
    request->Remove(name);
  }
  bool added = false;
  if (auto etag = stored_response.Get("ETag")) {
    if (auto tag = ParseEntityTag(*etag)) {
      request->Set("If-None-Match", FormatEntityTag(*tag));
      added = true;
    }
  }
  if (auto last_modified = stored_response.Get("Last-Modified")) {
    // Sent as received: some origins compare the strings exactly.
    if (ParseHttpDate(*last_modified)) {
      request->Set("If-Modified-Since", std::string(TrimOws(*last_modified)));
      added = true;
    }
  }
  return added;
}

bool NotModifiedMatches(const Headers& not_modified, const Headers& stored_response) {
  if (auto etag = not_modified.Get("ETag")) {
    auto tag = ParseEntityTag(*etag);
    auto stored_etag = stored_response.Get("ETag");
    auto stored = stored_etag ? ParseEntityTag(*stored_etag) : std::nullopt;
    if (!tag || !stored) return false;
    return tag->weak ? WeakEquals(*tag, *stored) : StrongEquals(*tag, *stored);
  }
  if (auto last_modified = not_modified.Get("Last-Modified")) {
    auto stored_value = stored_response.Get("Last-Modified");
    auto date = ParseHttpDate(*last_modified);
    auto stored = stored_value ? ParseHttpDate(*stored_value) : std::nullopt;
    return date && stored && *date == *stored;
  }
  return true;
}

void UpdateStoredHeadersFrom304(const Headers& not_modified, Headers* stored_response) {
  const std::vector<std::string> connection = ConnectionNames(not_modified);
  auto copied = [&](std::string_view name) {
    return !IsHopByHop(name) && !IsSetCookie(name) && !Listed(connection, name) &&
           !EqualsIgnoreCase(name, "content-length") &&
           !EqualsIgnoreCase(name, "content-encoding") && !EqualsIgnoreCase(name, "content-range");
  };
  std::vector<std::string> replaced;  // lower-case, distinct
  for (const auto& field : not_modified.fields()) {
    if (!copied(field.first) || Listed(replaced, field.first)) continue;
    replaced.push_back(ToLowerAscii(field.first));
    stored_response->Remove(field.first);
  }
  for (const auto& field : not_modified.fields()) {
    if (copied(field.first)) stored_response->Add(field.first, field.second);
  }
}

Headers StorableHeaders(const Headers& response) {
  const std::vector<std::string> connection = ConnectionNames(response);
  Headers out;
  for (const auto& field : response.fields()) {
    if (IsHopByHop(field.first) || IsSetCookie(field.first) || Listed(connection, field.first)) {
      continue;
    }
    out.Add(field.first, field.second);
  }
  return out;
}

}  // namespace preheat
