// The native runtime against a faulty origin (tests/native/faulty_origin.h):
// whatever the origin does wrong after a good answer, the engine keeps
// serving the stored body (stale-if-error), never stores a partial or forged
// body, and the database still holds the good one after a restart.
#include <doctest/doctest.h>

#include <atomic>

#include "faulty_origin.h"
#include "preheat_native/runtime.h"
#include "test_util.h"

using preheat::CacheRequest;
using preheat::CacheState;
using preheat::Code;
using preheat_native::Runtime;
using preheat_native::RuntimeOptions;
using preheat_test::FaultyOrigin;
using preheat_test::TempDir;

namespace {

enum class Fault { kNone, kTruncated, kChunkCut, kGarbage, kReset, kSlowLoris, kHugeHeaders };

FaultyOrigin::Reply Answer(Fault fault) {
  const std::string good_head = FaultyOrigin::Head(
      "HTTP/1.1 200 OK",
      "Cache-Control: max-age=10, stale-if-error=100000\r\nETag: \"v1\"\r\n"
      "Content-Length: 9\r\n");
  const std::string other_head = FaultyOrigin::Head(
      "HTTP/1.1 200 OK", "Cache-Control: max-age=10\r\nETag: \"v2\"\r\nContent-Length: 500\r\n");
  FaultyOrigin::Reply reply;
  reply.close_after = true;
  switch (fault) {
    case Fault::kNone:
      reply.chunks = {FaultyOrigin::Bytes(good_head + "good-body")};
      reply.close_after = false;
      break;
    case Fault::kTruncated:
      reply.chunks = {FaultyOrigin::Bytes(other_head + std::string(120, 'p'))};
      break;
    case Fault::kChunkCut:
      reply.chunks = {FaultyOrigin::Bytes(
          FaultyOrigin::Head("HTTP/1.1 200 OK",
                             "Cache-Control: max-age=10\r\nTransfer-Encoding: chunked\r\n") +
          "a\r\npartial-bo\r\n")};
      break;
    case Fault::kGarbage:
      reply.chunks = {FaultyOrigin::Bytes("\x16\x03\x01garbage\r\n\r\n")};
      break;
    case Fault::kReset:
      reply.chunks = {FaultyOrigin::Bytes(other_head + "half", 20)};
      reply.reset = true;
      break;
    case Fault::kSlowLoris:
      for (char c : std::string("HTTP/1.1 200 OK\r\nX-Slow: ") + std::string(200, 's')) {
        reply.chunks.push_back(FaultyOrigin::Bytes(std::string(1, c), 30));
      }
      break;
    case Fault::kHugeHeaders:
      reply.chunks = {FaultyOrigin::Bytes(FaultyOrigin::Head(
          "HTTP/1.1 200 OK", "X-Huge: " + std::string(200 * 1024, 'h') + "\r\n" +
                                 "Content-Length: 4\r\n") +
                                          "huge")};
      break;
  }
  return reply;
}

const char* FaultName(Fault fault) {
  switch (fault) {
    case Fault::kNone: return "none";
    case Fault::kTruncated: return "truncated body";
    case Fault::kChunkCut: return "chunked body cut";
    case Fault::kGarbage: return "garbage status line";
    case Fault::kReset: return "reset mid-body";
    case Fault::kSlowLoris: return "slow-loris headers";
    case Fault::kHugeHeaders: return "huge header";
  }
  return "?";
}

}  // namespace

TEST_CASE("Runtime: a faulty origin never replaces the stored body; stale-if-error serves it") {
  std::atomic<Fault> fault{Fault::kNone};
  FaultyOrigin origin([&](const std::string&, int) { return Answer(fault.load()); });
  TempDir dir;
  auto offset_ms = std::make_shared<std::atomic<int64_t>>(0);
  RuntimeOptions options;
  options.db_path = dir.File("cache.db");
  options.require_store = true;
  options.seed = 1;
  options.engine.request_timeout_ms = 500;  // bounds the slow-loris answer
  options.clock = [offset_ms] {
    return preheat::AddMs(preheat_native::SystemNow(), offset_ms->load());
  };
  const std::string url = origin.Url("/issue/1");
  CacheRequest request;
  request.url = url;
  {
    auto created = Runtime::Create(options);
    REQUIRE(created.ok());
    Runtime& rt = **created;
    auto first = rt.Get(request).get();
    REQUIRE(first.ok());
    CHECK(first->state == CacheState::kMiss);
    CHECK(first->entry->body == "good-body");
    REQUIRE(rt.Flush().get().ok());

    for (Fault f : {Fault::kTruncated, Fault::kChunkCut, Fault::kGarbage, Fault::kReset,
                    Fault::kSlowLoris, Fault::kHugeHeaders}) {
      CAPTURE(FaultName(f));
      fault = f;
      offset_ms->fetch_add(20 * 1000);  // past max-age: the engine must ask the origin
      int before = origin.requests();
      auto served = rt.Get(request).get();
      REQUIRE(served.ok());
      CHECK(served->state == CacheState::kStaleIfError);
      CHECK(served->entry->body == "good-body");
      CHECK(origin.requests() == before + 1);
    }
    REQUIRE(rt.Flush().get().ok());
  }
  // After a restart the database holds the good body, not a partial one.
  fault = Fault::kGarbage;
  auto reopened = Runtime::Create(options);
  REQUIRE(reopened.ok());
  auto again = (*reopened)->Get(request).get();
  REQUIRE(again.ok());
  CHECK(again->state == CacheState::kStaleIfError);
  CHECK(again->entry->body == "good-body");

  // With nothing stored, the same faults are errors the caller can act on.
  CacheRequest fresh_key;
  fresh_key.url = origin.Url("/issue/2");
  fault = Fault::kTruncated;
  auto missing = (*reopened)->Get(fresh_key).get();
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Code::kUnavailable);
}

TEST_CASE("Runtime: a no-store with whitespace before its colon is honoured: served, never stored") {
  // Read as a field named "Cache-Control " the no-store would be lost and
  // the body written to the database.
  FaultyOrigin origin([](const std::string&, int) {
    return FaultyOrigin::Reply{{FaultyOrigin::Bytes(FaultyOrigin::Head(
                                    "HTTP/1.1 200 OK",
                                    "Cache-Control : no-store\r\nContent-Length: 6\r\n") +
                                "secret")},
                               true};
  });
  TempDir dir;
  RuntimeOptions options;
  options.db_path = dir.File("cache.db");
  options.require_store = true;
  options.seed = 1;
  auto created = Runtime::Create(options);
  REQUIRE(created.ok());
  Runtime& rt = **created;
  CacheRequest request;
  request.url = origin.Url("/account");
  auto got = rt.Get(request).get();
  REQUIRE(got.ok());
  CHECK(got->entry->body == "secret");
  CHECK_FALSE(got->stored);
  REQUIRE(rt.Flush().get().ok());
  auto stored = rt.ScanStore({preheat::StoreSelector::Kind::kAll, ""}, "", 100).get();
  REQUIRE(stored.ok());
  CHECK(stored->empty());
}
