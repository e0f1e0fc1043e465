#include "preheat/entry.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>

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

void CheckIsSample(const Result<CacheEntry>& decoded) {
  REQUIRE(decoded.ok());
  CacheEntry e = Sample();
  CHECK(decoded->key == e.key);
  CHECK(decoded->url == e.url);
  CHECK(decoded->status == 200);
  CHECK(decoded->headers.fields() == e.headers.fields());
  CHECK(decoded->body == e.body);
  CHECK(decoded->request_time == e.request_time);
  CHECK(decoded->response_time == e.response_time);
  CHECK(decoded->vary_values == e.vary_values);
  CHECK(decoded->tags == e.tags);
  CHECK(decoded->invalidated);
  CHECK(decoded->freshness.lifetime_ms == 60000);
  CHECK(decoded->body_hash == e.body_hash);
}

TEST_CASE("entry: encode/decode round trip") {
  CheckIsSample(DecodeEntry(EncodeEntry(Sample()), {}));
}

// Every truncation and every single-bit flip (version byte, header fields,
// body, times, tags, checksum trailer) must be rejected as corrupt.
void CheckEveryTruncationAndBitFlipRejected(const std::string& record) {
  for (size_t n = 0; n < record.size(); ++n) {
    auto r = DecodeEntry(std::string_view(record).substr(0, n), {});
    CHECK(r.status().code() == Code::kCorrupt);
  }
  for (size_t i = 0; i < record.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = record;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      auto r = DecodeEntry(flipped, {});
      CAPTURE(i);
      CAPTURE(bit);
      CHECK(r.status().code() == Code::kCorrupt);
    }
  }
}

TEST_CASE("entry: every truncation and every single bit flip is rejected as corrupt") {
  std::string record = EncodeEntry(Sample());
  REQUIRE(static_cast<uint8_t>(record[0]) == 2);
  CheckEveryTruncationAndBitFlipRejected(record);
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

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

uint64_t TrailerOf(std::string_view record) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(record[record.size() - 8 + i])) << (8 * i);
  }
  return v;
}

// Sample() as encoded by the release that wrote version 1 records (FNV-1a 64
// trailer), captured before version 2 existed. Such records are in users'
// SQLite files and IndexedDB databases: they must keep decoding.
constexpr std::string_view kSampleRecordV1Hex =
    "01142068747470733a2f2f612e6578616d706c652f781368747470733a2f2f612e6578616d706c652f78c801"
    "0204455461670522616263220d43616368652d436f6e74726f6c0a6d61782d6167653d36300b62696e617279"
    "00626f6479e803000000000000b004000000000000010661636365707409746578742f68746d6c0202743102"
    "743201068bf12dd324133f";

// Sample() as version 2: the same bytes after the version byte, then XXH32
// of the payload (0xcd6827ef, computed with the reference `xxhsum -H0`)
// zero-extended, little-endian. Pins the layout web/src/sw.js decodes too.
constexpr std::string_view kSampleRecordV2Hex =
    "02142068747470733a2f2f612e6578616d706c652f781368747470733a2f2f612e6578616d706c652f78c801"
    "0204455461670522616263220d43616368652d436f6e74726f6c0a6d61782d6167653d36300b62696e617279"
    "00626f6479e803000000000000b004000000000000010661636365707409746578742f68746d6c0202743102"
    "743201ef2768cd00000000";

TEST_CASE("entry: XXH32 matches the published test vectors") {
  // Seed 0, from the xxHash reference (xxhsum -H0) and its ports' test suites;
  // 16 bytes and more take the four-lane path, the rest the tails.
  CHECK(Xxh32("") == 0x02CC5D05u);
  CHECK(Xxh32("a") == 0x550D7456u);
  CHECK(Xxh32("abc") == 0x32D153FFu);
  CHECK(Xxh32("123456789") == 0x937BAD67u);
  CHECK(Xxh32("123456789ABCDEF") == 0x576E3CF9u);
  CHECK(Xxh32("123456789ABCDEF1") == 0x82D80129u);
  CHECK(Xxh32("123456789ABCDEF12") == 0x04689504u);
  CHECK(Xxh32("123456789ABCDEF123456789") == 0x1F34766Du);
  CHECK(Xxh32("", 1) == 0x0B2CB792u);
  CHECK(Xxh32("", 0x7fffffff) == 0xC89B854Fu);
  CHECK(Xxh32("123456789ABCDEF", 0x7fffffff) == 0xA7F06F9Du);
}

