// UserModel: seeded navigation sessions over the demo tracker, planned up
// front so every mode replays exactly the same clicks.
//
// The model (defaults; every number is an option):
//  - A session lands on page 1 of a random repository's issue list (page 2
//    or 3 one time in five).
//  - After each page the user dwells 1-10 s (uniform), then navigates:
//    * back (browser back to the previous page) with probability 0.26
//      when there is a page to go back to, which makes about 20% of all
//      navigations back navigations;
//    * else clicks. On a list: an issue (position Zipf(s=1) over the rows,
//      so the top rows get most clicks) with probability 0.9, else the next
//      page. On an issue: one of its cross-references with probability 0.6
//      (when it has any), else the repository's list. This gives about 30%
//      of clicks on cross-references (the run prints the realised shares).
//  - Each click is preceded by a hover on its link 100-600 ms earlier.
//  - A share of the users (`returning`, default all) come back: an
//    earlier visit left the landing page in their cache (the runner
//    fetches it before the measured session and does not count that
//    request). The others start with an empty cache.
// Planning reads only the tracker's link graph, never responses, so modes
// cannot influence the sessions.
#ifndef PREHEAT_DEMO_REPLAY_USER_MODEL_H_
#define PREHEAT_DEMO_REPLAY_USER_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tracker.h"

namespace preheat_demo {

struct UserModelOptions {
  uint32_t sessions = 20;
  uint32_t navigations = 10;  // per session, including the landing
  int64_t dwell_min_ms = 1000;
  int64_t dwell_max_ms = 10000;
  double zipf_s = 1.0;
  double back_prob = 0.26;      // when there is history; ~20% of navigations
  double xref_prob = 0.6;       // on an issue page with references; ~30% of clicks
  double next_page_prob = 0.1;  // on a list page
  int64_t hover_min_ms = 100;   // hover lead before a click
  int64_t hover_max_ms = 600;
  double returning = 1.0;       // share of sessions whose cache holds the landing page
};

enum class StepKind : uint8_t { kLanding, kClickIssue, kClickXref, kClickList, kClickNext, kBack };
const char* StepKindName(StepKind kind);

struct Step {
  StepKind kind = StepKind::kLanding;
  std::string path;      // the API path fetched, e.g. "/api/issues/12"
  int64_t dwell_ms = 0;  // time on the previous page before this navigation
  int64_t hover_ms = 0;  // hover lead before the click; 0: no hover (landing, back)
  uint32_t position = 0; // 1-based list position for kClickIssue; else 0
};

struct SessionPlan {
  uint32_t index = 0;
  // A returning user: the landing page is in the cache from an earlier
  // visit (stale, as every cached answer of the demo server is).
  bool returning = false;
  std::vector<Step> steps;
};

struct PlanStats {
  uint64_t navigations = 0;
  uint64_t clicks = 0;        // navigations that are neither landing nor back
  uint64_t xref_clicks = 0;
  uint64_t back = 0;
  uint64_t distinct_paths = 0;  // summed over sessions
  uint64_t returning = 0;       // sessions of returning users
};

// "" when valid, else what is wrong.
std::string ValidateUserModel(const UserModelOptions& options);

// REQUIRES: ValidateUserModel(options) is "".
std::vector<SessionPlan> PlanSessions(const Tracker& tracker, const UserModelOptions& options,
                                      uint64_t seed);
PlanStats StatsOf(const std::vector<SessionPlan>& plans);

// API paths.
std::string ListPath(const std::string& repo, uint32_t page);
std::string IssuePath(uint32_t id);

}  // namespace preheat_demo

#endif  // PREHEAT_DEMO_REPLAY_USER_MODEL_H_
