// Report: the replay's results as a text table, JSON, and an HTML page with
// SVG charts of the latency distributions.
#ifndef PREHEAT_DEMO_REPLAY_REPORT_H_
#define PREHEAT_DEMO_REPLAY_REPORT_H_

#include <string>

#include "replay.h"

namespace preheat_demo {

// One row per mode: instant / fast / slow shares, P10..P90, hit ratio,
// extra requests per navigation, preheat bytes and wasted bytes; preceded by
// the realised user model.
std::string FormatTable(const ReplayReport& report);
// Everything in the report (latencies summarised as percentiles).
std::string ReportJson(const ReplayReport& report);
// A self-contained HTML page: stacked instant/fast/slow bars and latency CDFs.
std::string RenderHtml(const ReplayReport& report);

}  // namespace preheat_demo

#endif  // PREHEAT_DEMO_REPLAY_REPORT_H_
