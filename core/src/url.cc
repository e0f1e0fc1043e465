#include "preheat/url.h"

#include <optional>

#include "preheat/headers.h"

namespace preheat {

namespace {

// Longest host accepted: DNS names have at most 253 characters.
constexpr size_t kHostBytesMax = 255;

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreserved(char c) {
  return IsAlpha(c) || IsDigit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

bool IsSubDelim(char c) {
  return std::string_view("!$&'()*+,;=").find(c) != std::string_view::npos;
}

bool IsSchemeChar(char c) { return IsAlpha(c) || IsDigit(c) || c == '+' || c == '-' || c == '.'; }

// Length of a leading "scheme:" (without the colon), or 0 when there is none.
size_t SchemeLength(std::string_view s) {
  if (s.empty() || !IsAlpha(s[0])) return 0;
  size_t i = 1;
  while (i < s.size() && IsSchemeChar(s[i])) ++i;
  return i < s.size() && s[i] == ':' ? i : 0;
}

void AppendPercent(unsigned char c, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out->push_back('%');
  out->push_back(kHex[c >> 4]);
  out->push_back(kHex[c & 0xF]);
}

// Normalises the percent-encoding of a path or query (RFC 3986 6.2.2):
// encoded unreserved characters are decoded, other encodings upper-cased,
// and characters the component may not hold raw are encoded, so equivalent
// spellings share one form. False on a malformed "%".
bool NormalizeComponent(std::string_view in, bool is_query, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      const char decoded = static_cast<char>(hi * 16 + lo);
      if (IsUnreserved(decoded)) {
        out->push_back(decoded);
      } else {
        AppendPercent(static_cast<unsigned char>(decoded), out);
      }
      i += 2;
    } else if (IsUnreserved(c) || IsSubDelim(c) || c == ':' || c == '@' || c == '/' ||
               (is_query && c == '?')) {
      out->push_back(c);
    } else {
      AppendPercent(static_cast<unsigned char>(c), out);
    }
  }
  return true;
}

// RFC 3986 5.2.4.
std::string RemoveDotSegments(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  auto starts = [&](std::string_view p) { return in.substr(0, p.size()) == p; };
  auto pop_segment = [&] {
    const size_t slash = out.rfind('/');
    out.erase(slash == std::string::npos ? 0 : slash);
  };
  while (!in.empty()) {
    if (starts("../")) {
      in.remove_prefix(3);
    } else if (starts("./")) {
      in.remove_prefix(2);
    } else if (starts("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = in.substr(0, 1);
    } else if (starts("/../")) {
      in.remove_prefix(3);
      pop_segment();
    } else if (in == "/..") {
      in = in.substr(0, 1);
      pop_segment();
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      const size_t end = in.find('/', 1);
      const size_t len = end == std::string_view::npos ? in.size() : end;
      out.append(in.substr(0, len));
      in.remove_prefix(len);
    }
  }
  return out;
}

Status Invalid(const char* why) { return Status::InvalidArgument(why); }

void AppendOrigin(const Url& url, std::string* out) {
  out->append(url.scheme).append("://").append(url.host);
  if (url.port != 0) out->append(":").append(std::to_string(url.port));
}

// The size of url.ToString(), without building it.
size_t NormalFormSize(const Url& url) {
  size_t size = url.scheme.size() + 3 + url.host.size() + url.path.size();
  if (url.port != 0) size += 1 + std::to_string(url.port).size();
  if (url.has_query) size += 1 + url.query.size();
  return size;
}

// The WHATWG URL Standard's IPv6 parser: `in` is what is between the
// brackets; the eight 16-bit pieces go to `pieces`. Accepts "::"
// compression and a trailing dotted IPv4 part ("::ffff:1.2.3.4"); rejects
// anything else, including zone identifiers. Bounded by the input: each
// step consumes a character or fails.
bool ParseIpv6(std::string_view in, uint16_t pieces[8]) {
  for (int k = 0; k < 8; ++k) pieces[k] = 0;
  size_t p = 0;
  int piece = 0;
  int compress = -1;
  auto at = [&](size_t i) { return i < in.size() ? in[i] : '\0'; };
  if (at(p) == ':') {
    if (at(p + 1) != ':') return false;
    p += 2;
    compress = ++piece;
  }
  while (p < in.size()) {
    if (piece == 8) return false;
    if (in[p] == ':') {
      if (compress >= 0) return false;
      ++p;
      compress = ++piece;
      continue;
    }
    uint32_t value = 0;
    size_t length = 0;
    while (length < 4 && HexValue(at(p)) >= 0) {
      value = value * 16 + static_cast<uint32_t>(HexValue(at(p)));
      ++p;
      ++length;
    }
    if (at(p) == '.') {
      // IPv4 in the last 32 bits: four decimal parts, no leading zeros.
      if (length == 0 || piece > 6) return false;
      p -= length;
      int numbers_seen = 0;
      while (p < in.size()) {
        if (numbers_seen > 0) {
          if (in[p] != '.' || numbers_seen >= 4) return false;
          ++p;
        }
        if (!IsDigit(at(p))) return false;
        int part = -1;
        while (IsDigit(at(p))) {
          if (part == 0) return false;
          part = (part < 0 ? 0 : part * 10) + (in[p] - '0');
          if (part > 255) return false;
          ++p;
        }
        pieces[piece] = static_cast<uint16_t>(pieces[piece] * 0x100 + part);
        ++numbers_seen;
        if (numbers_seen == 2 || numbers_seen == 4) ++piece;
      }
      if (numbers_seen != 4) return false;
      break;
    }
    if (at(p) == ':') {
      ++p;
      if (p == in.size()) return false;
    } else if (p < in.size()) {
      return false;
    }
    pieces[piece++] = static_cast<uint16_t>(value);
  }
  if (compress >= 0) {
    int swaps = piece - compress;
    for (int k = 7; k != 0 && swaps > 0; --k, --swaps) {
      const uint16_t t = pieces[k];
      pieces[k] = pieces[compress + swaps - 1];
      pieces[compress + swaps - 1] = t;
    }
  } else if (piece != 8) {
    return false;
  }
  return true;
}

// "[" + the address + "]" as the WHATWG URL serializer writes it, which is
// RFC 5952's canonical text except that an IPv4 tail is written in hex too:
// lower-case hex without leading zeros, the first longest run of two or
// more zero pieces written "::".
std::string SerializeIpv6(const uint16_t pieces[8]) {
  int compress = -1;
  int best = 1;
  for (int k = 0; k < 8;) {
    if (pieces[k] != 0) {
      ++k;
      continue;
    }
    int end = k;
    while (end < 8 && pieces[end] == 0) ++end;
    if (end - k > best) {
      best = end - k;
      compress = k;
    }
    k = end;
  }
  static constexpr char kHexLower[] = "0123456789abcdef";
  std::string out = "[";
  for (int k = 0; k < 8; ++k) {
    if (k == compress) {
      out.append(k == 0 ? "::" : ":");
      k += best - 1;
      continue;
    }
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const int digit = (pieces[k] >> shift) & 0xF;
      if (digit != 0 || started || shift == 0) {
        out.push_back(kHexLower[digit]);
        started = true;
      }
    }
    if (k != 7) out.push_back(':');
  }
  out.push_back(']');
  return out;
}

// The WHATWG URL Standard's IPv4 number parser: decimal, "0x" hex or
// leading-"0" octal; false otherwise. Saturates past 2^32 (always too big).
bool ParseIpv4Number(std::string_view in, uint64_t* value) {
  if (in.empty()) return false;
  int radix = 10;
  if (in.size() >= 2 && in[0] == '0' && (in[1] == 'x' || in[1] == 'X')) {
    in.remove_prefix(2);
    radix = 16;
  } else if (in.size() >= 2 && in[0] == '0') {
    in.remove_prefix(1);
    radix = 8;
  }
  uint64_t v = 0;
  for (char c : in) {
    const int digit = HexValue(c);
    if (digit < 0 || digit >= radix) return false;
    v = v > (uint64_t{1} << 32) ? v : v * static_cast<uint64_t>(radix) + static_cast<uint64_t>(digit);
  }
  *value = v;
  return true;
}

// The host's labels, a trailing empty one (from a final ".") dropped
// unless it is the only one.
int SplitLabels(std::string_view host, std::string_view labels[5]) {
  if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
  int count = 0;
  while (true) {
    const size_t dot = host.find('.');
    if (count == 5) return 6;  // more than the IPv4 parser takes
    labels[count++] = host.substr(0, dot);
    if (dot == std::string_view::npos) return count;
    host.remove_prefix(dot + 1);
  }
}

// WHATWG "ends in a number": such a host is an IPv4 address, in any of its
// spellings ("127.1", "0x7f.0.0.1", "2130706433"), or invalid.
bool EndsInNumber(std::string_view host) {
  if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
  const size_t dot = host.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (last.empty()) return false;
  bool digits = true;
  for (char c : last) digits = digits && IsDigit(c);
  uint64_t ignored;
  return digits || ParseIpv4Number(last, &ignored);
}

// The WHATWG URL Standard's IPv4 parser and serializer: `host` ends in a
// number; its dotted-decimal form, or "" when it is not an IPv4 address.
std::string CanonicalIpv4(std::string_view host) {
  std::string_view labels[5];
  const int count = SplitLabels(host, labels);
  if (count > 4) return {};
  uint64_t numbers[4];
  for (int k = 0; k < count; ++k) {
    if (!ParseIpv4Number(labels[k], &numbers[k])) return {};
    if (k < count - 1 && numbers[k] > 255) return {};
  }
  const uint64_t last_max = uint64_t{1} << (8 * (5 - count));
  if (numbers[count - 1] >= last_max) return {};
  uint64_t address = numbers[count - 1];
  for (int k = 0; k < count - 1; ++k) address += numbers[k] << (8 * (3 - k));
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.append(std::to_string((address >> shift) & 0xFF));
    if (shift != 0) out.push_back('.');
  }
  return out;
}

