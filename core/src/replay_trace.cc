// Trace parsing and the train/test split for the replay (replay.h).
#include <algorithm>
#include <limits>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "preheat/prng.h"
#include "preheat/replay.h"
#include "preheat/url.h"

namespace preheat {

namespace {

bool IsBlank(std::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

// Resolves `text` against the origin; empty on failure.
std::string Resolve(const Result<Url>& base, const nlohmann::json& value) {
  if (!base.ok() || !value.is_string()) return "";
  const std::string& text = value.get_ref<const std::string&>();
  if (text.empty()) return "";
  auto url = ResolveUrl(*base, text);
  return url.ok() ? url->ToString() : "";
}

}  // namespace

Trace ParseTrace(std::string_view text, const std::string& origin, const TraceLimits& limits) {
  Trace trace;
  TraceStats& st = trace.stats;
  if (text.size() > limits.input_bytes_max) {
    text = text.substr(0, limits.input_bytes_max);
    st.truncated = true;
  }
  const Result<Url> base = ParseUrl(origin);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (IsBlank(line)) continue;
    st.lines++;
    if (line.size() > limits.line_bytes_max) {
      st.malformed_lines++;
      continue;
    }
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      st.malformed_lines++;
      continue;
    }
    auto type = j.find("type");
    if (type == j.end() || !type->is_string()) {
      st.malformed_lines++;
      continue;
    }
    const std::string& kind = type->get_ref<const std::string&>();
    if (kind == "page") {
      auto url_it = j.find("url");
      auto refs_it = j.find("refs");
      std::string url = url_it == j.end() ? "" : Resolve(base, *url_it);
      if (url.empty() || refs_it == j.end() || !refs_it->is_array()) {
        st.malformed_lines++;
        continue;
      }
      if (trace.pages.count(url)) {
        st.duplicate_pages++;
        continue;
      }
      if (trace.pages.size() >= limits.pages_max) {
        st.truncated = true;
        continue;
      }
      auto ordered_it = j.find("ordered");
      if (ordered_it != j.end() && !ordered_it->is_boolean()) {
        st.malformed_lines++;
        continue;
      }
      TracePage page;
      page.ordered = ordered_it == j.end() || ordered_it->get<bool>();
      std::vector<std::string>& refs = page.refs;
      for (const auto& ref : *refs_it) {
        std::string r = Resolve(base, ref);
        if (r.empty() || refs.size() >= limits.refs_per_page_max) {
          st.refs_dropped++;
          continue;
        }
        refs.push_back(std::move(r));
      }
      trace.pages.emplace(std::move(url), std::move(page));
    } else if (kind == "session") {
      auto visits_it = j.find("visits");
      if (visits_it == j.end() || !visits_it->is_array()) {
        st.malformed_lines++;
        continue;
      }
      TraceSession session;
      auto id = j.find("id");
      if (id != j.end() && id->is_string()) session.id = id->get<std::string>();
      bool ok = true;
      int64_t last_t = std::numeric_limits<int64_t>::min();
      for (const auto& v : *visits_it) {
        if (!v.is_object()) {
          ok = false;
          break;
        }
        auto u = v.find("url");
        auto t = v.find("t_ms");
        auto back = v.find("back");
        std::string url = u == v.end() ? "" : Resolve(base, *u);
        bool t_ok = t != v.end() && t->is_number() && !t->is_number_float();
        if (!t_ok && t != v.end() && t->is_number_float()) {
          double d = t->get<double>();
          t_ok = d >= -9e15 && d <= 9e15;
        }
        if (url.empty() || !t_ok || (back != v.end() && !back->is_boolean())) {
          ok = false;
          break;
        }
        int64_t t_ms = t->is_number_float() ? static_cast<int64_t>(t->get<double>())
                                            : t->get<int64_t>();
        if (t_ms < last_t || t_ms < 0 || t_ms > (int64_t{1} << 50)) {
          ok = false;
          break;
        }
        last_t = t_ms;
        if (session.visits.size() >= limits.visits_per_session_max) {
          st.visits_dropped++;
          continue;
        }
        session.visits.push_back(
            TraceVisit{std::move(url), t_ms, back != v.end() && back->get<bool>()});
      }
      if (!ok || session.visits.empty()) {
        st.malformed_lines++;
        continue;
      }
      if (trace.sessions.size() >= limits.sessions_max) {
        st.truncated = true;
        continue;
      }
      trace.sessions.push_back(std::move(session));
    } else {
      st.malformed_lines++;
    }
  }
  return trace;
}

std::vector<TraceSession> TakeTrainingSessions(Trace* trace, double train_fraction,
                                               uint64_t seed) {
  std::vector<TraceSession> train, test;
  if (!(train_fraction > 0)) return train;
  Prng prng(seed ^ 0x7261696e73706c74ull);  // "rainsplt": a stream of its own
  for (TraceSession& s : trace->sessions) {
    (prng.Chance(train_fraction) ? train : test).push_back(std::move(s));
  }
  trace->sessions = std::move(test);
  return train;
}

}  // namespace preheat
