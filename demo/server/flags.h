// Command-line helpers shared by preheat-demo-server and preheat-demo: both
// accept the same server flags, so a replay can be run against exactly the
// origin one inspects by hand.
#ifndef PREHEAT_DEMO_SERVER_FLAGS_H_
#define PREHEAT_DEMO_SERVER_FLAGS_H_

#include <cstdint>
#include <string>

#include "demo_server.h"

namespace preheat_demo {

// Strict parsers: the whole text must be a number within [min, max].
bool ParseInt(const std::string& text, int64_t min, int64_t max, int64_t* out);
bool ParseDouble(const std::string& text, double min, double max, double* out);

// Reads the flag at argv[*i] as "--name=value" or "--name value" (then
// advances *i past the value). False, with *error, when argv[*i] is not a
// flag or its value is missing.
bool ReadFlag(int argc, char** argv, int* i, std::string* name, std::string* value,
              std::string* error);

// What ApplyServerFlag did with a flag.
enum class FlagResult { kApplied, kUnknown, kBadValue };

// Applies one of the server flags listed in kServerFlagsHelp (name includes
// the leading "--"). kBadValue sets *error.
FlagResult ApplyServerFlag(const std::string& name, const std::string& value,
                           DemoServerOptions* options, std::string* error);

// Usage lines for the server flags.
extern const char kServerFlagsHelp[];

}  // namespace preheat_demo

#endif  // PREHEAT_DEMO_SERVER_FLAGS_H_