// Parses host [":" port] into url. Lower-cases the host; IPv6 literals are
// written in their canonical form.
Status ParseAuthority(std::string_view authority, Url* url) {
  if (authority.find('@') != std::string_view::npos) return Invalid("url has userinfo");
  std::string_view rest;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Invalid("url has a bad IPv6 literal");
    rest = authority.substr(close + 1);
    uint16_t pieces[8];
    if (!ParseIpv6(authority.substr(1, close - 1), pieces)) {
      return Invalid("url has a bad IPv6 literal");
    }
    // One address, one key: "[0:0:0:0:0:0:0:1]" and "[::1]" are the same host.
    url->host = SerializeIpv6(pieces);
  } else {
    const size_t colon = authority.find(':');
    const std::string_view host = authority.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : authority.substr(colon);
    for (char c : host) {
      if (!IsAlpha(c) && !IsDigit(c) && c != '-' && c != '.' && c != '_') {
        return Invalid("url host has a bad character");
      }
    }
    if (host.empty()) return Invalid("url has no host");
    if (host.size() > kHostBytesMax) return Invalid("url host is too long");
    if (EndsInNumber(host)) {
      // As the browser's URL parser: "127.1" and "0x7f.0.0.1" are the key's
      // 127.0.0.1, and "1.2.3.4.5" or "256.1.1.1" no address at all.
      url->host = CanonicalIpv4(host);
      if (url->host.empty()) return Invalid("url has a bad IPv4 address");
    } else {
      url->host = ToLowerAscii(host);
    }
  }

  url->port = 0;
  if (rest.empty()) return Status::Ok();
  if (rest[0] != ':') return Invalid("url has a bad port");
  rest.remove_prefix(1);
  if (rest.empty()) return Status::Ok();  // "host:" means the default port
  uint32_t port = 0;
  for (char c : rest) {
    if (!IsDigit(c)) return Invalid("url has a bad port");
    port = port * 10 + static_cast<uint32_t>(c - '0');
    if (port > 65535) return Invalid("url has a bad port");
  }
  if (port == 0) return Invalid("url has a bad port");
  const uint32_t default_port = url->scheme == "https" ? 443 : 80;
  url->port = port == default_port ? 0 : static_cast<uint16_t>(port);
  return Status::Ok();
}

}  // namespace

