#include "preheat/entry.h"

#include <doctest/doctest.h>

namespace preheat {
namespace {

CacheEntry Sample() {
  CacheEntry e;
  e.key = " https://a.example/x";
  e.url = "https://a.example/x";
  e.status = 200;
  e.headers.Add("ETag", "\"abc\"");
  e.headers.Add("Cache-Control", "max-age=60");
  e.body = std::string("binary\0body", 11);
  e.request_time = Instant{1000};
  e.response_time = Instant{1200};
  e.vary_values = {{"accept", "text/html"}};
  e.tags = {"t1", "t2"};
  e.invalidated = true;
  e.Finalize({});
  return e;
}

TEST_CASE("entry: encode/decode round trip") {
  CacheEntry e = Sample();
  auto decoded = DecodeEntry(EncodeEntry(e), {});
  REQUIRE(decoded.ok());
  CHECK(decoded->key == e.key);
  CHECK(decoded->url == e.url);
  CHECK(decoded->status == 200);
  CHECK(decoded->headers.Get("etag") == "\"abc\"");
  CHECK(decoded->body == e.body);
  CHECK(decoded->request_time == e.request_time);
  CHECK(decoded->response_time == e.response_time);
  CHECK(decoded->vary_values == e.vary_values);
  CHECK(decoded->tags == e.tags);
  CHECK(decoded->invalidated);
  CHECK(decoded->freshness.lifetime_ms == 60000);
  CHECK(decoded->body_hash == e.body_hash);
}

TEST_CASE("entry: every truncation and every single bit flip is rejected as corrupt") {
  std::string record = EncodeEntry(Sample());
  for (size_t n = 0; n < record.size(); ++n) {
    auto r = DecodeEntry(std::string_view(record).substr(0, n), {});
    CHECK(r.status().code() == Code::kCorrupt);
  }
  for (size_t i = 0; i < record.size(); ++i) {
    std::string flipped = record;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    CHECK_FALSE(DecodeEntry(flipped, {}).ok());
  }
}

TEST_CASE("entry: unknown version and oversized records") {
  std::string record = EncodeEntry(Sample());
  record[0] = 99;
  auto r = DecodeEntry(record, {});
  CHECK(r.status().code() == Code::kCorrupt);
  CHECK(r.status().message().find("version") != std::string::npos);
  std::string huge(kEntryRecordBytesMax + 1, 'x');
  CHECK(DecodeEntry(huge, {}).status().code() == Code::kTooLarge);
}

TEST_CASE("entry: charge counts body, headers and key") {
  CacheEntry e = Sample();
  uint64_t before = e.ChargeBytes();
  e.body += std::string(1000, 'x');
  CHECK(e.ChargeBytes() == before + 1000);
}

}  // namespace
}  // namespace preheat

namespace preheat {
namespace {

TEST_CASE("entry: body hash tells bodies apart, including their last bytes") {
  std::string a(1000, 'a');
  std::string b = a;
  b[999] = 'b';  // in the byte-wise tail
  std::string c = a;
  c[3] = 'c';    // in the word-wise part
  CHECK(HashBody(a) == HashBody(std::string(1000, 'a')));
  CHECK(HashBody(a) != HashBody(b));
  CHECK(HashBody(a) != HashBody(c));
  CHECK(HashBody("") != HashBody(std::string(1, '\0')));  // length is mixed in
}

}  // namespace
}  // namespace preheat
