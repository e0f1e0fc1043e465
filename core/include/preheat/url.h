// URLs: parsing, normalisation and resolution of absolute http(s) URLs.
#ifndef PREHEAT_URL_H_
#define PREHEAT_URL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "preheat/status.h"

namespace preheat {

// URLs longer than this are rejected (kInvalidArgument).
inline constexpr size_t kUrlBytesMax = 8192;

// A parsed absolute URL in normal form: scheme and host lower-case, IP
// address hosts written as the WHATWG URL serializer writes them (IPv6
// compressed per RFC 5952, IPv4 dotted-decimal), default port dropped
// (port 0 means default), empty path made "/", dot segments removed,
// percent-encodings of unreserved characters decoded and other
// percent-encodings upper-cased, fragment dropped.
struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // lower-case; "[::1]", "127.0.0.1" for addresses
  uint16_t port = 0;   // 0 when default for the scheme
  std::string path;    // starts with "/"
  std::string query;   // without "?"; empty when absent
  bool has_query = false;

  // "https://example.com:8443"
  std::string Origin() const;
  // The normal form: Origin() + path + ("?" + query when has_query).
  std::string ToString() const;
  // path + ("?" + query when has_query).
  std::string PathAndQuery() const;
};

// Parses an absolute http or https URL.
// Errors: kInvalidArgument for an empty or overlong string, another scheme
// (javascript:, data:, file:, ...), a missing host, userinfo, a bad port,
// a bad IPv6 literal, a host ending in a number that is no IPv4 address
// ("1.2.3.4.5", "example.123"), control characters, spaces, or invalid
// percent-encoding.
Result<Url> ParseUrl(std::string_view text);

// Resolves `reference` (absolute, scheme-relative, absolute-path, relative
// path, query-only or fragment-only) against `base` (RFC 3986 5.2) and
// parses the result. Errors: as ParseUrl.
Result<Url> ResolveUrl(const Url& base, std::string_view reference);

// Shorthand: ParseUrl(text)->ToString(). Errors: as ParseUrl.
Result<std::string> NormalizeUrl(std::string_view text);

}  // namespace preheat

#endif  // PREHEAT_URL_H_
