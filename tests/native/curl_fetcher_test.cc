#include "preheat_native/curl_fetcher.h"

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "faulty_origin.h"
#include "test_util.h"

using preheat::Code;
using preheat::HttpRequest;
using preheat::HttpResponse;
using preheat::Instant;
using preheat::Lane;
using preheat::OpId;
using preheat::Result;
using preheat_native::CurlFetcher;
using preheat_native::CurlFetcherOptions;
using preheat_test::Inbox;
using preheat_test::TestServer;

namespace {

// A one-shot gate handlers can wait on, so tests control when the origin
// answers without sleeping. Waits are bounded so a failing test cannot hang.
class Gate {
 public:
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

struct FetchHarness {
  Inbox inbox;
  std::unique_ptr<CurlFetcher> fetcher;

  explicit FetchHarness(CurlFetcherOptions options = {}) {
    options.post = inbox.Post();
    options.clock = preheat_test::FixedClock;
    auto created = CurlFetcher::Create(std::move(options));
    REQUIRE(created.ok());
    fetcher = std::move(created.value());
  }

  Result<HttpResponse> Fetch(HttpRequest request, OpId op = 1) {
    std::optional<Result<HttpResponse>> out;
    fetcher->Start(op, request, [&](OpId got_op, Instant now, Result<HttpResponse> r) {
      CHECK(got_op == op);
      CHECK(now == Instant{42});
      out.emplace(std::move(r));
    });
    CHECK_FALSE(out.has_value());
    while (!out) inbox.RunOne();
    return std::move(*out);
  }
};

HttpRequest Req(const std::string& url, Lane lane = Lane::kNavigate) {
  HttpRequest r;
  r.url = url;
  r.lane = lane;
  r.timeout_ms = 20000;
  r.max_body_bytes = 1 << 20;
  return r;
}

}  // namespace

TEST_CASE("CurlFetcher: 200 with headers, body and request headers") {
  TestServer origin;
  std::string seen_if_none_match;
  origin.server().Get("/doc", [&](const httplib::Request& req, httplib::Response& res) {
    seen_if_none_match = req.get_header_value("If-None-Match");
    res.set_header("Cache-Control", "max-age=60");
    res.set_header("ETag", "\"v1\"");
    res.set_header("Vary", "Accept");
    res.set_content("hello", "text/plain");
  });
  FetchHarness h;
  HttpRequest req = Req(origin.Url("/doc"));
  req.headers.Add("If-None-Match", "\"v0\"");
  auto r = h.Fetch(req);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == "hello");
  CHECK(r->headers.Get("cache-control") == std::optional<std::string>("max-age=60"));
  CHECK(r->headers.Get("ETag") == std::optional<std::string>("\"v1\""));
  CHECK(r->headers.Get("Content-Type") == std::optional<std::string>("text/plain"));
  CHECK(seen_if_none_match == "\"v0\"");
}

TEST_CASE("CurlFetcher: an HTTP error status is a response, not an error") {
  TestServer origin;
  origin.server().Get("/down", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content("busy", "text/plain");
  });
  FetchHarness h;
  auto r = h.Fetch(Req(origin.Url("/down")));
  REQUIRE(r.ok());
  CHECK(r->status == 503);
  CHECK(r->body == "busy");
}

TEST_CASE("CurlFetcher: Sec-Purpose: prefetch only on the preheat lane") {
  TestServer origin;
  std::vector<std::string> purposes;
  std::mutex mu;
  origin.server().Get("/p", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    purposes.push_back(req.has_header("Sec-Purpose") ? req.get_header_value("Sec-Purpose")
                                                     : "<none>");
    res.set_content("x", "text/plain");
  });
  FetchHarness h;
  REQUIRE(h.Fetch(Req(origin.Url("/p"), Lane::kNavigate), 1).ok());
  REQUIRE(h.Fetch(Req(origin.Url("/p"), Lane::kPreheat), 2).ok());
  REQUIRE(h.Fetch(Req(origin.Url("/p"), Lane::kRevalidate), 3).ok());
  CHECK(purposes == std::vector<std::string>{"<none>", "prefetch", "<none>"});
}