TEST_CASE("entry: records are written as version 2 with an XXH32 trailer") {
  std::string record = EncodeEntry(Sample());
  CHECK(static_cast<uint8_t>(record[0]) == kEntryFormatVersion);
  CHECK(kEntryFormatVersion == 2);
  std::string_view payload = std::string_view(record).substr(0, record.size() - 8);
  CHECK(TrailerOf(record) == Xxh32(payload));  // upper half zero
  CHECK(TrailerOf(record) == 0xcd6827efu);
  CHECK(record == FromHex(kSampleRecordV2Hex));
  CheckIsSample(DecodeEntry(record, {}));
}

TEST_CASE("entry: version 1 records (FNV-1a 64) still decode") {
  std::string v1 = FromHex(kSampleRecordV1Hex);
  REQUIRE(v1.size() == 143);
  CHECK(TrailerOf(v1) == HashBytes(std::string_view(v1).substr(0, v1.size() - 8)));
  CheckIsSample(DecodeEntry(v1, {}));
  // Re-encoding (on the next write of the entry) upgrades it to version 2.
  std::string again = EncodeEntry(*DecodeEntry(v1, {}));
  CHECK(static_cast<uint8_t>(again[0]) == 2);
  CHECK(again.substr(1, again.size() - 9) == v1.substr(1, v1.size() - 9));
}

TEST_CASE("entry: version 1 records reject every truncation and bit flip too") {
  CheckEveryTruncationAndBitFlipRejected(FromHex(kSampleRecordV1Hex));
}

TEST_CASE("entry: a checksum of the other version is rejected") {
  // A v2 record relabelled v1 (or the reverse) fails the other checksum.
  std::string v2 = EncodeEntry(Sample());
  v2[0] = 1;
  CHECK(DecodeEntry(v2, {}).status().code() == Code::kCorrupt);
  std::string v1 = FromHex(kSampleRecordV1Hex);
  v1[0] = 2;
  CHECK(DecodeEntry(v1, {}).status().code() == Code::kCorrupt);
  // v2 with the right XXH32 but a nonzero upper trailer half.
  std::string upper = EncodeEntry(Sample());
  upper[upper.size() - 1] = 1;
  CHECK(DecodeEntry(upper, {}).status().message() == "checksum mismatch");
}

TEST_CASE("entry: charge counts body, headers and key") {
  CacheEntry e = Sample();
  uint64_t before = e.ChargeBytes();
  e.body += std::string(1000, 'x');
  CHECK(e.ChargeBytes() == before + 1000);
}


TEST_CASE("entry: body hash tells bodies apart, including their last bytes") {
  std::string a(1000, 'a');
  std::string b = a;
  b[999] = 'b';  // in the word after the last 32-byte block
  std::string c = a;
  c[3] = 'c';    // in the first block
  CHECK(HashBody(a) == HashBody(std::string(1000, 'a')));
  CHECK(HashBody(a) != HashBody(b));
  CHECK(HashBody(a) != HashBody(c));
  CHECK(HashBody("") != HashBody(std::string(1, '\0')));  // length is mixed in
}

// Bytes that differ in every position of a 32-byte step.
std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) & 255);
  return s;
}

TEST_CASE("entry: body hash changes with any one byte") {
  // Every lane of every 32-byte block, the words and the bytes after the
  // last block: a step that ignored its word, or a lane left out when the
  // lanes are folded, leaves some byte unseen.
  for (size_t n : {1, 9, 31, 32, 40, 71, 100, 200}) {
    const std::string body = Pattern(n);
    const uint64_t hash = HashBody(body);
    for (size_t i = 0; i < n; ++i) {
      std::string changed = body;
      changed[i] = static_cast<char>(changed[i] ^ 0x10);
      CAPTURE(n);
      CAPTURE(i);
      CHECK(HashBody(changed) != hash);
    }
  }
}

TEST_CASE("entry: body hash values are pinned (bodyHash is visible to applications)") {
  // Values of the four-lane hash, around every step boundary (8-byte words,
  // 32-byte blocks). HashBody may change between releases, but only on
  // purpose: two steps swapped or a lane dropped must fail here. (Tabs of
  // two releases, comparing bodyHash, see each other's bodies as changed.)
  const struct {
    size_t n;
    uint64_t hash;
  } kPinned[] = {
      {0, 0x27d2d79d74cfc6b7ull},   {1, 0xbe75bd42c034ca24ull},  {7, 0xfdfb64f0bc69a77aull},
      {8, 0x63d67b808e5afa99ull},   {31, 0xa379347935259664ull}, {32, 0x1e7da78732feaacdull},
      {33, 0x4a05a3c26d5c8f6cull},  {63, 0x5eab8ab768683a8full}, {64, 0x4389348c987349e6ull},
      {65, 0xef2a3faf575fa628ull},  {100, 0xb37243439e8d402dull},
      {10240, 0x5a44e080f021ac67ull},
  };
  for (const auto& p : kPinned) {
    CAPTURE(p.n);
    CHECK(HashBody(Pattern(p.n)) == p.hash);
  }
}

