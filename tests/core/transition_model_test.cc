#include "preheat/transition_model.h"

#include <doctest/doctest.h>

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

}  // namespace
}  // namespace preheat
