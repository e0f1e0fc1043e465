#include "user_model.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "preheat/prng.h"

namespace preheat_demo {
namespace {

// A page the user is on: a list page or an issue.
struct Page {
  bool is_list = true;
  std::string repo;
  uint32_t page = 1;  // list page
  uint32_t id = 0;    // issue
  std::string Path() const { return is_list ? ListPath(repo, page) : IssuePath(id); }
};

int64_t Uniform(preheat::Prng& rng, int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(rng.Below(static_cast<uint64_t>(hi - lo) + 1));
}

// 1-based position drawn from Zipf(s) over n positions.
uint32_t Zipf(preheat::Prng& rng, uint32_t n, double s) {
  double total = 0;
  for (uint32_t k = 1; k <= n; k++) total += 1.0 / std::pow(k, s);
  double x = rng.NextDouble() * total;
  for (uint32_t k = 1; k <= n; k++) {
    x -= 1.0 / std::pow(k, s);
    if (x < 0) return k;
  }
  return n;
}

}  // namespace

const char* StepKindName(StepKind kind) {
  switch (kind) {
    case StepKind::kLanding: return "landing";
    case StepKind::kClickIssue: return "click-issue";
    case StepKind::kClickXref: return "click-xref";
    case StepKind::kClickList: return "click-list";
    case StepKind::kClickNext: return "click-next";
    case StepKind::kBack: return "back";
  }
  return "?";
}

std::string ListPath(const std::string& repo, uint32_t page) {
  return "/api/repos/" + repo + "/issues?page=" + std::to_string(page);
}
std::string IssuePath(uint32_t id) { return "/api/issues/" + std::to_string(id); }

std::string ValidateUserModel(const UserModelOptions& o) {
  if (o.sessions < 1 || o.sessions > 10000) return "sessions must be in 1..10000";
  if (o.navigations < 1 || o.navigations > 100000) return "navigations must be in 1..100000";
  if (o.dwell_min_ms < 0 || o.dwell_max_ms < o.dwell_min_ms) {
    return "dwell must satisfy 0 <= min <= max";
  }
  if (o.hover_min_ms < 0 || o.hover_max_ms < o.hover_min_ms) {
    return "hover lead must satisfy 0 <= min <= max";
  }
  if (!(o.zipf_s >= 0 && o.zipf_s <= 10)) return "zipf exponent must be in 0..10";
  for (double p : {o.back_prob, o.xref_prob, o.next_page_prob, o.returning}) {
    if (!(p >= 0 && p <= 1)) return "probabilities must be in 0..1";
  }
  return "";
}

std::vector<SessionPlan> PlanSessions(const Tracker& tracker, const UserModelOptions& o,
                                      uint64_t seed) {
  std::vector<SessionPlan> plans;
  const auto& repos = tracker.repos();
  for (uint32_t s = 0; s < o.sessions; s++) {
    // One stream per session: changing the session count keeps the others.
    preheat::Prng rng(seed * 0x9e3779b97f4a7c15ull + s + 1);
    SessionPlan plan;
    plan.index = s;
    // Its own stream, so the share of returning users leaves the clicks as
    // they are.
    preheat::Prng returning_rng(seed * 0xbf58476d1ce4e5b9ull + s + 1);
    plan.returning = returning_rng.NextDouble() < o.returning;
    Page page;
    page.repo = repos[rng.Below(repos.size())];
    page.page = rng.Chance(0.2) ? 2 + static_cast<uint32_t>(rng.Below(2)) : 1;
    page.page = std::min(page.page, tracker.PageCount(page.repo));
    std::vector<Page> history;
    plan.steps.push_back({StepKind::kLanding, page.Path(), 0, 0, 0});

    for (uint32_t n = 1; n < o.navigations; n++) {
      Step step;
      step.dwell_ms = Uniform(rng, o.dwell_min_ms, o.dwell_max_ms);
      if (!history.empty() && rng.Chance(o.back_prob)) {
        page = history.back();
        history.pop_back();
        step.kind = StepKind::kBack;
      } else {
        history.push_back(page);
        step.hover_ms = std::min(step.dwell_ms, Uniform(rng, o.hover_min_ms, o.hover_max_ms));
        if (page.is_list) {
          auto rows = tracker.ListPage(page.repo, page.page);
          bool has_next = page.page < tracker.PageCount(page.repo);
          if (rows && !rows->empty() && !(has_next && rng.Chance(o.next_page_prob))) {
            step.kind = StepKind::kClickIssue;
            step.position = Zipf(rng, static_cast<uint32_t>(rows->size()), o.zipf_s);
            page.is_list = false;
            page.id = (*rows)[step.position - 1].id;
          } else {
            step.kind = StepKind::kClickNext;
            page.page = has_next ? page.page + 1 : 1;
          }
        } else {
          auto issue = tracker.GetIssue(page.id);
          if (issue && !issue->refs.empty() && rng.Chance(o.xref_prob)) {
            step.kind = StepKind::kClickXref;
            page.id = issue->refs[rng.Below(issue->refs.size())];
          } else {
            step.kind = StepKind::kClickList;
            if (issue) page.repo = issue->repo;
            page.is_list = true;
            page.page = 1;
          }
        }
      }
      step.path = page.Path();
      plan.steps.push_back(std::move(step));
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

PlanStats StatsOf(const std::vector<SessionPlan>& plans) {
  PlanStats st;
  for (const auto& plan : plans) {
    std::set<std::string> paths;
    for (const auto& step : plan.steps) {
      st.navigations++;
      paths.insert(step.path);
      if (step.kind == StepKind::kBack) {
        st.back++;
      } else if (step.kind != StepKind::kLanding) {
        st.clicks++;
        if (step.kind == StepKind::kClickXref) st.xref_clicks++;
      }
    }
    st.distinct_paths += paths.size();
    st.returning += plan.returning ? 1 : 0;
  }
  return st;
}

}  // namespace preheat_demo