TEST_CASE("CurlFetcher: connections are reused") {
  TestServer origin;
  std::vector<int> ports;
  origin.server().Get("/r", [&](const httplib::Request& req, httplib::Response& res) {
    ports.push_back(req.remote_port);
    res.set_content("x", "text/plain");
  });
  FetchHarness h;
  REQUIRE(h.Fetch(Req(origin.Url("/r")), 1).ok());
  REQUIRE(h.Fetch(Req(origin.Url("/r")), 2).ok());
  REQUIRE(ports.size() == 2);
  CHECK(ports[0] == ports[1]);
}

TEST_CASE("CurlFetcher: redirects are followed; headers are the final response's") {
  TestServer origin;
  origin.server().Get("/old", [&](const httplib::Request&, httplib::Response& res) {
    res.set_header("X-Hop", "first");
    res.set_redirect("/new");
  });
  origin.server().Get("/new", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content("moved here", "text/plain");
  });
  origin.server().Get("/loop", [&](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/loop");
  });
  FetchHarness h;
  auto r = h.Fetch(Req(origin.Url("/old")));
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == "moved here");
  CHECK_FALSE(r->headers.Has("X-Hop"));
  auto loop = h.Fetch(Req(origin.Url("/loop")), 2);
  REQUIRE_FALSE(loop.ok());
  CHECK(loop.status().code() == Code::kUnavailable);
}

TEST_CASE("CurlFetcher: bodies over max_body_bytes fail with kTooLarge") {
  TestServer origin;
  origin.server().Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(10000, 'b'), "text/plain");
  });
  origin.server().Get("/big-chunked", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
      std::string chunk(1000, 'c');
      if (offset >= 10000) {
        sink.done();
        return true;
      }
      sink.write(chunk.data(), chunk.size());
      return true;
    });
  });
  FetchHarness h;
  HttpRequest req = Req(origin.Url("/big"));
  req.max_body_bytes = 1000;
  auto r = h.Fetch(req, 1);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kTooLarge);

  req = Req(origin.Url("/big-chunked"));  // no Content-Length: stopped while reading
  req.max_body_bytes = 2500;
  r = h.Fetch(req, 2);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kTooLarge);

  req.max_body_bytes = 10000;  // exactly the size: fine
  r = h.Fetch(req, 3);
  REQUIRE(r.ok());
  CHECK(r->body.size() == 10000);
}

// Opens a gate when it goes out of scope, however the scope ends (a failed
// REQUIRE included).
struct OpenOnExit {
  Gate& gate;
  ~OpenOnExit() { gate.Open(); }
};

TEST_CASE("CurlFetcher: timeout, cancel, refused and bad URLs") {
  // Declared before the server: a handler may still be blocked in
  // release.Wait() when the test body ends, so the gates must outlive the
  // server (whose destructor joins its handlers), and `release` is opened
  // before the server is destroyed.
  Gate release;
  std::atomic<int> arrived{0};
  Gate first_arrived;
  TestServer origin;
  OpenOnExit open_release{release};
  origin.server().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    if (arrived.fetch_add(1) == 0) first_arrived.Open();
    release.Wait();
    res.set_content("late", "text/plain");
  });
  FetchHarness h;

  SUBCASE("timeout") {
    HttpRequest req = Req(origin.Url("/slow"));
    req.timeout_ms = 300;
    auto r = h.Fetch(req);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kTimeout);
  }
  SUBCASE("cancel completes with kCancelled, once") {
    std::optional<Result<HttpResponse>> out;
    int calls = 0;
    h.fetcher->Start(7, Req(origin.Url("/slow")), [&](OpId op, Instant, Result<HttpResponse> r) {
      CHECK(op == 7);
      ++calls;
      out.emplace(std::move(r));
    });
    REQUIRE(first_arrived.Wait());  // the request is on the wire
    h.fetcher->Cancel(7);
    h.fetcher->Cancel(7);   // repeated: a no-op
    h.fetcher->Cancel(99);  // unknown: a no-op
    while (!out) h.inbox.RunOne();
    REQUIRE_FALSE(out->ok());
    CHECK(out->status().code() == Code::kCancelled);
    CHECK(calls == 1);
  }
  SUBCASE("shutdown cancels what is in flight") {
    std::optional<Result<HttpResponse>> out;
    h.fetcher->Start(8, Req(origin.Url("/slow")),
                     [&](OpId, Instant, Result<HttpResponse> r) { out.emplace(std::move(r)); });
    REQUIRE(first_arrived.Wait());
    h.fetcher->Shutdown();
    while (!out) h.inbox.RunOne();
    CHECK(out->status().code() == Code::kCancelled);
    // Started after shutdown: cancelled, still posted.
    auto late = h.Fetch(Req(origin.Url("/slow")), 9);
    CHECK(late.status().code() == Code::kCancelled);
  }
  SUBCASE("connection refused is kUnavailable") {
    auto r = h.Fetch(Req("http://127.0.0.1:" + std::to_string(preheat_test::UnusedPort()) + "/"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kUnavailable);
  }
  SUBCASE("bad URLs are kInvalidArgument") {
    for (const char* url : {"not a url", "ftp://127.0.0.1/file", "file:///etc/passwd", ""}) {
      CAPTURE(url);
      auto r = h.Fetch(Req(url));
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == Code::kInvalidArgument);
    }
  }
}

