// Runs the registered Google Benchmarks and prints, for each pair named in
// `ratios`, candidate time / baseline time measured in the same run. Ratios,
// not absolute times, are what we compare: the machines are noisy. With
// --benchmark_repetitions=N (best with
// --benchmark_enable_random_interleaving=true, so a burst of load from
// elsewhere hits candidate and baseline alike) each benchmark's time is the
// median of its repetitions.
#ifndef PREHEAT_TESTS_BENCH_BENCH_RATIO_H_
#define PREHEAT_TESTS_BENCH_BENCH_RATIO_H_

#include <benchmark/benchmark.h>

#include <algorithm>
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
        samples_[run.benchmark_name()].push_back(run.GetAdjustedCPUTime());
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // Median time per iteration of each benchmark over its repetitions.
  std::map<std::string, double> MedianNsPerOp() const {
    std::map<std::string, double> medians;
    for (const auto& [name, samples] : samples_) {
      std::vector<double> sorted = samples;
      std::sort(sorted.begin(), sorted.end());
      const size_t n = sorted.size();
      medians[name] = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
    return medians;
  }

 private:
  std::map<std::string, std::vector<double>> samples_;
};

// Returns 0 when every ratio is within its target, 1 otherwise.
inline int RunWithRatios(int argc, char** argv, const std::vector<Ratio>& ratios) {
  benchmark::Initialize(&argc, argv);
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  int status = 0;
  const std::map<std::string, double> ns_per_op = reporter.MedianNsPerOp();
  std::printf("\nratios (candidate / baseline, same run):\n");
  for (const Ratio& r : ratios) {
    auto c = ns_per_op.find(r.candidate);
    auto b = ns_per_op.find(r.baseline);
    if (c == ns_per_op.end() || b == ns_per_op.end() || b->second <= 0) {
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
