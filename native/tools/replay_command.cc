// preheat replay: replays navigation traces through the core's replay
// simulator (core/include/preheat/replay.h) and prints, per policy, how
// fast navigations were and what they cost.
//
//   preheat replay [--prior TRAIN_TRACE] TRACE [--json]
//   preheat replay --wikispeedia DIR [--train-fraction 0.7] [--json]
//
// Options: --seed N, --sessions N (replay at most N sessions),
// --train-fraction F (share of TRACE's sessions, chosen by seed, that train
// the prior instead of being replayed; default 0.7 with --wikispeedia and
// no --prior, else 0), --paths FILE (Wikispeedia paths file, default
// DIR/paths-dev.tsv), --write-trace FILE (save the converted trace),
// --sweep (also replay preheat variants: per_surface_max x score_min),
// --per-surface-max N, --score-min X, --hover-intent-ms N, --inflight-max N (override the
// replay's preheat configuration), --prior-backoff X (see ReplayOptions).
// Exit status: 0, or 2 for bad usage, unreadable files (a directory
// included) or a --write-trace file that cannot be written.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "preheat/number_text.h"
#include "preheat/replay.h"
#include "replay_command.h"

namespace {

// False when `path` cannot be read whole: missing, unreadable, a directory
// (which opens, then fails to read), or a read error part way. An empty
// file is fine.
bool ReadFile(const std::string& path, std::string* out) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::string text;
  char buf[1 << 16];
  while (in.read(buf, sizeof(buf)), in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return false;
  *out = std::move(text);
  return true;
}

// A count option's value: an integer in [min, UINT32_MAX].
bool Count(const char* text, int64_t min, uint32_t* out) {
  int64_t n = 0;
  if (!preheat::ParseIntText(text, min, UINT32_MAX, &n)) return false;
  *out = static_cast<uint32_t>(n);
  return true;
}

int Usage(const char* msg) {
  std::cerr << "preheat replay: " << msg << "\n"
            << "usage: preheat replay [--prior TRAIN_TRACE] TRACE [--json]\n"
            << "       preheat replay --wikispeedia DIR [--train-fraction F] [--json]\n"
            << "options: --seed N --sessions N --paths FILE --write-trace FILE --sweep\n"
            << "         --per-surface-max N --score-min X --hover-intent-ms N --inflight-max N\n"
            << "         --prior-backoff X\n";
  return 2;
}

void PrintVerdict(const preheat::ReplayReport& report) {
  const preheat::PolicyReport* ours = report.Find("swr_preheat");
  const preheat::PolicyReport* all = report.Find("prefetch_all");
  if (!ours || !all || all->instant_share() <= 0) return;
  double instant_ratio = ours->instant_share() / all->instant_share();
  double extra_ratio = all->extra_requests_per_navigation() > 0
                           ? ours->extra_requests_per_navigation() /
                                 all->extra_requests_per_navigation()
                           : 0;
  bool pass = instant_ratio >= 0.9 && extra_ratio <= 0.2;
  std::printf(
      "\ntarget: swr_preheat instant share = %.1f%% of prefetch_all's (>= 90%%), "
      "extra requests = %.1f%% of prefetch_all's (<= 20%%): %s\n",
      100 * instant_ratio, 100 * extra_ratio, pass ? "MET" : "NOT MET");
}

}  // namespace