// ---- A faulty origin: what a real server library would never send -------

namespace {

using preheat_test::FaultyOrigin;

FaultyOrigin::Reply Ok(const std::string& body, bool close_after = false) {
  return {{FaultyOrigin::Bytes(FaultyOrigin::Head("HTTP/1.1 200 OK",
                                                  "Content-Length: " +
                                                      std::to_string(body.size()) + "\r\n") +
                               body)},
          close_after};
}

}  // namespace

TEST_CASE("CurlFetcher: a faulty origin fails cleanly and never yields a partial body") {
  const std::string ok_head = "HTTP/1.1 200 OK\r\n";
  std::string many_fields;
  for (int i = 0; i < 200; ++i) {
    many_fields += "X-Many-" + std::to_string(i) + ": " + std::string(1000, 'm') + "\r\n";
  }
  struct Case {
    const char* name;
    std::string bytes;  // sent, then the connection closes
    Code code;
    const char* message_part;
  } const cases[] = {
      {"truncated body: Content-Length 1000, 400 bytes, then close",
       ok_head + "Content-Length: 1000\r\n\r\n" + std::string(400, 'x'), Code::kUnavailable, ""},
      {"truncated chunked body: the last chunk never comes",
       ok_head + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", Code::kUnavailable, ""},
      {"malformed chunk size",
       ok_head + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", Code::kUnavailable,
       ""},
      {"garbage instead of a status line", "SSH-2.0-OpenSSH_9.2\r\n\r\n", Code::kUnavailable, ""},
      {"one header line over libcurl's limit",
       ok_head + "X-Huge: " + std::string(300 * 1024, 'h') + "\r\nContent-Length: 2\r\n\r\nok",
       Code::kTooLarge, ""},
      {"many header lines over header_max_bytes",
       ok_head + many_fields + "Content-Length: 2\r\n\r\nok", Code::kTooLarge,
       "headers over 65536 bytes"},
  };
  FetchHarness h;
  OpId op = 1;
  SUBCASE("each fault, then close") {
    for (const Case& c : cases) {
      CAPTURE(c.name);
      FaultyOrigin origin([&c](const std::string&, int) {
        return FaultyOrigin::Reply{{FaultyOrigin::Bytes(c.bytes)}, true};
      });
      auto r = h.Fetch(Req(origin.Url("/x")), op++);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == c.code);
      CHECK(r.status().message().find(c.message_part) != std::string::npos);
    }
  }

  SUBCASE("connection reset in the middle of the headers") {
    FaultyOrigin origin([](const std::string&, int) {
      FaultyOrigin::Reply reply{{FaultyOrigin::Bytes("HTTP/1.1 200 OK\r\nContent-Le", 20)}};
      reply.reset = true;
      return reply;
    });
    auto r = h.Fetch(Req(origin.Url("/r")), op++);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kUnavailable);
  }
  SUBCASE("Content-Length shorter than what is sent: the excess never poisons the next response") {
    FaultyOrigin origin([&](const std::string&, int index) {
      if (index == 0) {
        return FaultyOrigin::Reply{{FaultyOrigin::Bytes(
            ok_head + "Content-Length: 5\r\n\r\n" +
            "helloHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged")}};
      }
      return Ok("second");
    });
    auto first = h.Fetch(Req(origin.Url("/a")), op++);
    REQUIRE(first.ok());
    CHECK(first->body == "hello");
    auto second = h.Fetch(Req(origin.Url("/b")), op++);
    REQUIRE(second.ok());
    CHECK(second->body == "second");
    CHECK(origin.requests() == 2);
  }
  SUBCASE("two different Content-Length values") {
    FaultyOrigin origin([&](const std::string&, int) {
      return FaultyOrigin::Reply{
          {FaultyOrigin::Bytes(ok_head + "Content-Length: 5\r\nContent-Length: 9\r\n\r\nhello")},
          true};
    });
    auto r = h.Fetch(Req(origin.Url("/d")), op++);
    // Refused, or framed by one of the values: never a body past what was
    // sent, never a hang.
    if (r.ok()) {
      CHECK(r->body == "hello");
    } else {
      CHECK(r.status().code() == Code::kUnavailable);
    }
  }
}

