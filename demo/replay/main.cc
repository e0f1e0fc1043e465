// preheat-demo: starts the demo origin on a free loopback port, replays
// seeded navigation sessions through the native runtime in each mode
// (no cache, SWR, SWR + preheat) and prints the instant/fast/slow
// distribution per mode; writes an HTML chart and the numbers as JSON.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "flags.h"
#include "replay.h"
#include "report.h"

namespace fs = std::filesystem;

namespace {

void Usage(FILE* out) {
  std::fprintf(
      out,
      "usage: preheat-demo [flags]\n"
      "Replays seeded user sessions against an in-process demo server through the native\n"
      "runtime, once per mode, and reports time from click to content.\n"
      "Sessions:\n"
      "  --sessions N          concurrent users per mode (default 20)\n"
      "  --navigations N       navigations per session, landing included (default 10)\n"
      "  --seed N              plans the sessions (default 1)\n"
      "  --dwell MIN-MAX       ms on a page before the next navigation (default 1000-10000)\n"
      "  --hover MIN-MAX       ms a hover precedes its click (default 100-600)\n"
      "  --back P              probability of going back, given history (default 0.26)\n"
      "  --xref P              on an issue, probability of following a reference (default 0.6)\n"
      "  --zipf S              exponent of list click positions (default 1)\n"
      "  --returning P         share of returning users, whose cache holds the landing page\n"
      "                        from an earlier visit (default 1; 0: every cache starts empty)\n"
      "  --preheat-budget N    preheats per page (per-surface budget; default 3)\n"
      "  --modes LIST          comma-separated: no-cache,swr,swr+preheat (default all)\n"
      "  --sequential          run modes one after another (default: concurrently, each\n"
      "                        against its own server)\n"
      "Output:\n"
      "  --out DIR             where the HTML chart and JSON go (default: next to this\n"
      "                        program, i.e. under build/)\n"
      "  --quiet               no progress\n"
      "Server:\n"
      "%s"
      "  --help                this text\n",
      preheat_demo::kServerFlagsHelp);
}

bool ParseRange(const std::string& text, int64_t* lo, int64_t* hi) {
  size_t dash = text.find('-');
  if (dash == std::string::npos) {
    return preheat_demo::ParseInt(text, 0, 3600000, lo) && (*hi = *lo, true);
  }
  return preheat_demo::ParseInt(text.substr(0, dash), 0, 3600000, lo) &&
         preheat_demo::ParseInt(text.substr(dash + 1), 0, 3600000, hi) && *lo <= *hi;
}

// The directory of this executable (under build/), so the report never
// lands in the source tree; the temp directory when it cannot be found.
fs::path DefaultOutDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && exe.has_parent_path()) return exe.parent_path();
  return fs::temp_directory_path(ec);
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "preheat-demo: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  preheat_demo::ReplayOptions options;
  fs::path out_dir;
  bool quiet = false;
  for (int i = 1; i < argc; i++) {
    std::string name = argv[i];
    if (name == "--help" || name == "-h") {
      Usage(stdout);
      return 0;
    }
    if (name == "--sequential") {
      options.concurrent_modes = false;
      continue;
    }
    if (name == "--quiet") {
      quiet = true;
      continue;
    }
    std::string value, error;
    if (!preheat_demo::ReadFlag(argc, argv, &i, &name, &value, &error)) return Fail(error);
    int64_t n = 0;
    auto& m = options.model;
    if (name == "--sessions") {
      if (!preheat_demo::ParseInt(value, 1, 10000, &n)) return Fail("--sessions: expected 1..10000");
      m.sessions = static_cast<uint32_t>(n);
    } else if (name == "--navigations") {
      if (!preheat_demo::ParseInt(value, 1, 100000, &n)) {
        return Fail("--navigations: expected 1..100000");
      }
      m.navigations = static_cast<uint32_t>(n);
    } else if (name == "--seed") {
      if (!preheat_demo::ParseInt(value, 0, INT64_MAX, &n)) return Fail("--seed: expected >= 0");
      options.seed = static_cast<uint64_t>(n);
    } else if (name == "--dwell") {
      if (!ParseRange(value, &m.dwell_min_ms, &m.dwell_max_ms)) {
        return Fail("--dwell " + value + ": expected MIN-MAX in ms, MIN <= MAX");
      }
    } else if (name == "--hover") {
      if (!ParseRange(value, &m.hover_min_ms, &m.hover_max_ms)) {
        return Fail("--hover " + value + ": expected MIN-MAX in ms, MIN <= MAX");
      }
    } else if (name == "--back") {
      if (!preheat_demo::ParseDouble(value, 0, 1, &m.back_prob)) return Fail("--back: expected 0..1");
    } else if (name == "--xref") {
      if (!preheat_demo::ParseDouble(value, 0, 1, &m.xref_prob)) return Fail("--xref: expected 0..1");
    } else if (name == "--zipf") {
      if (!preheat_demo::ParseDouble(value, 0, 10, &m.zipf_s)) return Fail("--zipf: expected 0..10");
    } else if (name == "--returning") {
      if (!preheat_demo::ParseDouble(value, 0, 1, &m.returning)) {
        return Fail("--returning: expected 0..1");
      }
    } else if (name == "--preheat-budget") {
      if (!preheat_demo::ParseInt(value, 0, 1000, &n)) return Fail("--preheat-budget: expected 0..1000");
      options.preheat_budget = static_cast<int32_t>(n);
    } else if (name == "--modes") {
      if (!preheat_demo::ParseModes(value, &options.modes, &error)) return Fail("--modes: " + error);
    } else if (name == "--out") {
      out_dir = value;
    } else {
      switch (preheat_demo::ApplyServerFlag(name, value, &options.server, &error)) {
        case preheat_demo::FlagResult::kApplied: break;
        case preheat_demo::FlagResult::kBadValue: return Fail(error);
        case preheat_demo::FlagResult::kUnknown:
          return Fail("unknown flag " + name + " (see --help)");
      }
    }
  }
  if (out_dir.empty()) out_dir = DefaultOutDir();
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return Fail("cannot create output directory " + out_dir.string() + ": " + ec.message());

  const auto& m = options.model;
  std::printf("preheat-demo: %u sessions x %u navigations per mode, %u issues in %zu repos; "
              "server latency: API %s, pages %s\n",
              m.sessions, m.navigations, options.server.data.issues,
              options.server.data.repos.size(), options.server.api.ToString().c_str(),
              options.server.page.ToString().c_str());
  std::fflush(stdout);

  const bool tty = isatty(STDERR_FILENO) != 0;
  int ticks = 0;
  if (!quiet) {
    options.on_progress = [tty, &ticks](const std::vector<preheat_demo::ModeProgress>& p) {
      // On a terminal, one line rewritten each second; in logs, one line
      // every ten seconds.
      if (!tty && ticks++ % 10 != 0) return;
      std::string line = "  progress:";
      for (const auto& mp : p) {
        line += "  " + std::string(preheat_demo::ModeName(mp.mode)) + " " +
                std::to_string(mp.done) + "/" + std::to_string(mp.total);
      }
      std::fprintf(stderr, tty ? "\r%s   " : "%s\n", line.c_str());
      std::fflush(stderr);
    };
  }
  auto result = preheat_demo::RunReplay(options);
  if (tty && !quiet) std::fprintf(stderr, "\n");
  if (!result.ok()) {
    std::fprintf(stderr, "preheat-demo: %s\n", result.status().ToString().c_str());
    return result.status().code() == preheat::Code::kInvalidArgument ? 2 : 1;
  }
  const preheat_demo::ReplayReport& report = result.value();
  std::printf("\n%s", preheat_demo::FormatTable(report).c_str());

  fs::path html = out_dir / "preheat-demo-report.html";
  fs::path json = out_dir / "preheat-demo-report.json";
  // Each file is checked once closed: a path that is a directory, a full
  // disk or a write error fails the run (a report left by an earlier run
  // must not pass for this one's).
  for (const auto& [path, text] : {std::pair{html, preheat_demo::RenderHtml(report)},
                                   std::pair{json, preheat_demo::ReportJson(report)}}) {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file << text;
    file.close();
    if (!file) return Fail("cannot write " + path.string());
  }
  std::printf("\nRan in %.1f s. Chart: %s\nNumbers: %s\n",
              static_cast<double>(report.wall_ms) / 1000.0, html.string().c_str(),
              json.string().c_str());
  return 0;
}
