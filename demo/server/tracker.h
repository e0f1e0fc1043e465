// Tracker: the demo's synthetic issue tracker, generated from a seed at
// start-up. Same seed and options, same data, on every machine: the replay
// plans its sessions from it and the server serves it.
#ifndef PREHEAT_DEMO_SERVER_TRACKER_H_
#define PREHEAT_DEMO_SERVER_TRACKER_H_

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace preheat_demo {

struct Comment {
  std::string author;
  std::string body;  // may contain cross-references such as "#123"
};

struct Issue {
  uint32_t id = 0;  // global, 1-based; "#<id>" refers to it from any repo
  std::string repo;
  std::string title;
  std::string state;  // "open" or "closed"
  std::string author;
  std::string body;
  std::vector<Comment> comments;
  std::vector<uint32_t> refs;  // ids cross-referenced by body and comments, unique, in order
  int64_t created_unix = 0;
  uint32_t version = 1;  // bumped by every edit
};

// One row of a list page.
struct IssueSummary {
  uint32_t id = 0;
  std::string title;
  std::string state;
  std::string author;
  uint32_t comments = 0;
};

struct TrackerOptions {
  uint64_t seed = 1;
  uint32_t issues = 4000;  // in total, over every repo
  std::vector<std::string> repos = {"engine", "web", "native", "docs"};
  uint32_t page_size = 25;
};

// Thread-safety: every method may be called from any thread (one mutex; the
// data is small and reads are short).
class Tracker {
 public:
  // REQUIRES: options.issues >= 1, !options.repos.empty(), page_size >= 1,
  // repo names in [a-z0-9-]+ (checked by ValidateOptions).
  explicit Tracker(TrackerOptions options);

  // "" when valid, else what is wrong (for command-line errors).
  static std::string ValidateOptions(const TrackerOptions& options);

  const TrackerOptions& options() const { return options_; }
  const std::vector<std::string>& repos() const { return options_.repos; }
  uint32_t issue_count() const { return options_.issues; }

  // A copy of the issue, or nullopt for an unknown id.
  std::optional<Issue> GetIssue(uint32_t id) const;

  // Issue ids of a repo, newest first: the order of its list pages. Empty
  // for an unknown repo. Stable: edits do not reorder lists.
  std::vector<uint32_t> RepoIssueIds(const std::string& repo) const;
  // Number of list pages of a repo (at least 1 for a known repo; 0 unknown).
  uint32_t PageCount(const std::string& repo) const;
  // Rows of list page `page` (1-based); nullopt for an unknown repo or a
  // page past the last.
  std::optional<std::vector<IssueSummary>> ListPage(const std::string& repo, uint32_t page) const;

  // Changes an issue's title and bumps its version. False for an unknown id.
  bool SetTitle(uint32_t id, const std::string& title);

 private:
  size_t RepoIndex(const std::string& repo) const;  // repos().size() when unknown

  TrackerOptions options_;
  mutable std::mutex mu_;
  std::vector<Issue> issues_;                   // index id - 1
  std::vector<std::vector<uint32_t>> by_repo_;  // newest first
};

// Every "#<digits>" in text that names an existing issue (1..max_id), in
// order of appearance, without repeats.
std::vector<uint32_t> ExtractRefs(const std::string& text, uint32_t max_id);

}  // namespace preheat_demo

#endif  // PREHEAT_DEMO_SERVER_TRACKER_H_