TEST_CASE("CurlFetcher: trailers stay out of the headers; the body limit is the final response's") {
  FetchHarness h;
  OpId op = 1;
  SUBCASE("chunked trailers are not merged into the header section (RFC 9110 6.5.1)") {
    FaultyOrigin origin([](const std::string&, int) {
      return FaultyOrigin::Reply{{FaultyOrigin::Bytes(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: max-age=600\r\n"
          "Trailer: Cache-Control, X-Trailer\r\n\r\n5\r\nhello\r\n0\r\n"
          "Cache-Control: no-store\r\nX-Trailer: t\r\n\r\n")}};
    });
    auto r = h.Fetch(Req(origin.Url("/t")), op++);
    REQUIRE(r.ok());
    CHECK(r->body == "hello");
    CHECK(r->headers.GetCombined("Cache-Control") == std::string("max-age=600"));
    CHECK_FALSE(r->headers.Has("X-Trailer"));
  }
  SUBCASE("a redirect announcing a body over the limit: its body is never read, the target's is") {
    FaultyOrigin origin([&](const std::string& request, int) {
      if (request.find("GET /hop ") == 0) {
        return FaultyOrigin::Reply{{FaultyOrigin::Bytes(
            "HTTP/1.1 302 Found\r\nLocation: /target\r\nContent-Length: 5000\r\n\r\n" +
            std::string(5000, 'r'))}};
      }
      return Ok("small");
    });
    HttpRequest req = Req(origin.Url("/hop"));
    req.max_body_bytes = 1000;
    auto r = h.Fetch(req, op++);
    REQUIRE(r.ok());
    CHECK(r->body == "small");
  }
  SUBCASE("a final response announcing a body over the limit fails before reading it") {
    FaultyOrigin origin([](const std::string&, int) {
      return FaultyOrigin::Reply{{FaultyOrigin::Bytes(
          "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'b'))}};
    });
    HttpRequest req = Req(origin.Url("/big"));
    req.max_body_bytes = 1000;
    auto r = h.Fetch(req, op++);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kTooLarge);
    CHECK(r.status().message().find("body over 1000 bytes") != std::string::npos);
  }
}

TEST_CASE("CurlFetcher: only 301, 302, 303, 307 and 308 are followed; a 300 or a 304 with a "
          "Location is the answer, with its own header fields") {
  // Every hop announces no-store and X-Hop: hop; the target is cacheable.
  std::atomic<int> to_target{0};
  FaultyOrigin origin([&](const std::string& head, int) {
    if (head.find("GET /target ") == 0 || head.find("HEAD /target ") == 0) {
      to_target++;
      return FaultyOrigin::Reply{{FaultyOrigin::Bytes(
          "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nX-Hop: target\r\n"
          "Content-Length: 6\r\n\r\n" +
          std::string(head.find("HEAD") == 0 ? "" : "target"))}};
    }
    const std::string code = head.substr(head.find("/c") + 2, 3);
    return FaultyOrigin::Reply{{FaultyOrigin::Bytes(
        "HTTP/1.1 " + code + " Hop\r\nLocation: /target\r\nCache-Control: no-store\r\n"
        "X-Hop: hop\r\nContent-Length: 3\r\n\r\n" +
        std::string(code == "304" || head.find("HEAD") == 0 ? "" : "hop"))}};
  });
  FetchHarness h;
  OpId op = 1;
  for (const std::string code : {"300", "304", "305", "399"}) {
    CAPTURE(code);
    HttpRequest req = Req(origin.Url("/c" + code));
    if (code == "304") req.headers.Add("If-None-Match", "\"v1\"");
    auto r = h.Fetch(req, op++);
    REQUIRE(r.ok());
    CHECK(r->status == std::stoi(code));
    CHECK(r->body == (code == "304" ? "" : "hop"));
    CHECK(r->headers.Get("X-Hop") == std::optional<std::string>("hop"));
    CHECK(r->headers.Get("Cache-Control") == std::optional<std::string>("no-store"));
  }
  CHECK(to_target.load() == 0);
  for (const std::string code : {"301", "302", "303", "307", "308"}) {
    CAPTURE(code);
    auto r = h.Fetch(Req(origin.Url("/c" + code)), op++);
    REQUIRE(r.ok());
    CHECK(r->status == 200);
    CHECK(r->body == "target");
    CHECK(r->headers.Get("X-Hop") == std::optional<std::string>("target"));
    CHECK(r->headers.Get("Cache-Control") == std::optional<std::string>("max-age=60"));
  }
  // fetch(): a HEAD stays a HEAD after a 303.
  HttpRequest head = Req(origin.Url("/c303"));
  head.method = "HEAD";
  auto r = h.Fetch(head, op++);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body.empty());
  CHECK(r->headers.Get("X-Hop") == std::optional<std::string>("target"));
}

TEST_CASE("CurlFetcher: timeout_ms bounds the whole request, every redirect hop included") {
  // Each hop answers within the timeout; the chain does not.
  FaultyOrigin origin([](const std::string& head, int) {
    if (head.find(" /hop/4 ") != std::string::npos) return Ok("arrived");
    const int n = head[head.find("/hop/") + 5] - '0';
    return FaultyOrigin::Reply{{FaultyOrigin::Bytes("", 500),
                                FaultyOrigin::Bytes("HTTP/1.1 307 Temporary Redirect\r\nLocation: /hop/" +
                                                    std::to_string(n + 1) +
                                                    "\r\nContent-Length: 0\r\n\r\n")}};
  });
  FetchHarness h;
  OpId op = 1;
  for (const std::string method : {"GET", "PATCH"}) {
    CAPTURE(method);
    HttpRequest req = Req(origin.Url("/hop/3"));
    req.method = method;
    req.timeout_ms = 1200;  // one hop: 500 ms
    auto one = h.Fetch(req, op++);
    REQUIRE(one.ok());
    CHECK(one->body == "arrived");
    req.url = origin.Url("/hop/0");  // four hops
    auto r = h.Fetch(req, op++);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kTimeout);
  }
}