int ReplayMain(int argc, char** argv) {
  std::string trace_path, prior_path, wiki_dir, paths_path, write_trace;
  bool json = false, sweep = false;
  double train_fraction = -1;
  preheat::ReplayOptions options;
  preheat::PreheatOptions preheat = preheat::ReplayPreheatDefaults();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)name;
      return argv[++i];
    };
    const char* v = nullptr;
    if (a == "--help" || a == "-h") {
      std::cout << "Replays navigation sessions over a link graph against a simulated origin\n"
                   "and compares no cache, SWR, SWR + preheat, prefetch-every-link and\n"
                   "hover-only on the same clicks (trace format: README, 'Replay').\n"
                   "usage: preheat replay [--prior TRAIN_TRACE] TRACE [--json]\n"
                   "       preheat replay --wikispeedia DIR [--train-fraction F] [--json]\n"
                   "options: --seed N --sessions N --paths FILE --write-trace FILE --sweep\n"
                   "         --per-surface-max N --score-min X --hover-intent-ms N --inflight-max N\n"
                   "         --prior-backoff X\n"
                   "exit status: 0, 2 for bad usage, unreadable files or a --write-trace\n"
                   "file that cannot be written, 7 when stdout cannot be written\n";
      return 0;
    }
    if (a == "--json") {
      json = true;
    } else if (a == "--sweep") {
      sweep = true;
    } else if (a == "--prior") {
      if (!(v = value("--prior"))) return Usage("--prior needs a file");
      prior_path = v;
    } else if (a == "--wikispeedia") {
      if (!(v = value("--wikispeedia"))) return Usage("--wikispeedia needs a folder");
      wiki_dir = v;
    } else if (a == "--paths") {
      if (!(v = value("--paths"))) return Usage("--paths needs a file");
      paths_path = v;
    } else if (a == "--write-trace") {
      if (!(v = value("--write-trace"))) return Usage("--write-trace needs a file");
      write_trace = v;
    } else if (a == "--train-fraction") {
      if (!(v = value("--train-fraction"))) return Usage("--train-fraction needs a number");
      if (!preheat::ParseRealText(v, 0, 1, &train_fraction) || train_fraction >= 1) {
        return Usage("--train-fraction: 0 <= F < 1");
      }
    } else if (a == "--seed") {
      if (!(v = value("--seed"))) return Usage("--seed needs a number");
      int64_t seed = 0;
      if (!preheat::ParseIntText(v, 0, INT64_MAX, &seed)) return Usage("--seed: an integer >= 0");
      options.seed = static_cast<uint64_t>(seed);
    } else if (a == "--sessions") {
      if (!(v = value("--sessions"))) return Usage("--sessions needs a number");
      if (!Count(v, 1, &options.sessions_max)) return Usage("--sessions: an integer >= 1");
    } else if (a == "--per-surface-max") {
      if (!(v = value("--per-surface-max"))) return Usage("--per-surface-max needs a number");
      if (!Count(v, 0, &preheat.per_surface_max)) return Usage("--per-surface-max: an integer >= 0");
    } else if (a == "--score-min") {
      if (!(v = value("--score-min"))) return Usage("--score-min needs a number");
      if (!preheat::ParseRealText(v, 0, 1e9, &preheat.score_min)) return Usage("--score-min: a number >= 0");
    } else if (a == "--prior-backoff") {
      if (!(v = value("--prior-backoff"))) return Usage("--prior-backoff needs a number");
      if (!preheat::ParseRealText(v, 0, 1e9, &options.prior_backoff)) {
        return Usage("--prior-backoff: a number >= 0");
      }
    } else if (a == "--inflight-max") {
      if (!(v = value("--inflight-max"))) return Usage("--inflight-max needs a number");
      if (!Count(v, 1, &preheat.inflight_max)) return Usage("--inflight-max: an integer >= 1");
    } else if (a == "--hover-intent-ms") {
      if (!(v = value("--hover-intent-ms"))) return Usage("--hover-intent-ms needs a number");
      if (!preheat::ParseIntText(v, 0, 3600000, &preheat.hover_intent_ms)) {
        return Usage("--hover-intent-ms: milliseconds, 0..3600000");
      }
    } else if (!a.empty() && a[0] == '-') {
      return Usage(("unknown option " + a).c_str());
    } else if (trace_path.empty()) {
      trace_path = a;
    } else {
      return Usage("one TRACE only");
    }
  }
  if (trace_path.empty() == wiki_dir.empty()) return Usage("give a TRACE or --wikispeedia DIR");
  if (wiki_dir.empty() && !(paths_path.empty() && write_trace.empty())) {
    return Usage("--paths and --write-trace go with --wikispeedia");
  }

  std::string text;
  if (!wiki_dir.empty()) {
    std::string articles, links, paths;
    if (paths_path.empty()) paths_path = wiki_dir + "/paths-dev.tsv";
    if (!ReadFile(wiki_dir + "/articles.tsv", &articles) ||
        !ReadFile(wiki_dir + "/links.tsv", &links) || !ReadFile(paths_path, &paths)) {
      std::cerr << "preheat replay: cannot read articles.tsv, links.tsv or " << paths_path
                << " in " << wiki_dir << "\n";
      return 2;
    }
    preheat::WikispeediaStats ws;
    text = preheat::WikispeediaToTrace(articles, links, paths, &ws);
    std::cerr << "wikispeedia: " << ws.pages << " pages, " << ws.links << " links, "
              << ws.sessions << " sessions, " << ws.malformed_lines << " malformed lines, "
              << ws.bad_back_clicks << " bad back clicks\n";
    if (!write_trace.empty()) {
      errno = 0;
      std::ofstream out(write_trace, std::ios::binary);
      if (out) out << text;
      if (out) out.close();  // the last bytes reach the file here (or fail: a full disk)
      if (!out) {
        std::cerr << "preheat replay: cannot write " << write_trace
                  << (errno != 0 ? std::string(": ") + std::strerror(errno) : std::string())
                  << "\n";
        return 2;
      }
    }
    if (train_fraction < 0 && prior_path.empty()) train_fraction = 0.7;
  } else if (!ReadFile(trace_path, &text)) {
    std::cerr << "preheat replay: cannot read " << trace_path << "\n";
    return 2;
  }
  preheat::Trace trace = preheat::ParseTrace(text, options.origin);
  text.clear();
  text.shrink_to_fit();
  std::vector<preheat::TraceSession> training;
  if (!prior_path.empty()) {
    std::string prior_text;
    if (!ReadFile(prior_path, &prior_text)) {
      std::cerr << "preheat replay: cannot read " << prior_path << "\n";
      return 2;
    }
    preheat::Trace prior = preheat::ParseTrace(prior_text, options.origin);
    std::cerr << "prior: " << prior.sessions.size() << " sessions, "
              << prior.stats.malformed_lines << " malformed lines skipped\n";
    training = std::move(prior.sessions);
  }
  if (train_fraction > 0) {
    auto split = preheat::TakeTrainingSessions(&trace, train_fraction, options.seed);
    for (auto& s : split) training.push_back(std::move(s));
  }
  std::cerr << "trace: " << trace.pages.size() << " pages, " << trace.sessions.size()
            << " sessions to replay, " << training.size() << " training sessions, "
            << trace.stats.malformed_lines << " malformed lines skipped"
            << (trace.stats.truncated ? " (truncated)" : "") << "\n";

  options.policies = preheat::DefaultReplayPolicies();
  for (auto& p : options.policies) {
    if (p.kind == preheat::ReplayPolicy::kSwrPreheat) p.preheat = preheat;
  }
  if (sweep) {
    // The budget curve: per_surface_max at the configured score_min, then
    // score_min at the configured per_surface_max.
    auto add = [&](uint32_t k, double s) {
      preheat::PolicyConfig c;
      c.kind = preheat::ReplayPolicy::kSwrPreheat;
      c.preheat = preheat;
      c.preheat.per_surface_max = k;
      c.preheat.score_min = s;
      c.name = "preheat[k=" + std::to_string(k) + ",s=" + preheat::FormatFixed(s, 3) + "]";
      options.policies.push_back(std::move(c));
    };
    for (uint32_t k : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 8u, 12u, 24u}) add(k, preheat.score_min);
    for (double s : {0.26, 0.27, 0.28, 0.3, 0.35}) add(preheat.per_surface_max, s);
  }
  preheat::ReplayReport report = preheat::RunReplay(trace, training, options);
  if (json) {
    std::cout << report.ToJson() << "\n";
  } else {
    std::cout << "sessions " << report.sessions << ", seed " << options.seed << ", prior from "
              << report.training_sessions << " sessions (" << report.prior_pages << " pages)\n"
              << report.ToTable();
    PrintVerdict(report);
  }
  return 0;
}