std::string Url::Origin() const {
  std::string out;
  AppendOrigin(*this, &out);
  return out;
}

// One buffer, sized once: this is every cache key's normal form.
std::string Url::ToString() const {
  std::string out;
  out.reserve(NormalFormSize(*this));
  AppendOrigin(*this, &out);
  out.append(path);
  if (has_query) out.append("?").append(query);
  return out;
}

std::string Url::PathAndQuery() const {
  std::string out = path;
  if (has_query) out.append("?").append(query);
  return out;
}

Result<Url> ParseUrl(std::string_view text) {
  if (text.empty()) return Invalid("url is empty");
  if (text.size() > kUrlBytesMax) return Invalid("url is too long");
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return Invalid("url has a control character or space");
  }

  Url url;
  const size_t scheme_len = SchemeLength(text);
  if (scheme_len == 0) return Invalid("url is not absolute");
  url.scheme = ToLowerAscii(text.substr(0, scheme_len));
  if (url.scheme != "http" && url.scheme != "https") return Invalid("url scheme is not http(s)");
  std::string_view rest = text.substr(scheme_len + 1);
  if (rest.substr(0, 2) != "//") return Invalid("url has no host");
  rest.remove_prefix(2);

  rest = rest.substr(0, rest.find('#'));
  const size_t authority_end = rest.find_first_of("/?");
  Status st = ParseAuthority(rest.substr(0, authority_end), &url);
  if (!st.ok()) return st;
  rest = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);

  const size_t question = rest.find('?');
  std::string normalized;
  if (!NormalizeComponent(rest.substr(0, question), false, &normalized)) {
    return Invalid("url has a bad percent-encoding");
  }
  url.path = RemoveDotSegments(normalized);
  if (url.path.empty()) url.path = "/";
  if (question != std::string_view::npos) {
    url.has_query = true;
    if (!NormalizeComponent(rest.substr(question + 1), true, &url.query)) {
      return Invalid("url has a bad percent-encoding");
    }
  }
  // Encoding can grow a URL; keep the normal form itself within bounds so it
  // parses again. (Measured, not built: every cache lookup parses a URL.)
  if (NormalFormSize(url) > kUrlBytesMax) return Invalid("url is too long");
  return url;
}