TEST_CASE("CurlFetcher: slow-loris origins time out and leave the fetcher usable") {
  FetchHarness h;
  // One byte every 40 ms, for far longer than the request's timeout.
  auto trickle = [](const std::string& prefix, const std::string& tail) {
    FaultyOrigin::Reply reply;
    if (!prefix.empty()) reply.chunks.push_back(FaultyOrigin::Bytes(prefix));
    for (int i = 0; i < 500; ++i) {
      reply.chunks.push_back(FaultyOrigin::Bytes(std::string(1, tail[i % tail.size()]), 40));
    }
    reply.close_after = true;
    return reply;
  };
  FaultyOrigin headers_loris([&](const std::string&, int) {
    return trickle("", "HTTP/1.1 200 OK\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  });
  FaultyOrigin body_loris([&](const std::string&, int) {
    return trickle(FaultyOrigin::Head("HTTP/1.1 200 OK", "Content-Length: 100000\r\n"), "b");
  });
  FaultyOrigin silent([](const std::string&, int) {
    return FaultyOrigin::Reply{{FaultyOrigin::Bytes("", 20000)}, true};
  });
  FaultyOrigin good([](const std::string&, int) { return Ok("fine"); });

  OpId op = 1;
  for (FaultyOrigin* bad : {&headers_loris, &body_loris, &silent}) {
    HttpRequest req = Req(bad->Url("/slow"));
    req.timeout_ms = 400;
    auto r = h.Fetch(req, op++);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kTimeout);
    // The fetcher is not wedged: the next request completes.
    auto next = h.Fetch(Req(good.Url("/ok")), op++);
    REQUIRE(next.ok());
    CHECK(next->body == "fine");
  }
}

TEST_CASE("CurlFetcher: redirected writes are followed as fetch() does: GET after a 303 or a POST's "
          "301/302, else the same method and body") {
  TestServer origin;
  std::mutex mu;
  std::vector<std::string> arrivals;  // "METHOD body" of each request reaching /to
  std::atomic<int> writes{0};
  auto from = [&](const httplib::Request& req, httplib::Response& res) {
    writes++;
    res.set_redirect("/to", std::stoi(req.matches[1].str()));
  };
  auto to = [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard<std::mutex> lock(mu);
      arrivals.push_back(req.method + " " + req.body);
    }
    res.set_content("arrived", "text/plain");
  };
  httplib::Server& s = origin.server();
  s.Post(R"(/from/(\d+))", from).Put(R"(/from/(\d+))", from);
  s.Patch(R"(/from/(\d+))", from).Delete(R"(/from/(\d+))", from);
  s.Get("/to", to).Post("/to", to).Put("/to", to).Patch("/to", to).Delete("/to", to);
  s.Patch("/loop", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/loop", 307);
  });
  FetchHarness h;
  OpId op = 1;
  const std::string body = "{\"title\":\"x\"}";
  for (const std::string method : {"POST", "PUT", "PATCH", "DELETE"}) {
    for (int code : {301, 302, 303, 307, 308}) {
      CAPTURE(method);
      CAPTURE(code);
      {
        std::lock_guard<std::mutex> lock(mu);
        arrivals.clear();
      }
      HttpRequest req = Req(origin.Url("/from/" + std::to_string(code)));
      req.method = method;
      req.body = body;
      auto r = h.Fetch(req, op++);
      REQUIRE(r.ok());
      CHECK(r->status == 200);
      CHECK(r->body == "arrived");
      const bool as_get = code == 303 || (method == "POST" && (code == 301 || code == 302));
      std::lock_guard<std::mutex> lock(mu);
      CHECK(arrivals == std::vector<std::string>{as_get ? "GET " : method + " " + body});
    }
  }
  CHECK(writes.load() == 20);  // each write reached the origin once

  HttpRequest looping = Req(origin.Url("/loop"));
  looping.method = "PATCH";
  looping.body = body;
  auto r = h.Fetch(looping, op++);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kUnavailable);
  CHECK(r.status().message().find("redirects") != std::string::npos);

  CurlFetcherOptions no_follow;
  no_follow.redirects_max = 0;
  FetchHarness unfollowed(no_follow);
  HttpRequest patch = Req(origin.Url("/from/303"));
  patch.method = "PATCH";
  patch.body = body;
  auto answered = unfollowed.Fetch(patch, op++);
  REQUIRE(answered.ok());
  CHECK(answered->status == 303);
}