TEST_CASE("entry: a decoded body and its hash match the encoded one at every length") {
  // DecodeEntry copies and hashes the body in one pass.
  for (size_t n = 0; n <= 100; ++n) {
    CAPTURE(n);
    CacheEntry e;
    e.key = " https://example.test/b";
    e.url = "https://example.test/b";
    e.status = 200;
    e.body = Pattern(n);
    e.Finalize(FreshnessOptions());
    auto decoded = DecodeEntry(EncodeEntry(e), FreshnessOptions());
    REQUIRE(decoded.ok());
    CHECK(decoded->body == e.body);
    CHECK(decoded->body_hash == HashBody(e.body));
  }
}

// The record with its XXH32 trailer recomputed, as if written that way.
std::string Resealed(std::string record) {
  record.resize(record.size() - 8);
  const uint32_t checksum = Xxh32(record);
  for (int i = 0; i < 8; ++i) {
    record.push_back(static_cast<char>((uint64_t{checksum} >> (8 * i)) & 0xff));
  }
  return record;
}

TEST_CASE("entry: the checksum covers the body at every offset and length") {
  // DecodeEntry computes XXH32 in pieces (before the body, with the body's
  // copy and hash, after it), and the body may start anywhere in XXH32's
  // 16-byte stripes: the pieces must give Xxh32 of the whole payload (the
  // trailer EncodeEntry wrote), and a changed byte anywhere must still be
  // caught. Key lengths 0..15 move the body through every stripe offset.
  uint32_t state = 1;
  auto random_byte = [&state] {
    state = state * 1664525u + 1013904223u;
    return static_cast<char>(state >> 24);
  };
  for (size_t key_size = 0; key_size < 16; ++key_size) {
    for (size_t n : {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 96, 127, 128, 129,
                     1000, 4099}) {
      CAPTURE(key_size);
      CAPTURE(n);
      CacheEntry e;
      e.key = std::string(key_size, 'k');
      e.url = "u";
      e.status = 200;
      e.body.resize(n);
      for (char& c : e.body) c = random_byte();
      e.tags = {"t"};
      e.Finalize({});
      const std::string record = EncodeEntry(e);
      const std::string_view payload = std::string_view(record).substr(0, record.size() - 8);
      REQUIRE(TrailerOf(record) == Xxh32(payload));
      auto decoded = DecodeEntry(record, {});
      REQUIRE(decoded.ok());
      CHECK(decoded->body == e.body);
      CHECK(decoded->body_hash == e.body_hash);
      // One bit flipped in any byte between the version and the trailer (of
      // a long body's middle, every 37th byte).
      const size_t body_end = payload.size() - 21;  // times, counts, "t", flags
      const size_t body_start = body_end - n;
      for (size_t i = 1; i < payload.size(); ++i) {
        if (i >= body_start + 40 && i + 40 < body_end && i % 37 != 0) continue;
        std::string changed = record;
        changed[i] = static_cast<char>(changed[i] ^ (1 << (i % 8)));
        CAPTURE(i);
        CHECK(DecodeEntry(changed, {}).status().message() == "checksum mismatch");
      }
    }
  }
}

TEST_CASE("entry: a bad field is reported only under a matching checksum") {
  // Fields are read before the checksum is verified, but a record failing
  // both reports the checksum, as when it was verified first.
  const std::string record = EncodeEntry(Sample());
  std::string bad_flags = record;
  bad_flags[bad_flags.size() - 9] = 2;  // the flags byte
  CHECK(DecodeEntry(bad_flags, {}).status().message() == "checksum mismatch");
  CHECK(DecodeEntry(Resealed(bad_flags), {}).status().message() == "bad record tail");
  std::string bad_status = record;
  bad_status[42] = static_cast<char>(0xe8);  // status 200 (c8 01) becomes 1000 (e8 07)
  bad_status[43] = 0x07;
  CHECK(DecodeEntry(bad_status, {}).status().message() == "checksum mismatch");
  CHECK(DecodeEntry(Resealed(bad_status), {}).status().message() == "bad record header");
  CheckIsSample(DecodeEntry(Resealed(record), {}));
}

}  // namespace
}  // namespace preheat
