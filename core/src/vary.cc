#include "preheat/vary.h"

#include <algorithm>
#include <string_view>

namespace preheat {

namespace {

// RFC 9110 5.6.2.
bool IsTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), IsTchar); }

// Trims OWS and folds inner runs of spaces and tabs to one space, so
// "gzip,  br" and "gzip, br" select the same response.
std::string FoldOws(std::string_view s) {
  s = TrimOws(s);
  std::string out;
  out.reserve(s.size());
  bool in_space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      if (!in_space) out.push_back(' ');
      in_space = true;
    } else {
      out.push_back(c);
      in_space = false;
    }
  }
  return out;
}

}  // namespace

VarySpec ParseVary(const Headers& response) {
  VarySpec spec;
  for (const auto& [name, value] : response.fields()) {
    if (!EqualsIgnoreCase(name, "vary")) continue;
    if (TrimOws(value).empty()) continue;  // an empty list selects on nothing
    std::string_view rest = value;
    while (true) {
      const size_t comma = rest.find(',');
      const std::string_view member = TrimOws(rest.substr(0, comma));
      if (member == "*") {
        spec.matches_nothing = true;
      } else if (member.empty()) {
        ++spec.malformed_count;
      } else if (!IsToken(member)) {
        // A name we cannot compare would let a response be served for the
        // wrong request: treat it like "*".
        ++spec.malformed_count;
        spec.matches_nothing = true;
      } else {
        std::string lower = ToLowerAscii(member);
        if (std::find(spec.names.begin(), spec.names.end(), lower) == spec.names.end()) {
          if (spec.names.size() == kVaryNamesMax) {
            ++spec.malformed_count;
            spec.matches_nothing = true;
            spec.names.clear();
            return spec;  // nothing further changes the answer
          }
          spec.names.push_back(std::move(lower));
        }
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (spec.matches_nothing) {
    spec.names.clear();
  } else {
    std::sort(spec.names.begin(), spec.names.end());
  }
  return spec;
}

std::vector<std::pair<std::string, std::string>> SelectVaryValues(const VarySpec& spec,
                                                                  const Headers& request) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(spec.names.size());
  for (const std::string& name : spec.names) {
    // Each field is trimmed before joining, so a field's trailing OWS does
    // not leave a space before the ", " separator. An empty field adds no
    // list member (RFC 9110 5.6.1) and is not joined: "gzip" alone and
    // "gzip" plus an empty field select alike.
    std::string combined;
    bool present = false;
    for (const auto& field : request.fields()) {
      if (!EqualsIgnoreCase(field.first, name)) continue;
      present = true;
      const std::string_view field_value = TrimOws(field.second);
      if (field_value.empty()) continue;
      if (!combined.empty()) combined.append(", ");
      combined.append(field_value);
    }
    std::string value = FoldOws(combined);
    // RFC 9111 4.1: an absent field matches only absence. An empty field
    // is present ("Accept-Encoding:" asks for no content coding at all), so
    // it gets a value no field's value folds to; absence keeps "", as the
    // records stored before this distinction have it.
    if (present && value.empty()) value = kVaryValuePresentEmpty;
    out.emplace_back(name, std::move(value));
  }
  return out;
}

}  // namespace preheat
