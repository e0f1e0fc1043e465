#include "tracker.h"

#include <algorithm>
#include <cctype>

#include "preheat/prng.h"

namespace preheat_demo {
namespace {

const char* const kWords[] = {
    "cache",     "render",   "list",      "navigation", "latency",  "request", "header",
    "stale",     "fresh",    "revalidate", "worker",    "shell",    "page",    "button",
    "sidebar",   "filter",   "label",     "milestone",  "comment",  "review",  "merge",
    "branch",    "timeout",  "retry",     "database",   "index",    "query",   "layout",
    "scroll",    "flicker",  "regression", "memory",    "leak",     "crash",   "startup",
    "hydration", "bundle",   "module",    "config",     "flag",     "metric",  "budget",
    "preheat",   "hover",    "click",     "tab",        "mobile",   "desktop", "offline",
    "sync",      "conflict", "token",     "session",    "error",    "warning", "docs"};
constexpr size_t kWordCount = sizeof(kWords) / sizeof(kWords[0]);

const char* const kTitleStarts[] = {"Fix",     "Improve", "Flaky",  "Slow",   "Support",
                                    "Broken",  "Add",     "Remove", "Crash in", "Refactor",
                                    "Document", "Investigate"};
constexpr size_t kTitleStartCount = sizeof(kTitleStarts) / sizeof(kTitleStarts[0]);

const char* const kAuthors[] = {"ada",   "grace", "linus", "barbara", "ken",    "margaret",
                                "alan",  "edsger", "donald", "frances", "radia", "tim"};
constexpr size_t kAuthorCount = sizeof(kAuthors) / sizeof(kAuthors[0]);

std::string Word(preheat::Prng& rng) { return kWords[rng.Below(kWordCount)]; }

std::string Sentence(preheat::Prng& rng) {
  size_t n = 6 + rng.Below(10);
  std::string s;
  for (size_t i = 0; i < n; i++) {
    std::string w = Word(rng);
    if (i == 0) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
    if (i > 0) s += ' ';
    s += w;
  }
  return s + '.';
}

// A reference target: mostly recent issues of the same repo (people link
// what they are working on), sometimes any issue. 0 when none is possible.
uint32_t PickRef(preheat::Prng& rng, const std::vector<uint32_t>& same_repo_older,
                 uint32_t self, uint32_t max_id) {
  if (!same_repo_older.empty() && rng.Chance(0.75)) {
    // Bias towards the most recent: geometric-ish over the tail.
    size_t n = same_repo_older.size();
    size_t back = std::min<size_t>(n - 1, rng.Below(1 + rng.Below(std::min<size_t>(n, 60))));
    return same_repo_older[n - 1 - back];
  }
  if (max_id <= 1) return 0;
  uint32_t id = 1 + static_cast<uint32_t>(rng.Below(max_id));
  return id == self ? 0 : id;
}

// A paragraph with `refs` cross-references woven in.
std::string Paragraph(preheat::Prng& rng, const std::vector<uint32_t>& refs) {
  std::string text;
  size_t sentences = 2 + rng.Below(4);
  for (size_t i = 0; i < sentences; i++) {
    if (i > 0) text += ' ';
    text += Sentence(rng);
  }
  for (uint32_t r : refs) {
    switch (rng.Below(3)) {
      case 0: text += " See #" + std::to_string(r) + "."; break;
      case 1: text += " Probably a duplicate of #" + std::to_string(r) + "."; break;
      default: text += " Related: #" + std::to_string(r) + "."; break;
    }
  }
  return text;
}

}  // namespace

std::vector<uint32_t> ExtractRefs(const std::string& text, uint32_t max_id) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] != '#') continue;
    // "#12" counts only at a word start, so "a#1" or "##1" do not.
    if (i > 0 && (std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '#')) {
      continue;
    }
    size_t j = i + 1;
    uint64_t v = 0;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) && j - i <= 10) {
      v = v * 10 + static_cast<uint64_t>(text[j] - '0');
      j++;
    }
    if (j == i + 1 || v == 0 || v > max_id) continue;
    if (j < text.size() && std::isalnum(static_cast<unsigned char>(text[j]))) continue;
    uint32_t id = static_cast<uint32_t>(v);
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