TEST_CASE("CurlFetcher: a method or header field that could split the request is refused, nothing "
          "sent") {
  FaultyOrigin origin([](const std::string&, int) { return Ok("ok"); });
  FetchHarness h;
  struct Case {
    const char* name;
    std::string method;
    std::string field;
    std::string value;
  } const cases[] = {
      {"CR LF in a value", "GET", "X-Trace", "abc\r\nX-Injected: 1"},
      {"LF in a value", "GET", "X-Trace", "abc\nX-Injected: 1"},
      {"CR in a value", "GET", "X-Trace", "abc\rdef"},
      {"NUL in a value", "GET", "X-Trace", std::string("abc\0def", 7)},
      {"a space in a name", "GET", "X Trace", "abc"},
      {"a colon and CR LF in a name", "GET", "X-Trace: 1\r\nX-Injected", "abc"},
      {"an empty name", "GET", "", "abc"},
      {"CR LF in the method", "GET / HTTP/1.1\r\nX-Injected: 1\r\nX-Pad:", "X-Ok", "1"},
      {"a space in the method", "PO ST", "X-Ok", "1"},
  };
  OpId op = 1;
  for (const Case& c : cases) {
    CAPTURE(c.name);
    HttpRequest req = Req(origin.Url("/x"));
    req.method = c.method;
    req.headers.Add(c.field, c.value);
    auto r = h.Fetch(req, op++);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
  }
  CHECK(origin.requests() == 0);
  // Every tchar in a name, tabs and non-ASCII bytes in a value: sent.
  HttpRequest fine = Req(origin.Url("/x"));
  fine.headers.Add("X-!#$%&'*+-.^_`|~09az", "tab\tand \xe2\x82\xac");
  auto r = h.Fetch(fine, op++);
  REQUIRE(r.ok());
  CHECK(r->body == "ok");
  CHECK(origin.requests() == 1);
}

