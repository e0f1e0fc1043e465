#include "preheat/transition_model.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace preheat {

namespace {
constexpr size_t kImportBytesMax = 16u << 20;
constexpr size_t kKeyBytesMax = 2048;
// Far above any real count, far below what overflows to inf when added.
constexpr double kCountMax = 1e9;
}  // namespace

double TransitionModel::Decayed(double count, Instant from, Instant to) const {
  if (options_.half_life_ms <= 0 || to <= from) return count;
  double halvings = static_cast<double>(ElapsedMs(from, to)) / static_cast<double>(options_.half_life_ms);
  return count * std::exp2(-halvings);
}

void TransitionModel::Record(std::string_view from, std::string_view to, Instant now,
                             double weight) {
  if (from.empty() || to.empty() || from.size() > kKeyBytesMax || to.size() > kKeyBytesMax ||
      !(weight > 0)) {
    return;
  }
  Page& page = pages_[std::string(from)];
  page.total = std::min(kCountMax, Decayed(page.total, page.updated, now) + weight);
  page.updated = now;
  Target& target = page.targets[std::string(to)];
  target.count = std::min(kCountMax, Decayed(target.count, target.updated, now) + weight);
  target.updated = now;
  if (page.targets.size() > options_.targets_per_page_max) {
    // Forget the weakest target (never the one just recorded).
    auto weakest = page.targets.end();
    double weakest_count = 0;
    for (auto it = page.targets.begin(); it != page.targets.end(); ++it) {
      if (it->first == to) continue;
      double c = Decayed(it->second.count, it->second.updated, now);
      if (weakest == page.targets.end() || c < weakest_count) {
        weakest = it;
        weakest_count = c;
      }
    }
    if (weakest != page.targets.end()) page.targets.erase(weakest);
  }
  EvictPagesIfNeeded(from);
}

void TransitionModel::EvictPagesIfNeeded(std::string_view keep) {
  while (pages_.size() > options_.pages_max) {
    auto oldest = pages_.end();
    for (auto it = pages_.begin(); it != pages_.end(); ++it) {
      if (it->first == keep) continue;
      if (oldest == pages_.end() || it->second.updated < oldest->second.updated) oldest = it;
    }
    if (oldest == pages_.end()) return;
    pages_.erase(oldest);
  }
}

double TransitionModel::Probability(std::string_view from, std::string_view to, Instant now) const {
  auto page = pages_.find(std::string(from));
  if (page == pages_.end()) return 0;
  auto target = page->second.targets.find(std::string(to));
  if (target == page->second.targets.end()) return 0;
  double total = Decayed(page->second.total, page->second.updated, now);
  if (total <= 0) return 0;
  return std::min(1.0, Decayed(target->second.count, target->second.updated, now) / total);
}

double TransitionModel::Total(std::string_view from, Instant now) const {
  auto page = pages_.find(std::string(from));
  return page == pages_.end() ? 0 : Decayed(page->second.total, page->second.updated, now);
}

std::string TransitionModel::Export(Instant now) const {
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  // Each page as `"from":{"to":count,...}`, with when it was last updated.
  std::vector<std::pair<std::string, Instant>> parts;
  size_t parts_bytes = 0;  // with a comma each
  for (const auto& [from, page] : pages_) {
    nlohmann::json targets = nlohmann::json::object();
    for (const auto& [to, target] : page.targets) {
      targets[to] = Decayed(target.count, target.updated, now);
    }
    parts.emplace_back(nlohmann::json(from).dump(-1, ' ', false, kReplace) + ':' +
                           targets.dump(-1, ' ', false, kReplace),
                       page.updated);
    parts_bytes += parts.back().first.size() + 1;
  }
  std::string out = "{\"v\":1,\"at\":" + std::to_string(now.unix_ms) + ",\"pages\":{";
  // Over budget, the least recently updated pages go first, whole: Import
  // derives a page's total from its targets, so a page cut short would
  // change its probabilities.
  while (!parts.empty() && out.size() + parts_bytes + 2 > options_.export_bytes_max) {
    auto oldest = std::min_element(parts.begin(), parts.end(), [](const auto& a, const auto& b) {
      return a.second < b.second;
    });
    parts_bytes -= oldest->first.size() + 1;
    parts.erase(oldest);
  }
  for (const auto& part : parts) {
    out += part.first;
    out += ',';
  }
  if (!parts.empty()) out.pop_back();
  out += "}}";
  return out;
}

Status TransitionModel::Import(std::string_view json, Instant now) {
  if (json.size() > kImportBytesMax) return Status::TooLarge("model document over 16 MiB");
  nlohmann::json doc = nlohmann::json::parse(json.begin(), json.end(), nullptr,
                                             /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Status::InvalidArgument("model: not a JSON object");
  auto v = doc.find("v");
  if (v == doc.end() || !v->is_number_integer() || v->get<int64_t>() != 1) {
    return Status::InvalidArgument("model: unknown version");
  }
  auto pages = doc.find("pages");
  if (pages == doc.end() || !pages->is_object()) return Status::InvalidArgument("model: no pages");
  // Validate everything before changing anything.
  for (const auto& [from, targets] : pages->items()) {
    if (!targets.is_object()) return Status::InvalidArgument("model: page " + from + " is not an object");
    for (const auto& [to, count] : targets.items()) {
      if (!count.is_number() || !(count.get<double>() >= 0) || !std::isfinite(count.get<double>())) {
        return Status::InvalidArgument("model: bad count for " + from + " -> " + to);
      }
    }
  }
  for (const auto& [from, targets] : pages->items()) {
    for (const auto& [to, count] : targets.items()) {
      double c = count.get<double>();
      if (c > 0) Record(from, to, now, c);
    }
  }
  return Status::Ok();
}

}  // namespace preheat
