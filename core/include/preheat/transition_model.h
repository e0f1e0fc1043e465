// TransitionModel: which page users open next from which, learned on the
// device and seeded from aggregated history.
#ifndef PREHEAT_TRANSITION_MODEL_H_
#define PREHEAT_TRANSITION_MODEL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "preheat/status.h"
#include "preheat/time.h"

namespace preheat {

struct TransitionModelOptions {
  uint32_t pages_max = 4096;           // "from" pages kept (least recently updated go)
  uint32_t targets_per_page_max = 32;  // "to" pages kept per page (weakest go)
  int64_t half_life_ms = 7LL * 24 * 3600 * 1000;  // counts halve this often
  // Export's output stays within this (below Engine::PutBlob's 4 MiB, so
  // that SaveModel keeps working however much the model has learned).
  uint32_t export_bytes_max = 3u << 20;
};

// Counts of transitions `from -> to`, exponentially decayed. Keys are
// opaque strings: the preheater records both URLs and route templates
// ("route:/issues/:id"), so what is learned on one issue generalises.
class TransitionModel {
 public:
  explicit TransitionModel(TransitionModelOptions options = {}) : options_(options) {}

  void Record(std::string_view from, std::string_view to, Instant now, double weight = 1.0);
  // P(to | from) from decayed counts; 0 when `from` is unknown.
  double Probability(std::string_view from, std::string_view to, Instant now) const;
  // Decayed number of transitions seen from `from`.
  double Total(std::string_view from, Instant now) const;
  size_t pages() const { return pages_.size(); }

  // {"v":1,"at":<ms>,"pages":{"from":{"to":count,...},...}}: counts decayed
  // to `now`. At most export_bytes_max bytes (an empty model's ~40 at
  // least): past it the least recently updated pages are left out, whole,
  // since Import derives a page's total from its targets. Import
  // adds the counts of such a document (a prior trained from a trace, or a
  // persisted model) as if recorded at `now`. Counts are capped at 1e9
  // (here and in Record), so sums of imports stay finite.
  // Errors (Import): kInvalidArgument for malformed JSON or a wrong
  // version; kTooLarge for documents over 16 MiB. Nothing is imported on
  // error.
  std::string Export(Instant now) const;
  Status Import(std::string_view json, Instant now);

 private:
  struct Target {
    double count = 0;
    Instant updated;
  };
  struct Page {
    std::unordered_map<std::string, Target> targets;
    double total = 0;
    Instant updated;
  };
  double Decayed(double count, Instant from, Instant to) const;
  void EvictPagesIfNeeded(std::string_view keep);

  TransitionModelOptions options_;
  std::unordered_map<std::string, Page> pages_;
};

}  // namespace preheat

#endif  // PREHEAT_TRANSITION_MODEL_H_
