// Runs the registered Google Benchmarks and prints, for each pair named in
// `ratios`, candidate time / baseline time measured in the same run. Ratios,
// not absolute times, are what we compare: the machines are noisy.
#ifndef PREHEAT_TESTS_BENCH_BENCH_RATIO_H_
#define PREHEAT_TESTS_BENCH_BENCH_RATIO_H_

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace preheat::bench {

struct Ratio {
  std::string candidate;
  std::string baseline;
  double target_max;  // the budget: candidate may take at most this many times the baseline
};

class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs) {
      if (run.run_type == Run::RT_Iteration && !run.error_occurred) {
        ns_per_op[run.benchmark_name()] = run.GetAdjustedCPUTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> ns_per_op;
};

// Returns 0 when every ratio is within its target, 1 otherwise.
inline int RunWithRatios(int argc, char** argv, const std::vector<Ratio>& ratios) {
  benchmark::Initialize(&argc, argv);
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  int status = 0;
  std::printf("\nratios (candidate / baseline, same run):\n");
  for (const Ratio& r : ratios) {
    auto c = reporter.ns_per_op.find(r.candidate);
    auto b = reporter.ns_per_op.find(r.baseline);
    if (c == reporter.ns_per_op.end() || b == reporter.ns_per_op.end() || b->second <= 0) {
      std::printf("  %s / %s: not measured\n", r.candidate.c_str(), r.baseline.c_str());
      continue;
    }
    double ratio = c->second / b->second;
    bool ok = ratio <= r.target_max;
    if (!ok) status = 1;
    std::printf("  %-40s / %-40s = %.2fx (target <= %.2fx) %s\n", r.candidate.c_str(),
                r.baseline.c_str(), ratio, r.target_max, ok ? "ok" : "OVER BUDGET");
  }
  benchmark::Shutdown();
  return status;
}

}  // namespace preheat::bench

#endif  // PREHEAT_TESTS_BENCH_BENCH_RATIO_H_