Result<Url> ResolveUrl(const Url& base, std::string_view reference) {
  if (reference.size() > kUrlBytesMax) return Invalid("url is too long");
  // An http(s) reference is read as the WHATWG URL parser (and so every
  // browser) reads a link: slashes after the first two are skipped
  // ("///host/x" is //host/x); "http:g" on an http page is the relative
  // reference "g" (RFC 3986 5.4.2's backward-compatible reading), and with
  // another scheme the slashes are optional ("https:g" is https://g/).
  std::string scheme = base.scheme;
  bool authority = reference.substr(0, 2) == "//";
  if (const size_t scheme_len = SchemeLength(reference); scheme_len != 0) {
    scheme = ToLowerAscii(reference.substr(0, scheme_len));
    if (scheme != "http" && scheme != "https") return ParseUrl(reference);
    reference.remove_prefix(scheme_len + 1);
    authority = scheme != base.scheme || reference.substr(0, 2) == "//";
  }
  if (authority) {
    while (!reference.empty() && reference.front() == '/') reference.remove_prefix(1);
    return ParseUrl(scheme + "://" + std::string(reference));
  }

  // RFC 3986 5.2.2, for a reference without scheme or authority. Dot
  // segments are removed by ParseUrl.
  reference = reference.substr(0, reference.find('#'));
  const size_t question = reference.find('?');
  const std::string_view ref_path = reference.substr(0, question);
  std::string target = base.Origin();
  if (ref_path.empty()) {
    target.append(base.path);
  } else if (ref_path[0] == '/') {
    target.append(ref_path);
  } else {
    // RFC 3986 5.2.3: the base path up to its last "/", then the reference.
    const size_t slash = base.path.rfind('/');
    target.append(slash == std::string::npos ? "/" : base.path.substr(0, slash + 1));
    target.append(ref_path);
  }
  if (question != std::string_view::npos) {
    target.append(reference.substr(question));
  } else if (ref_path.empty() && base.has_query) {
    target.append("?").append(base.query);
  }
  return ParseUrl(target);
}

