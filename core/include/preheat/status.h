// Status and Result<T>: how every core function reports failure.
//
// The core never throws across its API. A function that can fail returns a
// Status (or a Result<T>, which is a Status or a value). Codes are stable: they
// are persisted in logs, crossed into JavaScript and tested by number, so never
// renumber them; add new ones at the end.
#ifndef PREHEAT_STATUS_H_
#define PREHEAT_STATUS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace preheat {

enum class Code : uint8_t {
  kOk = 0,
  kNotFound = 1,         // no such key / entry
  kInvalidArgument = 2,  // malformed URL, key, header, option
  kTooLarge = 3,         // body or record over a configured limit
  kCorrupt = 4,          // a stored record that fails to decode
  kUnavailable = 5,      // network or store unreachable; try again later
  kIoError = 6,          // the store failed an operation
  kLimitReached = 7,     // a queue or in-flight bound is full
  kCancelled = 8,        // the operation was cancelled
  kTimeout = 9,          // the operation ran out of time
  kNoSpace = 10,         // disk full or quota exceeded
  kHttpError = 11,       // the origin answered with an error status
  kInternal = 12,        // a broken invariant; a bug
};

// Stable lower-case name of a code ("not_found"), for JSON and logs.
const char* CodeName(Code code);

class Status {
 public:
  Status() = default;  // OK
  static Status Ok() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status TooLarge(std::string msg) { return Status(Code::kTooLarge, std::move(msg)); }
  static Status Corrupt(std::string msg) { return Status(Code::kCorrupt, std::move(msg)); }
  static Status Unavailable(std::string msg) {
    return Status(Code::kUnavailable, std::move(msg));
  }
  static Status IoError(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
  static Status LimitReached(std::string msg) {
    return Status(Code::kLimitReached, std::move(msg));
  }
  static Status Cancelled(std::string msg) { return Status(Code::kCancelled, std::move(msg)); }
  static Status Timeout(std::string msg) { return Status(Code::kTimeout, std::move(msg)); }
  static Status NoSpace(std::string msg) { return Status(Code::kNoSpace, std::move(msg)); }
  static Status HttpError(std::string msg) { return Status(Code::kHttpError, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }

  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }

  // "not_found: no entry for key ..." or "ok".
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status saying why there is none.
// REQUIRES: value() only when ok(); status() is OK when a value is held.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}   // NOLINT: implicit by design

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }
  const T& operator*() const& { return *value_; }
  T& operator*() & { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace preheat

#endif  // PREHEAT_STATUS_H_
