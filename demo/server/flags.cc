#include "flags.h"

#include <sstream>

#include "preheat/number_text.h"

namespace preheat_demo {

const char kServerFlagsHelp[] =
    "  --issues N            issues generated in total (default 4000)\n"
    "  --repos A,B,...       repository names, [a-z0-9-] (default engine,web,native,docs)\n"
    "  --page-size N         rows per list page (default 25)\n"
    "  --data-seed N         seeds the generated tracker (default 1)\n"
    "  --latency-api MS[:S]  API delay: log-normal median ms and sigma (default 300:0.5)\n"
    "  --latency-page MS[:S] server-rendered page delay (default 1000:0.45)\n"
    "  --latency-shell MS[:S] thin shell delay (default 40:0.3)\n"
    "  --failure-rate R      share of API/page requests answered 503 (default 0)\n"
    "  --swr SECONDS         stale-while-revalidate of JSON answers (default 86400)\n"
    "  --static-swr SECONDS  files: max-age=0, stale-while-revalidate=SECONDS\n"
    "                        (default 0: no-cache, revalidated on every use)\n"
    "  --static-max-age SECONDS  files: fresh for SECONDS (max-age; with\n"
    "                        --static-swr, then stale-while-revalidate)\n"
    "  --threads N           server worker threads (default 256)\n";

bool ParseInt(const std::string& text, int64_t min, int64_t max, int64_t* out) {
  return preheat::ParseIntText(text, min, max, out);
}

bool ReadFlag(int argc, char** argv, int* i, std::string* name, std::string* value,
              std::string* error) {
  *name = argv[*i];
  value->clear();
  if (name->rfind("--", 0) != 0) {
    *error = "unexpected argument '" + *name + "' (see --help)";
    return false;
  }
  size_t eq = name->find('=');
  if (eq != std::string::npos) {
    *value = name->substr(eq + 1);
    name->resize(eq);
  } else if (*i + 1 < argc) {
    *value = argv[++*i];
  } else {
    *error = *name + " needs a value (see --help)";
    return false;
  }
  return true;
}

bool ParseDouble(const std::string& text, double min, double max, double* out) {
  return preheat::ParseRealText(text, min, max, out);
}

FlagResult ApplyServerFlag(const std::string& name, const std::string& value,
                           DemoServerOptions* o, std::string* error) {
  int64_t n = 0;
  auto bad = [&](const std::string& why) {
    *error = name + " " + value + ": " + why;
    return FlagResult::kBadValue;
  };
  if (name == "--issues") {
    if (!ParseInt(value, 1, 10000000, &n)) return bad("expected an integer in 1..10000000");
    o->data.issues = static_cast<uint32_t>(n);
  } else if (name == "--repos") {
    o->data.repos.clear();
    std::stringstream list(value);
    std::string item;
    while (std::getline(list, item, ',')) o->data.repos.push_back(item);
    std::string why = Tracker::ValidateOptions(o->data);
    if (!why.empty()) return bad(why);
  } else if (name == "--page-size") {
    if (!ParseInt(value, 1, 1000, &n)) return bad("expected an integer in 1..1000");
    o->data.page_size = static_cast<uint32_t>(n);
  } else if (name == "--data-seed") {
    if (!ParseInt(value, 0, INT64_MAX, &n)) return bad("expected a non-negative integer");
    o->data.seed = static_cast<uint64_t>(n);
  } else if (name == "--latency-api" || name == "--latency-page" || name == "--latency-shell") {
    LatencyDist d;
    std::string why;
    if (!LatencyDist::Parse(value, &d, &why)) return bad(why);
    (name == "--latency-api" ? o->api : name == "--latency-page" ? o->page : o->shell) = d;
  } else if (name == "--failure-rate") {
    if (!ParseDouble(value, 0, 1, &o->failure_rate)) return bad("expected a number in 0..1");
  } else if (name == "--swr") {
    if (!ParseInt(value, 0, 100000000, &o->swr_seconds)) return bad("expected seconds >= 0");
  } else if (name == "--static-swr") {
    if (!ParseInt(value, 0, 100000000, &o->static_swr_seconds)) return bad("expected seconds >= 0");
  } else if (name == "--static-max-age") {
    if (!ParseInt(value, 0, 100000000, &o->static_max_age_seconds)) return bad("expected seconds >= 0");
  } else if (name == "--threads") {
    if (!ParseInt(value, 1, 4096, &n)) return bad("expected an integer in 1..4096");
    o->threads = static_cast<size_t>(n);
  } else {
    return FlagResult::kUnknown;
  }
  return FlagResult::kApplied;
}

}  // namespace preheat_demo