std::string Tracker::ValidateOptions(const TrackerOptions& o) {
  if (o.issues < 1) return "issues must be at least 1";
  if (o.issues > 10000000) return "issues must be at most 10000000";
  if (o.repos.empty()) return "at least one repository is needed";
  if (o.page_size < 1 || o.page_size > 1000) return "page size must be in 1..1000";
  for (const auto& r : o.repos) {
    if (r.empty() || r.size() > 64) return "repository names must have 1..64 characters";
    for (char c : r) {
      if (!(std::islower(static_cast<unsigned char>(c)) ||
            std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
        return "repository name '" + r + "' may only use a-z, 0-9 and '-'";
      }
    }
    if (std::count(o.repos.begin(), o.repos.end(), r) > 1) return "repository '" + r + "' repeats";
  }
  return "";
}

Tracker::Tracker(TrackerOptions options) : options_(std::move(options)) {
  preheat::Prng rng(options_.seed ^ 0x7472616b6572ull);  // "tracker"
  const size_t nrepos = options_.repos.size();
  by_repo_.resize(nrepos);
  // Repos differ in size: weights 1, 1/2, 1/3, ... (a few big, some small).
  std::vector<double> weights(nrepos);
  double total = 0;
  for (size_t i = 0; i < nrepos; i++) total += (weights[i] = 1.0 / static_cast<double>(i + 1));

  std::vector<std::vector<uint32_t>> oldest_first(nrepos);
  issues_.reserve(options_.issues);
  const int64_t start_unix = 1735689600;  // 2025-01-01T00:00:00Z
  for (uint32_t id = 1; id <= options_.issues; id++) {
    // The first issues go round-robin so every repo has at least one.
    size_t repo = id <= nrepos ? id - 1 : 0;
    if (id > nrepos) {
      double x = rng.NextDouble() * total;
      while (repo + 1 < nrepos && x >= weights[repo]) x -= weights[repo++];
    }
    Issue issue;
    issue.id = id;
    issue.repo = options_.repos[repo];
    issue.title = std::string(kTitleStarts[rng.Below(kTitleStartCount)]) + " " + Word(rng) +
                  " " + Word(rng) + (rng.Chance(0.5) ? " on " + Word(rng) : std::string());
    issue.state = rng.Chance(0.35) ? "closed" : "open";
    issue.author = kAuthors[rng.Below(kAuthorCount)];
    issue.created_unix = start_unix + static_cast<int64_t>(id) * 1800 +
                         static_cast<int64_t>(rng.Below(1800));

    // References point to older issues (they existed when this was filed),
    // except for the very first ones.
    const uint32_t max_target = id > 1 ? id - 1 : 0;
    auto refs_for = [&](size_t count) {
      std::vector<uint32_t> refs;
      for (size_t i = 0; i < count; i++) {
        uint32_t r = PickRef(rng, oldest_first[repo], id, max_target);
        if (r != 0 && r != id) refs.push_back(r);
      }
      return refs;
    };
    // About 80% of issues cite something in their body.
    size_t body_refs = rng.Chance(0.8) ? 1 + rng.Below(3) : 0;
    issue.body = Paragraph(rng, refs_for(body_refs));
    if (rng.Chance(0.5)) issue.body += "\n\n" + Paragraph(rng, {});
    size_t ncomments = rng.Below(9);
    for (size_t c = 0; c < ncomments; c++) {
      Comment comment;
      comment.author = kAuthors[rng.Below(kAuthorCount)];
      comment.body = Paragraph(rng, refs_for(rng.Chance(0.25) ? 1 : 0));
      issue.comments.push_back(std::move(comment));
    }
    issue.refs = ExtractRefs(issue.body, options_.issues);
    for (const auto& c : issue.comments) {
      for (uint32_t r : ExtractRefs(c.body, options_.issues)) {
        if (std::find(issue.refs.begin(), issue.refs.end(), r) == issue.refs.end()) {
          issue.refs.push_back(r);
        }
      }
    }
    oldest_first[repo].push_back(id);
    issues_.push_back(std::move(issue));
  }
  for (size_t r = 0; r < nrepos; r++) {
    by_repo_[r].assign(oldest_first[r].rbegin(), oldest_first[r].rend());
  }
}

size_t Tracker::RepoIndex(const std::string& repo) const {
  auto it = std::find(options_.repos.begin(), options_.repos.end(), repo);
  return static_cast<size_t>(it - options_.repos.begin());
}

std::optional<Issue> Tracker::GetIssue(uint32_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (id < 1 || id > issues_.size()) return std::nullopt;
  return issues_[id - 1];
}

std::vector<uint32_t> Tracker::RepoIssueIds(const std::string& repo) const {
  size_t r = RepoIndex(repo);
  if (r >= by_repo_.size()) return {};
  return by_repo_[r];  // immutable after construction: no lock needed
}

uint32_t Tracker::PageCount(const std::string& repo) const {
  size_t r = RepoIndex(repo);
  if (r >= by_repo_.size()) return 0;
  size_t n = by_repo_[r].size();
  return static_cast<uint32_t>(std::max<size_t>(1, (n + options_.page_size - 1) / options_.page_size));
}

std::optional<std::vector<IssueSummary>> Tracker::ListPage(const std::string& repo,
                                                           uint32_t page) const {
  size_t r = RepoIndex(repo);
  if (r >= by_repo_.size() || page < 1 || page > PageCount(repo)) return std::nullopt;
  const auto& ids = by_repo_[r];
  size_t begin = static_cast<size_t>(page - 1) * options_.page_size;
  size_t end = std::min(ids.size(), begin + options_.page_size);
  std::vector<IssueSummary> rows;
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = begin; i < end; i++) {
    const Issue& is = issues_[ids[i] - 1];
    rows.push_back({is.id, is.title, is.state, is.author,
                    static_cast<uint32_t>(is.comments.size())});
  }
  return rows;
}

bool Tracker::SetTitle(uint32_t id, const std::string& title) {
  std::lock_guard<std::mutex> lock(mu_);
  if (id < 1 || id > issues_.size()) return false;
  issues_[id - 1].title = title;
  issues_[id - 1].version++;
  return true;
}

}  // namespace preheat_demo
