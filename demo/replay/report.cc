#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace preheat_demo {
namespace {

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string Pct(uint64_t part, uint64_t whole) {
  return whole == 0 ? "-" : Fmt("%.1f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

std::string Bytes(uint64_t b) {
  if (b < 10 * 1024) return std::to_string(b) + " B";
  if (b < 10 * 1024 * 1024) return Fmt("%.0f KiB", static_cast<double>(b) / 1024);
  return Fmt("%.1f MiB", static_cast<double>(b) / (1024.0 * 1024.0));
}

std::string Pad(std::string s, size_t width, bool right) {
  if (s.size() >= width) return s;
  std::string pad(width - s.size(), ' ');
  return right ? pad + s : s + pad;
}

const double kPercentiles[] = {10, 25, 50, 75, 90};
const char* const kModeColors[] = {"#c0392b", "#2e86c1", "#27ae60"};

}  // namespace

std::string FormatTable(const ReplayReport& r) {
  std::string out;
  const PlanStats& p = r.plan;
  out += "User model (same plan for every mode): " + std::to_string(r.model.sessions) +
         " sessions x " + std::to_string(r.model.navigations) + " navigations, seed " +
         std::to_string(r.seed) + "; dwell " + std::to_string(r.model.dwell_min_ms) + "-" +
         std::to_string(r.model.dwell_max_ms) + " ms; hover " +
         std::to_string(r.model.hover_min_ms) + "-" + std::to_string(r.model.hover_max_ms) +
         " ms before each click; " + Pct(r.plan.returning, r.model.sessions) +
         " returning users (landing page cached from an earlier visit)\n";
  out += "  realised: " + std::to_string(p.navigations) + " navigations, " +
         Pct(p.back, p.navigations) + " back, " + Pct(p.xref_clicks, p.clicks) +
         " of clicks on cross-references, Zipf(" + Fmt("%.2g", r.model.zipf_s) +
         ") list positions\n\n";

  const std::vector<std::pair<std::string, size_t>> cols = {
      {"mode", 12},   {"instant", 8}, {"fast", 7},  {"slow", 7},    {"P10", 6},
      {"P25", 6},     {"P50", 6},     {"P75", 6},   {"P90", 6},     {"hit", 7},
      {"extra/nav", 10}, {"preheated", 10}, {"wasted", 10}, {"errors", 7}};
  for (size_t i = 0; i < cols.size(); i++) out += Pad(cols[i].first, cols[i].second, i > 0) + " ";
  out += "\n";
  for (const ModeReport& m : r.modes) {
    uint64_t n = m.navigations;
    std::vector<std::string> v = {ModeName(m.mode), Pct(m.instant, n), Pct(m.fast, n),
                                  Pct(m.slow, n)};
    for (double q : kPercentiles) {
      // No navigation loaded: no time to show ("0" would read as instant).
      v.push_back(m.latencies_ms.empty() ? "-" : std::to_string(m.Percentile(q)));
    }
    v.push_back(Pct(m.hits, n));
    v.push_back(Fmt("%.2f", m.extra_requests_per_navigation()));
    v.push_back(Bytes(m.preheat_bytes));
    v.push_back(Bytes(m.wasted_bytes));
    v.push_back(std::to_string(m.errors));
    for (size_t i = 0; i < cols.size(); i++) out += Pad(v[i], cols[i].second, i > 0) + " ";
    out += "\n";
  }
  out +=
      "\ninstant: content in < 200 ms; fast: < 1000 ms; P10..P90 in ms; hit: answered from the "
      "cache\nwithout waiting on the network; extra/nav: (requests the server saw - navigations) "
      "/ navigations;\npreheated: bytes fetched by preheating; wasted: of those, for pages the "
      "session never opened.\n";
  for (const ModeReport& m : r.modes) {
    out += "  " + Pad(ModeName(m.mode), 12, false) + " server: " +
           std::to_string(m.server.requests) + " requests (" +
           std::to_string(m.server.not_modified) + " answered 304, " +
           std::to_string(m.server.prefetch_requests) + " prefetch), " +
           Bytes(m.server.body_bytes) + " of bodies; states:";
    for (const auto& [state, count] : m.states) out += " " + state + "=" + std::to_string(count);
    out += "\n";
  }
  out += "instant by navigation kind (instant/navigations):\n";
  for (const ModeReport& m : r.modes) {
    out += "  " + Pad(ModeName(m.mode), 12, false);
    for (const auto& [kind, v] : m.by_kind) {
      out += " " + kind + " " + std::to_string(v.second) + "/" + std::to_string(v.first);
    }
    out += "\n";
  }
  for (const auto& w : r.warnings) out += "warning: " + w + "\n";
  return out;
}

std::string ReportJson(const ReplayReport& r) {
  nlohmann::json j;
  j["seed"] = r.seed;
  j["wall_ms"] = r.wall_ms;
  j["model"] = {{"sessions", r.model.sessions},
                {"navigations", r.model.navigations},
                {"dwell_ms", {r.model.dwell_min_ms, r.model.dwell_max_ms}},
                {"hover_ms", {r.model.hover_min_ms, r.model.hover_max_ms}},
                {"zipf_s", r.model.zipf_s},
                {"back_prob", r.model.back_prob},
                {"xref_prob", r.model.xref_prob},
                {"returning", r.model.returning}};
  j["plan"] = {{"navigations", r.plan.navigations},
               {"clicks", r.plan.clicks},
               {"xref_clicks", r.plan.xref_clicks},
               {"back", r.plan.back},
               {"returning_sessions", r.plan.returning}};
  nlohmann::json modes = nlohmann::json::array();
  for (const ModeReport& m : r.modes) {
    nlohmann::json pct;
    for (double q : kPercentiles) {
      nlohmann::json& slot = pct["p" + std::to_string(static_cast<int>(q))];
      if (!m.latencies_ms.empty()) slot = m.Percentile(q);  // else null: nothing loaded
    }
    modes.push_back({{"mode", ModeName(m.mode)},
                     {"navigations", m.navigations},
                     {"errors", m.errors},
                     {"instant", m.instant},
                     {"fast", m.fast},
                     {"slow", m.slow},
                     {"percentiles_ms", pct},
                     {"hits", m.hits},
                     {"hit_ratio", m.hit_ratio()},
                     {"extra_requests_per_navigation", m.extra_requests_per_navigation()},
                     {"states", m.states},
                     {"instant_by_kind", [&m] {
                        nlohmann::json k = nlohmann::json::object();
                        for (const auto& [kind, v] : m.by_kind) {
                          k[kind] = {{"navigations", v.first}, {"instant", v.second}};
                        }
                        return k;
                      }()},
                     {"server_requests", m.server.requests},
                     {"server_not_modified", m.server.not_modified},
                     {"server_prefetch_requests", m.server.prefetch_requests},
                     {"server_body_bytes", m.server.body_bytes},
                     {"hovers", m.hovers},
                     {"preheats_started", m.preheats_started},
                     {"preheats_fetched", m.preheats_fetched},
                     {"preheat_bytes", m.preheat_bytes},
                     {"wasted_bytes", m.wasted_bytes},
                     {"latencies_ms", m.latencies_ms},
                     {"wall_ms", m.wall_ms}});
  }
  j["modes"] = std::move(modes);
  j["warnings"] = r.warnings;
  return j.dump(1);
}

std::string RenderHtml(const ReplayReport& r) {
  std::string h =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>Preheat demo: time from click to content</title><style>"
      "body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}"
      "pre{background:#f6f6f6;padding:1em;overflow-x:auto}"
      "svg text{font:12px system-ui,sans-serif}</style></head><body>"
      "<h1>Time from click to content, per mode</h1>";

  // Stacked bars: instant / fast / slow.
  const int bar_w = 600, bar_h = 28, left = 110;
  int height = 30 + static_cast<int>(r.modes.size()) * (bar_h + 12) + 20;
  h += "<h2>Instant (&lt;200 ms) / fast (&lt;1 s) / slow / failed</h2><svg width=\"" +
       std::to_string(left + bar_w + 20) + "\" height=\"" + std::to_string(height) + "\">";
  int y = 20;
  for (const ModeReport& m : r.modes) {
    // Shares of all navigations, as in the text table: failed ones too.
    const uint64_t loaded = m.instant + m.fast + m.slow;
    const uint64_t failed = m.navigations > loaded ? m.navigations - loaded : 0;
    double n = std::max<double>(1, static_cast<double>(loaded + failed));
    h += "<text x=\"0\" y=\"" + std::to_string(y + 18) + "\">" + ModeName(m.mode) + "</text>";
    double x = left;
    const std::pair<uint64_t, const char*> parts[] = {
        {m.instant, "#27ae60"}, {m.fast, "#f1c40f"}, {m.slow, "#c0392b"}, {failed, "#95a5a6"}};
    for (const auto& [count, color] : parts) {
      double w = bar_w * static_cast<double>(count) / n;
      h += "<rect x=\"" + Fmt("%.1f", x) + "\" y=\"" + std::to_string(y) + "\" width=\"" +
           Fmt("%.1f", w) + "\" height=\"" + std::to_string(bar_h) + "\" fill=\"" + color + "\"/>";
      if (w > 34) {
        h += "<text x=\"" + Fmt("%.1f", x + 4) + "\" y=\"" + std::to_string(y + 18) + "\">" +
             Fmt("%.0f%%", 100.0 * static_cast<double>(count) / n) + "</text>";
      }
      x += w;
    }
    y += bar_h + 12;
  }
  h += "</svg>";

  // CDFs on a log time axis, 10 ms .. 10 s.
  const int W = 640, H = 320, L = 50, B = 40, T = 10, R = 20;
  const double lo = std::log10(10.0), hi = std::log10(10000.0);
  auto X = [&](double ms) {
    double v = std::log10(std::min(10000.0, std::max(10.0, ms)));
    return L + (W - L - R) * (v - lo) / (hi - lo);
  };
  auto Y = [&](double frac) { return T + (H - T - B) * (1 - frac); };
  h += "<h2>Cumulative share of navigations by time to content</h2><svg width=\"" +
       std::to_string(W) + "\" height=\"" + std::to_string(H) + "\">";
  for (double ms : {10.0, 100.0, 200.0, 1000.0, 10000.0}) {
    bool mark = ms == 200.0 || ms == 1000.0;
    h += "<line x1=\"" + Fmt("%.1f", X(ms)) + "\" x2=\"" + Fmt("%.1f", X(ms)) + "\" y1=\"" +
         std::to_string(T) + "\" y2=\"" + std::to_string(H - B) + "\" stroke=\"" +
         (mark ? "#999" : "#ddd") + "\"" + (mark ? " stroke-dasharray=\"4 3\"" : "") + "/>";
    h += "<text x=\"" + Fmt("%.1f", X(ms) - 14) + "\" y=\"" + std::to_string(H - B + 16) + "\">" +
         (ms >= 1000 ? Fmt("%.0f s", ms / 1000) : Fmt("%.0f ms", ms)) + "</text>";
  }
  for (double f : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    h += "<line x1=\"" + std::to_string(L) + "\" x2=\"" + std::to_string(W - R) + "\" y1=\"" +
         Fmt("%.1f", Y(f)) + "\" y2=\"" + Fmt("%.1f", Y(f)) + "\" stroke=\"#eee\"/>";
    h += "<text x=\"8\" y=\"" + Fmt("%.1f", Y(f) + 4) + "\">" + Fmt("%.0f%%", f * 100) + "</text>";
  }
  int legend_y = T + 14;
  for (const ModeReport& m : r.modes) {
    const char* color = kModeColors[static_cast<int>(m.mode) % 3];
    std::string pts;
    // Shares of all navigations: failed ones never arrive, so the curve
    // tops out at the share that loaded.
    size_t samples = m.latencies_ms.size();
    double n = static_cast<double>(std::max<uint64_t>({1, m.navigations, samples}));
    for (size_t i = 0; i < samples; i++) {
      // A step up at each sample.
      double x = X(static_cast<double>(m.latencies_ms[i]));
      pts += Fmt("%.1f", x) + "," + Fmt("%.1f", Y(static_cast<double>(i) / n)) + " ";
      pts += Fmt("%.1f", x) + "," + Fmt("%.1f", Y(static_cast<double>(i + 1) / n)) + " ";
    }
    h += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + std::string(color) +
         "\" points=\"" + pts + "\"/>";
    h += "<text x=\"" + std::to_string(L + 10) + "\" y=\"" + std::to_string(legend_y) +
         "\" fill=\"" + color + "\">" + ModeName(m.mode) + "</text>";
    legend_y += 16;
  }
  h += "</svg>";

  std::string table = FormatTable(r);
  std::string escaped;
  for (char c : table) {
    if (c == '<') {
      escaped += "&lt;";
    } else if (c == '>') {
      escaped += "&gt;";
    } else if (c == '&') {
      escaped += "&amp;";
    } else {
      escaped += c;
    }
  }
  h += "<h2>Numbers</h2><pre>" + escaped + "</pre></body></html>\n";
  return h;
}

}  // namespace preheat_demo