TEST_CASE("CurlFetcher: whitespace before a response field's colon is removed; lines that are not "
          "fields are ignored") {
  // RFC 9112 5.1: a proxy must remove such whitespace. Kept in the name,
  // "Cache-Control " would hide the no-store from every lookup.
  FaultyOrigin origin([](const std::string&, int) {
    return FaultyOrigin::Reply{
        {FaultyOrigin::Bytes("HTTP/1.1 200 OK\r\nCache-Control : no-store\r\nETag\t: \"v1\"\r\n"
                             "Bad Name: x\r\n(not-a-token): y\r\nX-Ok: 1\r\n"
                             "Content-Length: 6\r\n\r\nsecret")},
        true};
  });
  FetchHarness h;
  auto r = h.Fetch(Req(origin.Url("/private")));
  REQUIRE(r.ok());
  CHECK(r->body == "secret");
  CHECK(r->headers.Get("Cache-Control") == std::optional<std::string>("no-store"));
  CHECK(r->headers.Get("ETag") == std::optional<std::string>("\"v1\""));
  CHECK(r->headers.Get("X-Ok") == std::optional<std::string>("1"));
  for (const auto& field : r->headers.fields()) {
    const std::string& name = field.first;
    CAPTURE(name);
    CHECK(name.find_first_of(" \t()") == std::string::npos);
  }
}

TEST_CASE("CurlFetcher: a CR inside a response field value becomes a space (RFC 9110 5.5)") {
  FaultyOrigin origin([](const std::string&, int) {
    return FaultyOrigin::Reply{{FaultyOrigin::Bytes(
        "HTTP/1.1 200 OK\r\nX-Split: a\rInjected: 1\r\nETag: \"v\r1\"\r\n"
        "X-Folded: b\r\n c\rd\r\nContent-Length: 2\r\n\r\nok")}};
  });
  FetchHarness h;
  auto r = h.Fetch(Req(origin.Url("/cr")));
  REQUIRE(r.ok());
  CHECK(r->headers.Get("X-Split") == std::optional<std::string>("a Injected: 1"));
  CHECK(r->headers.Get("ETag") == std::optional<std::string>("\"v 1\""));
  CHECK(r->headers.Get("X-Folded") == std::optional<std::string>("b c d"));
  for (const auto& field : r->headers.fields()) {
    CHECK(field.second.find('\r') == std::string::npos);
  }
}

