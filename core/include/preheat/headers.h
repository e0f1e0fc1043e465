// Headers: an ordered, case-insensitive list of HTTP header fields.
#ifndef PREHEAT_HEADERS_H_
#define PREHEAT_HEADERS_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace preheat {

// Field names compare case-insensitively (RFC 9110 5.1); order and repeated
// fields are kept as received. Values are stored as given (no folding).
class Headers {
 public:
  using Field = std::pair<std::string, std::string>;

  Headers() = default;
  Headers(std::initializer_list<Field> fields) : fields_(fields) {}

  // Makes room for `count` fields in all, so that adding up to that many
  // does not reallocate the list (a decoder that knows the count up front
  // allocates once instead of log2(count) times). Never fails; the fields
  // are unchanged.
  void Reserve(size_t count) { fields_.reserve(count); }
  // Appends a field, keeping any existing fields of the same name.
  void Add(std::string name, std::string value);
  // Replaces every field of that name with one field.
  void Set(std::string name, std::string value);
  // Removes every field of that name; returns how many were removed.
  size_t Remove(std::string_view name);
  bool Has(std::string_view name) const;
  // The first field's value, or nullopt.
  std::optional<std::string> Get(std::string_view name) const;
  // All values of a name joined with ", " (RFC 9110 5.3), or nullopt.
  std::optional<std::string> GetCombined(std::string_view name) const;

  const std::vector<Field>& fields() const { return fields_; }
  size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  // Sum of name and value lengths, the bytes this list is charged for.
  size_t ByteSize() const;

 private:
  std::vector<Field> fields_;
};

// ASCII lower case of one byte (any other byte unchanged).
constexpr char LowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
// ASCII case-insensitive equality.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// ASCII lower-case copy.
std::string ToLowerAscii(std::string_view s);
// Trims spaces and horizontal tabs (OWS) from both ends.
std::string_view TrimOws(std::string_view s);

}  // namespace preheat

#endif  // PREHEAT_HEADERS_H_
