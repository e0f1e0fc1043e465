// The Wikispeedia converter for the replay (replay.h): articles, links and
// human paths (West & Leskovec, WWW 2012) into trace JSON lines.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "preheat/replay.h"

namespace preheat {

namespace {

constexpr uint64_t kInputBytesMax = 256ull << 20;  // per file
constexpr size_t kLinesMax = 4000000;               // per file
constexpr size_t kPathStepsMax = 10000;
constexpr int64_t kTimeoutIdleMs = 1800 * 1000;    // "timeout": 30 minutes without a click

// Calls fn(fields) for every non-comment, non-blank line, split on tabs.
template <typename Fn>
void ForEachRow(std::string_view text, Fn fn) {
  if (text.size() > kInputBytesMax) text = text.substr(0, kInputBytesMax);
  size_t pos = 0, lines = 0;
  std::vector<std::string_view> fields;
  while (pos < text.size() && lines < kLinesMax) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    lines++;
    fields.clear();
    size_t start = 0;
    while (true) {
      size_t tab = line.find('\t', start);
      fields.push_back(line.substr(start, tab == std::string_view::npos ? tab : tab - start));
      if (tab == std::string_view::npos) break;
      start = tab + 1;
    }
    fn(fields);
  }
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 12) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

std::string WikiUrl(std::string_view article) { return "/wiki/" + std::string(article); }

// Invalid UTF-8 in the input is replaced, never an error.
void AppendLine(const nlohmann::json& line, std::string* out) {
  *out += line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  *out += '\n';
}

}  // namespace

std::string WikispeediaToTrace(std::string_view articles_tsv, std::string_view links_tsv,
                               std::string_view paths_tsv, WikispeediaStats* stats,
                               int64_t gap_min_ms, int64_t gap_max_ms) {
  WikispeediaStats local;
  WikispeediaStats& st = stats ? *stats : local;
  st = WikispeediaStats{};
  // Pages in articles.tsv order, then any only seen in links.tsv.
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>, std::less<>> refs;
  ForEachRow(articles_tsv, [&](const std::vector<std::string_view>& f) {
    if (f[0].empty()) return;
    if (refs.emplace(std::string(f[0]), std::vector<std::string>{}).second) {
      order.emplace_back(f[0]);
    }
  });
  ForEachRow(links_tsv, [&](const std::vector<std::string_view>& f) {
    if (f.size() < 2 || f[0].empty() || f[1].empty()) {
      st.malformed_lines++;
      return;
    }
    auto it = refs.find(f[0]);
    if (it == refs.end()) {
      it = refs.emplace(std::string(f[0]), std::vector<std::string>{}).first;
      order.emplace_back(f[0]);
    }
    it->second.push_back(WikiUrl(f[1]));
    st.links++;
  });
  std::string out;
  for (const std::string& name : order) {
    // links.tsv lists a page's links by name, not in page order.
    nlohmann::json line{
        {"type", "page"}, {"url", WikiUrl(name)}, {"refs", refs[name]}, {"ordered", false}};
    AppendLine(line, &out);
    st.pages++;
  }
  size_t row = 0;
  ForEachRow(paths_tsv, [&](const std::vector<std::string_view>& f) {
    row++;
    int64_t duration_s = 0;
    if (f.size() < 4 || !ParseInt(f[2], &duration_s) || f[3].empty()) {
      st.malformed_lines++;
      return;
    }
    // Resolve '<' into the page it goes back to.
    std::vector<std::string_view> stack;
    std::vector<std::pair<std::string_view, bool>> visits;  // article, back
    size_t start = 0;
    std::string_view path = f[3];
    while (start <= path.size() && visits.size() < kPathStepsMax) {
      size_t semi = path.find(';', start);
      std::string_view step =
          path.substr(start, semi == std::string_view::npos ? semi : semi - start);
      start = semi == std::string_view::npos ? path.size() + 1 : semi + 1;
      if (step.empty()) continue;
      if (step == "<") {
        if (stack.size() < 2) {
          st.bad_back_clicks++;
          continue;
        }
        stack.pop_back();
        visits.emplace_back(stack.back(), true);
      } else {
        stack.push_back(step);
        visits.emplace_back(step, false);
      }
    }
    if (visits.empty()) {
      st.malformed_lines++;
      return;
    }
    int64_t duration_ms = duration_s * 1000;
    if (f.size() >= 6 && f[5] == "timeout") duration_ms -= kTimeoutIdleMs;
    int64_t gap = duration_ms / static_cast<int64_t>(visits.size());
    gap = std::min(std::max(gap, gap_min_ms), gap_max_ms);
    nlohmann::json vs = nlohmann::json::array();
    for (size_t i = 0; i < visits.size(); ++i) {
      nlohmann::json v{{"url", WikiUrl(visits[i].first)}, {"t_ms", static_cast<int64_t>(i) * gap}};
      if (visits[i].second) v["back"] = true;
      vs.push_back(std::move(v));
    }
    std::string id = std::string(f[0]) + "-" + (f.size() > 1 ? std::string(f[1]) : "") + "-" +
                     std::to_string(row);
    nlohmann::json line{{"type", "session"}, {"id", id}, {"visits", std::move(vs)}};
    AppendLine(line, &out);
    st.sessions++;
  });
  return out;
}

}  // namespace preheat