namespace {

// True when `text` is already what ParseUrl(text)->ToString() returns, so
// NormalizeUrl can copy it without parsing: the common case, URLs from the
// WHATWG URL parser (location.href, new URL(...).href). Conservative: any
// doubt (upper case, percent-encoding, dot segments, default or odd ports,
// userinfo, IPv6, fragment, no path) takes the full parse.
bool IsNormalForm(std::string_view text) {
  if (text.size() > kUrlBytesMax) return false;
  size_t i;
  bool https;
  if (text.substr(0, 7) == "http://") {
    i = 7;
    https = false;
  } else if (text.substr(0, 8) == "https://") {
    i = 8;
    https = true;
  } else {
    return false;
  }
  const size_t n = text.size();
  const size_t host_start = i;
  while (i < n && ((text[i] >= 'a' && text[i] <= 'z') || IsDigit(text[i]) || text[i] == '-' ||
                   text[i] == '.' || text[i] == '_')) {
    ++i;
  }
  if (i == host_start || i - host_start > kHostBytesMax) return false;
  const std::string_view host = text.substr(host_start, i - host_start);
  if (EndsInNumber(host) && CanonicalIpv4(host) != host) return false;
  if (i < n && text[i] == ':') {
    ++i;
    if (i >= n || text[i] < '1' || text[i] > '9') return false;  // empty, 0 or leading zero
    uint32_t port = 0;
    for (size_t digits = 0; i < n && IsDigit(text[i]); ++i) {
      if (++digits > 5) return false;
      port = port * 10 + static_cast<uint32_t>(text[i] - '0');
    }
    if (port > 65535 || port == (https ? 443u : 80u)) return false;
  }
  if (i >= n || text[i] != '/') return false;
  bool query = false;
  for (; i < n; ++i) {
    const char c = text[i];
    if (c == '?') {
      query = true;
    } else if (c == '/') {
      if (query) continue;
      // A "." or ".." segment (ended by "/", "?" or the end) would be removed.
      size_t j = i + 1;
      if (j < n && text[j] == '.') ++j;
      if (j < n && text[j] == '.' && j == i + 2) ++j;
      if (j > i + 1 && (j == n || text[j] == '/' || text[j] == '?')) return false;
    } else if (!IsUnreserved(c) && !IsSubDelim(c) && c != ':' && c != '@') {
      return false;  // percent-encoded, encoded by the parse, a fragment or invalid
    }
  }
  return true;
}

}  // namespace

Result<std::string> NormalizeUrl(std::string_view text) {
  if (IsNormalForm(text)) return std::string(text);
  Result<Url> url = ParseUrl(text);
  if (!url.ok()) return url.status();
  return url->ToString();
}

}  // namespace preheat
