#include "preheat/references.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "preheat/headers.h"  // LowerAscii, EqualsIgnoreCase

namespace preheat {

namespace {

// Tag and attribute names longer than this are kept cut short and marked,
// so they can never equal a name this file looks for.
constexpr size_t kNameBytesMax = 32;
// A decoded attribute value longer than a URL may be is overlong.
constexpr size_t kValueBytesMax = kUrlBytesMax + 1;

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }
bool IsHtmlSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes the character references of an attribute value: numeric ones
// (&#38; &#x26;, ";" optional) and the named ones a URL plausibly holds.
// Names are case-sensitive. The legacy names (amp, lt, gt, quot, nbsp and
// AMP, LT, GT, QUOT) also decode without ";"
// unless followed by an alphanumeric or "=" (HTML's attribute-value rule,
// so "?a=1&ampx=2" stays as written). False, with `out` cut short, when
// the value decodes to more than `max` bytes.
bool DecodeAttribute(std::string_view in, size_t max, std::string* out) {
  struct Named {
    std::string_view name;
    uint32_t cp;
    bool legacy;
  };
  static constexpr Named kNamed[] = {
      {"amp", '&', true},   {"lt", '<', true},    {"gt", '>', true},
      {"quot", '"', true},  {"apos", '\'', false}, {"nbsp", 0xA0, true},
      {"sol", '/', false},  {"quest", '?', false}, {"num", '#', false},
      {"equals", '=', false}, {"colon", ':', false}, {"period", '.', false},
      {"percnt", '%', false}, {"lowbar", '_', false}, {"Tab", '\t', false},
      {"NewLine", '\n', false}, {"AMP", '&', true},   {"LT", '<', true},
      {"GT", '>', true},      {"QUOT", '"', true},
  };
  out->clear();
  size_t i = 0;
  while (i < in.size()) {
    if (out->size() > max) return false;
    const char c = in[i];
    if (c != '&') {
      out->push_back(c);
      ++i;
      continue;
    }
    const std::string_view rest = in.substr(i + 1);
    if (!rest.empty() && rest[0] == '#') {
      const bool hex = rest.size() > 1 && (rest[1] == 'x' || rest[1] == 'X');
      size_t j = hex ? 2 : 1;
      const size_t digits_begin = j;
      uint32_t cp = 0;
      while (j < rest.size()) {
        const int v = hex ? HexValue(rest[j]) : (IsDigit(rest[j]) ? rest[j] - '0' : -1);
        if (v < 0) break;
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(v);
        if (cp > 0x10FFFF) cp = 0x110000;  // saturate: no overflow on long digit runs
        ++j;
      }
      if (j == digits_begin) {  // "&#" or "&#x" without digits: literal
        out->push_back('&');
        ++i;
        continue;
      }
      if (j < rest.size() && rest[j] == ';') ++j;
      if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
      // HTML's numeric character reference end state: C1 controls name the
      // Windows-1252 characters (&#128; is the euro sign), as in browsers;
      // the five that Windows-1252 leaves undefined (zeros here) stay.
      static constexpr uint16_t kWindows1252[32] = {
          0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
          0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
          0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};
      if (cp >= 0x80 && cp <= 0x9F && kWindows1252[cp - 0x80] != 0) cp = kWindows1252[cp - 0x80];
      AppendUtf8(cp, out);
      i += 1 + j;
      continue;
    }
    bool matched = false;
    for (const Named& named : kNamed) {
      if (rest.substr(0, named.name.size()) != named.name) continue;
      const size_t after = named.name.size();
      const bool semicolon = after < rest.size() && rest[after] == ';';
      if (!semicolon) {
        if (!named.legacy) continue;
        if (after < rest.size() && (IsAlnum(rest[after]) || rest[after] == '=')) continue;
      }
      AppendUtf8(named.cp, out);
      i += 1 + after + (semicolon ? 1 : 0);
      matched = true;
      break;
    }
    if (!matched) {
      out->push_back('&');
      ++i;
    }
  }
  return out->size() <= max;
}

// Turns an attribute's (decoded) value into the reference text a browser
// would resolve: surrounding spaces trimmed, tabs and newlines removed,
// inner spaces percent-encoded, and a backslash before the query or
// fragment read as "/", as the URL parser does for http(s) URLs: a link to
// "\issues\1" is /issues/1, and "/\other.example/x" is another host.
std::string CleanUrlText(std::string_view value) {
  while (!value.empty() && IsHtmlSpace(value.front())) value.remove_prefix(1);
  while (!value.empty() && IsHtmlSpace(value.back())) value.remove_suffix(1);
  std::string out;
  out.reserve(value.size());
  bool in_path = true;  // before the first "?" or "#"
  for (char c : value) {
    if (c == '\t' || c == '\n' || c == '\r') continue;
    if (c == '?' || c == '#') in_path = false;
    if (c == ' ') {
      out.append("%20");
    } else if (c == '\\' && in_path) {
      out.push_back('/');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Shared by both extractors: filters, de-duplicates, bounds and numbers
// the references as they are found.
class Collector {
 public:
  Collector(const Url& page, const ExtractOptions& options, ExtractReport* report)
      : page_origin_(page.Origin()), options_(options), report_(report) {}

  // True once references_max stopped the extraction.
  bool full() const { return full_; }

  // `target` already resolved; false when `references_max` stopped the
  // extraction.
  bool Add(const Result<Url>& target, bool hinted) {
    if (full()) return false;
    if (!target.ok()) {
      ++report_->skipped_bad_url;
      return true;
    }
    if (target->Origin() != page_origin_) {
      ++report_->skipped_cross_origin;
      return true;
    }
    std::string route;
    if (!options_.routes.empty()) {
      const RoutePattern* matched = nullptr;
      for (const RoutePattern& pattern : options_.routes) {
        if (pattern.Match(target->path)) {
          matched = &pattern;
          break;
        }
      }
      if (matched == nullptr) {
        ++report_->skipped_no_route;
        return true;
      }
      route = matched->text();
    }
    std::string url = target->ToString();
    if (seen_.count(url) != 0) {
      ++report_->duplicates;
      return true;
    }
    if (refs_.size() >= options_.references_max) {
      report_->truncated = true;
      full_ = true;
      return false;
    }
    seen_.insert(url);
    Reference ref;
    ref.url = std::move(url);
    ref.position = static_cast<uint32_t>(refs_.size());
    ref.hinted = hinted;
    ref.route = std::move(route);
    refs_.push_back(std::move(ref));
    return true;
  }

  std::vector<Reference> Take() { return std::move(refs_); }

 private:
  std::string page_origin_;
  const ExtractOptions& options_;
  ExtractReport* report_;
  bool full_ = false;
  std::unordered_set<std::string> seen_;
  std::vector<Reference> refs_;
};

// ---------------------------------------------------------------------------
// HTML

// The attributes of one start tag that matter here; views into the input
// (first occurrence wins, as in HTML).
struct TagAttributes {
  bool has_href = false;
  std::string_view href;
  bool has_rel = false;
  std::string_view rel;
  bool has_download = false;
  bool has_preheat = false;
  std::string_view preheat;
};

bool RelHasNofollow(std::string_view rel) {
  size_t i = 0;
  while (i < rel.size()) {
    while (i < rel.size() && IsHtmlSpace(rel[i])) ++i;
    const size_t begin = i;
    while (i < rel.size() && !IsHtmlSpace(rel[i])) ++i;
    if (EqualsIgnoreCase(rel.substr(begin, i - begin), "nofollow")) return true;
  }
  return false;
}

bool IsRawTextElement(std::string_view name) {
  return name == "script" || name == "style" || name == "textarea" || name == "title" ||
         name == "xmp" || name == "iframe" || name == "noembed" || name == "noframes";
}

class HtmlScanner {
 public:
  HtmlScanner(std::string_view html, bool input_cut, const Url& page, Collector* collector,
              ExtractReport* report)
      : in_(html), input_cut_(input_cut), base_(page), collector_(collector), report_(report) {}

  void Run() {
    while (pos_ < in_.size() && !collector_->full()) {
      const size_t lt = in_.find('<', pos_);
      if (lt == std::string_view::npos) return;
      pos_ = lt;
      const std::string_view rest = in_.substr(pos_);
      if (rest.size() < 2) return;  // a lone "<" at the end is text
      const char next = rest[1];
      if (rest.substr(0, 4) == "<!--") {
        SkipComment();
      } else if (next == '!' || next == '?') {
        SkipBogus(2);
      } else if (next == '/') {
        if (rest.size() > 2 && IsAlpha(rest[2])) {
          std::string name;
          pos_ += 2;
          if (!ReadTag(&name, nullptr)) return;
        } else if (rest.size() > 2 && rest[2] == '>') {
          pos_ += 3;  // "</>" is ignored
        } else {
          SkipBogus(2);
        }
      } else if (IsAlpha(next)) {
        std::string name;
        TagAttributes attrs;
        pos_ += 1;
        if (!ReadTag(&name, &attrs)) return;
        OnStartTag(name, attrs);
        if (name == "plaintext") return;  // everything after it is text
        if (IsRawTextElement(name)) SkipRawText(name);
      } else {
        ++pos_;  // "<" as text
      }
    }
  }

 private:
  void Malformed() {
    if (!input_cut_) ++report_->malformed;
  }

  // At "<!--": to after the matching "-->" ("<!-->" and "<!--->" close at
  // once, as in HTML).
  void SkipComment() {
    const size_t body = pos_ + 4;
    if (in_.substr(body, 1) == ">") {
      pos_ = body + 1;
      return;
    }
    if (in_.substr(body, 2) == "->") {
      pos_ = body + 2;
      return;
    }
    const size_t end = in_.find("-->", body);
    if (end == std::string_view::npos) {
      Malformed();
      pos_ = in_.size();
      return;
    }
    pos_ = end + 3;
  }

  // <!DOCTYPE ...>, <?...>, </ ...>: to after the next ">".
  void SkipBogus(size_t skip) {
    const size_t end = in_.find('>', pos_ + skip);
    if (end == std::string_view::npos) {
      Malformed();
      pos_ = in_.size();
      return;
    }
    pos_ = end + 1;
  }

  // From the first letter of a tag name to after its ">". Names are
  // lower-cased and bounded; `attrs` (start tags only) collects what
  // matters. False at end of input inside the tag (the tag is dropped).
  bool ReadTag(std::string* name, TagAttributes* attrs) {
    while (pos_ < in_.size()) {
      const char c = in_[pos_];
      if (IsHtmlSpace(c) || c == '/' || c == '>') break;
      if (name->size() < kNameBytesMax) {
        name->push_back(LowerAscii(c));
      } else if (name->size() == kNameBytesMax) {
        name->push_back('\0');  // marks a cut name
      }
      ++pos_;
    }
    std::string attr;
    while (true) {
      // Between attributes.
      while (pos_ < in_.size() && (IsHtmlSpace(in_[pos_]) || in_[pos_] == '/')) ++pos_;
      if (pos_ >= in_.size()) break;
      if (in_[pos_] == '>') {
        ++pos_;
        return true;
      }
      // Attribute name (a leading "=" belongs to it, as in HTML).
      attr.clear();
      do {
        const char c = in_[pos_];
        if (attr.size() < kNameBytesMax) {
          attr.push_back(LowerAscii(c));
        } else if (attr.size() == kNameBytesMax) {
          attr.push_back('\0');
        }
        ++pos_;
      } while (pos_ < in_.size() && !IsHtmlSpace(in_[pos_]) && in_[pos_] != '/' &&
               in_[pos_] != '>' && in_[pos_] != '=');
      while (pos_ < in_.size() && IsHtmlSpace(in_[pos_])) ++pos_;
      std::string_view value;
      bool has_value = false;
      if (pos_ < in_.size() && in_[pos_] == '=') {
        ++pos_;
        while (pos_ < in_.size() && IsHtmlSpace(in_[pos_])) ++pos_;
        if (pos_ >= in_.size()) break;
        const char q = in_[pos_];
        if (q == '"' || q == '\'') {
          const size_t close = in_.find(q, pos_ + 1);
          if (close == std::string_view::npos) break;
          value = in_.substr(pos_ + 1, close - pos_ - 1);
          pos_ = close + 1;
        } else {
          const size_t begin = pos_;
          while (pos_ < in_.size() && !IsHtmlSpace(in_[pos_]) && in_[pos_] != '>') ++pos_;
          value = in_.substr(begin, pos_ - begin);
        }
        has_value = true;
      }
      if (attrs != nullptr) Record(attr, has_value ? value : std::string_view(), attrs);
    }
    Malformed();
    pos_ = in_.size();
    return false;
  }

  static void Record(const std::string& attr, std::string_view value, TagAttributes* attrs) {
    if (attr == "href" && !attrs->has_href) {
      attrs->has_href = true;
      attrs->href = value;
    } else if (attr == "rel" && !attrs->has_rel) {
      attrs->has_rel = true;
      attrs->rel = value;
    } else if (attr == "download") {
      attrs->has_download = true;
    } else if (attr == "data-preheat" && !attrs->has_preheat) {
      attrs->has_preheat = true;
      attrs->preheat = value;
    }
  }

  // After the start tag of a raw-text element: to its end tag ("</name"
  // then a space, "/" or ">"), which Run() then reads as a tag.
  void SkipRawText(const std::string& name) {
    while (true) {
      const size_t lt = in_.find("</", pos_);
      if (lt == std::string_view::npos) {
        Malformed();
        pos_ = in_.size();
        return;
      }
      const size_t after = lt + 2 + name.size();
      if (after <= in_.size() && EqualsIgnoreCase(in_.substr(lt + 2, name.size()), name) &&
          (after == in_.size() || IsHtmlSpace(in_[after]) || in_[after] == '/' ||
           in_[after] == '>')) {
        pos_ = lt;
        return;
      }
      pos_ = lt + 2;
    }
  }

  void OnStartTag(const std::string& name, const TagAttributes& attrs) {
    if (name == "base") {
      if (!base_seen_ && attrs.has_href) {
        base_seen_ = true;
        std::string text;
        if (Clean(attrs.href, &text)) {
          Result<Url> base = ResolveUrl(base_, text);
          if (base.ok()) base_ = std::move(*base);
        }
      }
      return;
    }
    const bool link = (name == "a" || name == "area") && attrs.has_href;
    if (!link && !attrs.has_preheat) return;
    if (attrs.has_download) return;
    if (attrs.has_rel) {
      DecodeAttribute(attrs.rel, kValueBytesMax, &scratch_);
      if (RelHasNofollow(scratch_)) return;
    }
    std::string text;
    bool fits = true;
    bool have = false;
    if (attrs.has_preheat) {
      std::string hint;
      fits = Clean(attrs.preheat, &hint);
      // An opt-out, as rel=nofollow: "false" and "0" are flags, not URLs
      // (a link to /logout marked so must never be fetched ahead).
      if (fits && (hint == "false" || hint == "0")) return;
      if (!fits || (!hint.empty() && hint != "true" && hint != "1")) {
        text = std::move(hint);
        have = true;
      }
    }
    if (!have && attrs.has_href) {
      fits = Clean(attrs.href, &text);
      have = true;
    }
    if (!have) return;  // a hint with nothing to fetch
    if (!fits) {
      collector_->Add(Status::InvalidArgument("url is too long"), attrs.has_preheat);
      return;
    }
    collector_->Add(ResolveUrl(base_, text), attrs.has_preheat);
  }

  // The reference text of an attribute value; false when it decodes to
  // more than a URL may hold.
  bool Clean(std::string_view raw, std::string* text) {
    while (!raw.empty() && IsHtmlSpace(raw.front())) raw.remove_prefix(1);
    while (!raw.empty() && IsHtmlSpace(raw.back())) raw.remove_suffix(1);
    const bool fits = DecodeAttribute(raw, kValueBytesMax, &scratch_);
    *text = fits ? CleanUrlText(scratch_) : std::string();
    return fits;
  }

  std::string_view in_;
  bool input_cut_;
  size_t pos_ = 0;
  Url base_;
  bool base_seen_ = false;
  Collector* collector_;
  ExtractReport* report_;
  std::string scratch_;
};

// ---------------------------------------------------------------------------
// JSON

using Json = nlohmann::ordered_json;

// The deepest nesting of arrays and objects, outside strings; stops
// counting once past `limit`.
uint64_t JsonNesting(std::string_view text, uint64_t limit) {
  uint64_t depth = 0;
  uint64_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// Splits a rule path into JSON Pointer tokens ("~1" is "/", "~0" is "~").
std::vector<std::string> PathTokens(std::string_view path) {
  std::vector<std::string> tokens;
  if (path.empty()) return tokens;
  if (path[0] == '/') path.remove_prefix(1);
  while (true) {
    const size_t slash = path.find('/');
    const std::string_view raw = path.substr(0, slash);
    std::string token;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token.push_back(raw[i + 1] == '0' ? '~' : '/');
        ++i;
      } else {
        token.push_back(raw[i]);
      }
    }
    tokens.push_back(std::move(token));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return tokens;
}

// A canonical array index ("0", "17"; no sign, no leading zero).
bool ArrayIndex(const std::string& token, size_t* index) {
  if (token.empty() || token.size() > 18) return false;
  if (token.size() > 1 && token[0] == '0') return false;
  size_t value = 0;
  for (char c : token) {
    if (!IsDigit(c)) return false;
    value = value * 10 + static_cast<size_t>(c - '0');
  }
  *index = value;
  return true;
}

// Every value `tokens` reaches, in document order.
std::vector<const Json*> Select(const Json& doc, const std::vector<std::string>& tokens) {
  std::vector<const Json*> current{&doc};
  std::vector<const Json*> next;
  for (const std::string& token : tokens) {
    next.clear();
    for (const Json* node : current) {
      if (node->is_array()) {
        if (token == "*") {
          for (const Json& child : *node) next.push_back(&child);
        } else {
          size_t index = 0;
          if (ArrayIndex(token, &index) && index < node->size()) next.push_back(&(*node)[index]);
        }
      } else if (node->is_object()) {
        if (token == "*") {
          for (auto it = node->begin(); it != node->end(); ++it) next.push_back(&it.value());
        } else {
          auto it = node->find(token);
          if (it != node->end()) next.push_back(&it.value());
        }
      }
    }
    current.swap(next);
    if (current.empty()) break;
  }
  return current;
}

// The ":name" parameters of a route template, in order.
std::vector<std::string> TemplateParams(std::string_view text) {
  std::vector<std::string> names;
  size_t i = 0;
  while (i < text.size()) {
    const size_t slash = text.find('/', i);
    const std::string_view segment =
        text.substr(i, slash == std::string_view::npos ? std::string_view::npos : slash - i);
    if (!segment.empty() && segment[0] == ':') names.emplace_back(segment.substr(1));
    if (slash == std::string_view::npos) break;
    i = slash + 1;
  }
  return names;
}

void ApplyRule(const Json& doc, const Url& page, const JsonReferenceRule& rule,
               Collector* collector, ExtractReport* report) {
  const bool templated = !rule.url_template.empty();
  Result<RoutePattern> pattern = RoutePattern::Parse(templated ? rule.url_template : "/");
  if (!pattern.ok()) {
    ++report->malformed;  // a broken template: the rule finds nothing
    return;
  }
  const std::vector<std::string> names = TemplateParams(rule.url_template);
  for (const Json* value : Select(doc, PathTokens(rule.path))) {
    if (collector->full()) return;
    if (!templated) {
      if (!value->is_string()) {
        ++report->malformed;
        continue;
      }
      const std::string& text = value->get_ref<const std::string&>();
      collector->Add(ResolveUrl(page, CleanUrlText(text)), false);
      continue;
    }
    std::string id;
    if (value->is_string()) {
      id = value->get_ref<const std::string&>();
    } else if (value->is_number_unsigned()) {
      id = std::to_string(value->get<uint64_t>());
    } else if (value->is_number_integer()) {
      id = std::to_string(value->get<int64_t>());
    } else {
      ++report->malformed;
      continue;
    }
    // "." and ".." would climb out of the template once resolved.
    if (id.empty() || id == "." || id == ".." || id.size() > kUrlBytesMax) {
      ++report->skipped_bad_url;
      continue;
    }
    // The id is one literal segment: encode everything but unreserved and
    // sub-delim characters, '%' included, so "%2e%2e" or "%41" stay as
    // written instead of decoding into a dot segment or another path.
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string segment;
    for (const char c : id) {
      if (IsAlnum(c) || std::string_view("-._~!$&'()*+,;=:@").find(c) != std::string_view::npos) {
        segment.push_back(c);
      } else {
        const auto u = static_cast<unsigned char>(c);
        segment.push_back('%');
        segment.push_back(kHex[u >> 4]);
        segment.push_back(kHex[u & 0xF]);
      }
    }
    RoutePattern::Params params;
    for (const std::string& name : names) params.emplace_back(name, segment);
    Result<std::string> path = pattern->Expand(params);
    if (!path.ok()) {
      ++report->skipped_bad_url;
      continue;
    }
    collector->Add(ResolveUrl(page, *path), false);
  }
}

}  // namespace

std::vector<Reference> ExtractHtmlReferences(std::string_view html, const Url& page,
                                             const ExtractOptions& options,
                                             ExtractReport* report) {
  ExtractReport local;
  if (report == nullptr) report = &local;
  *report = ExtractReport();
  bool cut = false;
  if (html.size() > options.input_bytes_max) {
    html = html.substr(0, static_cast<size_t>(options.input_bytes_max));
    report->truncated = true;
    cut = true;
  }
  Collector collector(page, options, report);
  HtmlScanner scanner(html, cut, page, &collector, report);
  scanner.Run();
  return collector.Take();
}

std::vector<Reference> ExtractJsonReferences(std::string_view json, const Url& page,
                                             const std::vector<JsonReferenceRule>& rules,
                                             const ExtractOptions& options,
                                             ExtractReport* report) {
  ExtractReport local;
  if (report == nullptr) report = &local;
  *report = ExtractReport();
  if (json.size() > options.input_bytes_max) {
    // A cut document cannot parse; say both why and what.
    report->truncated = true;
    report->malformed = 1;
    return {};
  }
  // nlohmann's parser recurses once per nesting level: refuse deep input
  // before it can exhaust the stack.
  if (JsonNesting(json, options.json_depth_max) > options.json_depth_max) {
    report->truncated = true;
    report->malformed = 1;
    return {};
  }
  const Json doc = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    report->malformed = 1;
    return {};
  }
  Collector collector(page, options, report);
  for (const JsonReferenceRule& rule : rules) {
    if (collector.full()) break;
    ApplyRule(doc, page, rule, &collector, report);
  }
  return collector.Take();
}

}  // namespace preheat
