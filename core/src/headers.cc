#include "preheat/headers.h"

#include <algorithm>
#include <iterator>

namespace preheat {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(a[i]) != LowerAscii(b[i])) return false;
  }
  return true;
}

std::string ToLowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = LowerAscii(c);
  return out;
}

std::string_view TrimOws(std::string_view s) {
  size_t begin = 0;
  size_t end = s.size();
  while (begin < end && (s[begin] == ' ' || s[begin] == '\t')) ++begin;
  while (end > begin && (s[end - 1] == ' ' || s[end - 1] == '\t')) --end;
  return s.substr(begin, end - begin);
}

void Headers::Add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

void Headers::Set(std::string name, std::string value) {
  // Keep the position of the first occurrence so field order stays stable.
  auto first = std::find_if(fields_.begin(), fields_.end(),
                            [&](const Field& f) { return EqualsIgnoreCase(f.first, name); });
  if (first == fields_.end()) {
    fields_.emplace_back(std::move(name), std::move(value));
    return;
  }
  first->first = std::move(name);
  first->second = std::move(value);
  const std::string& kept = first->first;
  auto next = std::next(first);
  fields_.erase(std::remove_if(next, fields_.end(),
                               [&](const Field& f) { return EqualsIgnoreCase(f.first, kept); }),
                fields_.end());
}

size_t Headers::Remove(std::string_view name) {
  auto it = std::remove_if(fields_.begin(), fields_.end(),
                           [&](const Field& f) { return EqualsIgnoreCase(f.first, name); });
  size_t removed = static_cast<size_t>(fields_.end() - it);
  fields_.erase(it, fields_.end());
  return removed;
}

bool Headers::Has(std::string_view name) const {
  return std::any_of(fields_.begin(), fields_.end(),
                     [&](const Field& f) { return EqualsIgnoreCase(f.first, name); });
}

std::optional<std::string> Headers::Get(std::string_view name) const {
  for (const Field& f : fields_) {
    if (EqualsIgnoreCase(f.first, name)) return f.second;
  }
  return std::nullopt;
}

std::optional<std::string> Headers::GetCombined(std::string_view name) const {
  std::optional<std::string> out;
  for (const Field& f : fields_) {
    if (!EqualsIgnoreCase(f.first, name)) continue;
    if (out) {
      out->append(", ");
      out->append(f.second);
    } else {
      out = f.second;
    }
  }
  return out;
}

size_t Headers::ByteSize() const {
  size_t total = 0;
  for (const Field& f : fields_) total += f.first.size() + f.second.size();
  return total;
}

}  // namespace preheat
