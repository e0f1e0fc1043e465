#include "preheat/transition_model.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>

namespace preheat {
namespace {

TEST_CASE("model: probabilities from counts, decayed by half-life") {
  TransitionModelOptions o;
  o.half_life_ms = 1000;
  TransitionModel m(o);
  m.Record("a", "b", Instant{0});
  m.Record("a", "b", Instant{0});
  m.Record("a", "c", Instant{0});
  CHECK(m.Probability("a", "b", Instant{0}) == doctest::Approx(2.0 / 3));
  CHECK(m.Probability("a", "zzz", Instant{0}) == 0);
  CHECK(m.Probability("unknown", "b", Instant{0}) == 0);
  // After one half-life, a new a->c counts as much as two old ones.
  m.Record("a", "c", Instant{1000});
  CHECK(m.Probability("a", "b", Instant{1000}) == doctest::Approx(1.0 / 2.5));
  CHECK(m.Total("a", Instant{2000}) == doctest::Approx(2.5 / 2));
}

TEST_CASE("model: bounded pages and targets") {
  TransitionModelOptions o;
  o.pages_max = 3;
  o.targets_per_page_max = 2;
  TransitionModel m(o);
  for (int i = 0; i < 10; ++i) m.Record("p" + std::to_string(i), "x", Instant{i});
  CHECK(m.pages() == 3);
  CHECK(m.Probability("p9", "x", Instant{10}) == 1.0);
  CHECK(m.Probability("p0", "x", Instant{10}) == 0);  // oldest went
  m.Record("q", "a", Instant{0});
  m.Record("q", "a", Instant{0});
  m.Record("q", "b", Instant{0});
  m.Record("q", "c", Instant{0});  // evicts b, the weakest
  CHECK(m.Probability("q", "b", Instant{0}) == 0);
  CHECK(m.Probability("q", "a", Instant{0}) > 0);
  CHECK(m.Probability("q", "c", Instant{0}) > 0);
}

TEST_CASE("model: export/import round trip; bad documents change nothing") {
  TransitionModel m;
  m.Record("/a", "/b", Instant{0}, 3);
  m.Record("/a", "/c", Instant{0}, 1);
  std::string doc = m.Export(Instant{0});
  TransitionModel n;
  REQUIRE(n.Import(doc, Instant{0}).ok());
  CHECK(n.Probability("/a", "/b", Instant{0}) == doctest::Approx(0.75));
  for (const char* bad : {"", "[]", "{\"v\":2,\"pages\":{}}", "{\"v\":1,\"pages\":{\"a\":{\"b\":-1}}}",
                          "{\"v\":1,\"pages\":{\"a\":{\"b\":\"x\"}}}", "{\"v\":1"}) {
    TransitionModel k;
    CHECK(k.Import(bad, Instant{0}).code() == Code::kInvalidArgument);
    CHECK(k.pages() == 0);
  }
}

// Import accepted finite counts whose sums overflowed to inf (LoadModel
// adds to what is there): Export then wrote null, and the saved model was
// rejected whole by the next Import.
TEST_CASE("model: counts are capped, so what Import accepted exports as importable") {
  TransitionModel m;
  Instant t{1000};
  REQUIRE(m.Import(R"({"v":1,"pages":{"a":{"b":1e308}}})", t).ok());
  REQUIRE(m.Import(R"({"v":1,"pages":{"a":{"b":1e308}}})", t).ok());
  for (int i = 0; i < 3; ++i) m.Record("a", "c", t, 1e308);
  std::string saved = m.Export(t);
  CHECK(saved.find("null") == std::string::npos);
  TransitionModel again;
  CHECK(again.Import(saved, t).ok());
  CHECK(again.Probability("a", "b", t) > 0);
  CHECK(std::isfinite(again.Total("a", t)));
}

// A model within its own limits (4096 pages x 32 targets) exported over
// PutBlob's 4 MiB, so that SaveModel failed for good.
TEST_CASE("model: Export stays within export_bytes_max, least recently updated pages out first") {
  TransitionModelOptions o;
  o.export_bytes_max = 2000;
  TransitionModel m(o);
  for (int page = 0; page < 50; ++page) {
    for (int to = 0; to < 5; ++to) {
      m.Record("/page/" + std::to_string(page), "/to/" + std::to_string(to), Instant{page});
    }
  }
  std::string doc = m.Export(Instant{100});
  CHECK(doc.size() <= o.export_bytes_max);
  TransitionModel n;
  REQUIRE(n.Import(doc, Instant{100}).ok());
  CHECK(n.pages() > 5);
  CHECK(n.pages() < 50);
  // Whole pages, newest first: each kept page has all its targets.
  CHECK(n.Total("/page/49", Instant{100}) == doctest::Approx(m.Total("/page/49", Instant{100})));
  CHECK(n.Total("/page/0", Instant{100}) == 0);
  size_t kept = n.pages();
  CHECK(n.Total("/page/" + std::to_string(50 - kept), Instant{100}) > 0);
  CHECK(n.Total("/page/" + std::to_string(49 - kept), Instant{100}) == 0);
  // The defaults: a full model fits Engine::PutBlob's 4 MiB.
  TransitionModel full;
  for (int page = 0; page < 4096; ++page) {
    for (int to = 0; to < 32; ++to) {
      full.Record("https://app.example/api/issues/" + std::to_string(page),
                  "https://app.example/api/issues/" + std::to_string(100000 + page * 32 + to),
                  Instant{page});
    }
  }
  CHECK(full.Export(Instant{5000}).size() <= (4u << 20));
}

}  // namespace
}  // namespace preheat