TEST_CASE("CurlFetcher: a line starting with HTTP/ starts a response only where one can start") {
  FetchHarness h;
  auto fetch = [&](const std::string& bytes) {
    FaultyOrigin origin([&](const std::string&, int) {
      return FaultyOrigin::Reply{{FaultyOrigin::Bytes(bytes)}, true};
    });
    return h.Fetch(Req(origin.Url("/x")));
  };
  SUBCASE("in a chunked trailer: the header section is kept") {
    auto r = fetch(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: no-store\r\n"
        "Content-Type: text/html\r\n\r\n5\r\nhello\r\n0\r\nHTTP/2: x\r\n\r\n");
    REQUIRE(r.ok());
    CHECK(r->body == "hello");
    CHECK(r->headers.GetCombined("Cache-Control") == std::optional<std::string>("no-store"));
    CHECK(r->headers.Get("Content-Type") == std::optional<std::string>("text/html"));
  }
  SUBCASE("inside the header section: not a field, ignored; the fields around it kept") {
    // (libcurl itself refuses a header line without a colon.)
    auto r = fetch(
        "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nHTTP/2: x\r\n"
        "Content-Type: text/html\r\nContent-Length: 5\r\n\r\nhello");
    REQUIRE(r.ok());
    CHECK(r->body == "hello");
    CHECK(r->headers.Get("Cache-Control") == std::optional<std::string>("no-store"));
    CHECK(r->headers.Get("Content-Type") == std::optional<std::string>("text/html"));
  }
  SUBCASE("after an interim response: the final response's fields only") {
    auto r = fetch(
        "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\n\r\nok");
    REQUIRE(r.ok());
    CHECK(r->status == 200);
    CHECK(r->body == "ok");
    CHECK_FALSE(r->headers.Has("Link"));
    CHECK(r->headers.Get("Cache-Control") == std::optional<std::string>("max-age=60"));
  }
}

TEST_CASE("CurlFetcher: obsolete line folding appends to its own field line, however many folds") {
  FetchHarness h;
  SUBCASE("thousands of fields and folds, within header_max_bytes") {
    std::string head = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 6000; ++i) head += "a:x\r\n";
    for (int i = 0; i < 8000; ++i) head += " y\r\n";
    head += "Content-Length: 2\r\n\r\nok";
    FaultyOrigin origin([&](const std::string&, int) {
      return FaultyOrigin::Reply{{FaultyOrigin::Bytes(head)}, true};
    });
    auto r = h.Fetch(Req(origin.Url("/folds")));
    REQUIRE(r.ok());
    CHECK(r->body == "ok");
    std::string folded = "x";
    for (int i = 0; i < 8000; ++i) folded += " y";
    const auto& fields = r->headers.fields();
    REQUIRE(fields.size() == 6001);
    CHECK(fields[0] == std::make_pair(std::string("a"), std::string("x")));
    CHECK(fields[5998] == std::make_pair(std::string("a"), std::string("x")));
    CHECK(fields[5999].first == "a");
    CHECK(fields[5999].second == folded);
    CHECK(fields[6000] == std::make_pair(std::string("Content-Length"), std::string("2")));
  }
  SUBCASE("the continuation of a line that is not a field is not appended to the field before it") {
    // ": x" has no field name: ignored, and its continuation with it.
    // (libcurl itself refuses a header line without a colon.)
    FaultyOrigin origin([](const std::string&, int) {
      return FaultyOrigin::Reply{
          {FaultyOrigin::Bytes("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n: x\r\n"
                               " no-store\r\nX-Folded: a\r\n\tb\r\n  c\r\n"
                               "Content-Length: 2\r\n\r\nok")},
          true};
    });
    auto r = h.Fetch(Req(origin.Url("/fold")));
    REQUIRE(r.ok());
    CHECK(r->headers.GetCombined("Cache-Control") == std::optional<std::string>("max-age=60"));
    CHECK(r->headers.Get("X-Folded") == std::optional<std::string>("a b c"));
  }
}
