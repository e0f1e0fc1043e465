// DemoServer: the reference origin for the demo and the end-to-end
// benchmark. An issue tracker (Tracker) over HTTP with realistic latency,
// validators, Cache-Control and the thin-shell protocol.
//
// Routes (ids are global issue numbers; repo names are Tracker repos):
//   GET  /api/repos                        {"repos":[{"name","issues","pages"}]}
//   GET  /api/repos/:repo/issues?page=N    one list page (25 rows by default)
//   GET  /api/issues/:id                   one issue with comments and references
//   PATCH|POST /api/issues/:id  {"title"}  edits the title (the ETag changes)
//   GET  /, /repos/:repo/issues?page=N, /issues/:id
//        full server-rendered HTML; with request header `Preheat-Cache: hit`
//        the thin shell instead (the page renders from the client's cache).
//   GET  /admin/stats, POST /admin/reset (zeroes the counters),
//   POST /admin/down?on=0|1, POST /admin/failure?rate=R
//        controls for demos and tests; never delayed, never counted.
//   Other methods on the routes above: 405 with Allow.
//   Anything else: a file from options.mounts (URL prefix -> directory, e.g.
//   /preheat/ -> the built web package) or options.static_dir (mounted at
//   "/", so a service worker there may control the whole origin), else 404.
//
// Thin shell: `Preheat-Cache: shell`, `Cache-Control: private, no-cache`,
// `<meta name="preheat-shell">` (web/PROTOCOL.md), and after <main> the
// `<!--preheat-data-->` marker where a worker with `inlineData` puts the
// cached data, followed by a script that paints it (demo/web/render.js).
// Both representations load /app.css, /render.js and /app.js (the
// front-end, demo/web); the shell inlines app.css and render.js from
// static_dir when present. Full pages end with an inline
// `performance.mark('demo:content')`. Requests carrying
// `Sec-Purpose: prefetch` or `Purpose: prefetch` are counted as prefetches.
//
// Caching contract: JSON GETs carry a strong ETag (a hash of the body),
// `Cache-Control: max-age=0, stale-while-revalidate=<swr>` (clients show
// what they have and revalidate) and `Cache-Tag: repo-<repo>, issue-<id>` (or
// `repo-<repo>, list-<repo>` for lists); a matching If-None-Match gets 304
// after the same delay as a full answer (the server still does the work).
// HTML answers carry `Vary: Preheat-Cache` and `Cache-Control: no-cache`.
// Injected failures are 503 with `Cache-Control: no-store`.
// If-None-Match sent as several lines counts as their combined list; a 304
// carries no Content-Length. Range is ignored (`Accept-Ranges: none`): every
// answer, files included, is the full representation. Every answer carries
// a Date. Request heads over 64 KiB or with a header line over 8 KiB get
// 431, request lines over 16 KiB 414 (then the connection closes);
// pipelined requests are answered in order, and empty lines before a
// request line are skipped (up to 16 KiB). An HTTP/1.1 request without
// exactly one Host line gets 400. A Content-Length that is not
// digits, or Content-Length lines that differ, get 400, a transfer coding
// other than chunked 501 (then the connection closes); a request with both
// Transfer-Encoding and Content-Length is read as chunked and its
// connection closes after the answer. Request bodies over 64 KiB get 413
// and the connection closes: a Content-Length over it at once, from the
// head; a chunked body once it passed it as sent, chunk framing included; a request with neither Content-Length nor Transfer-Encoding has an
// empty body (so `curl -X POST URL` works).
#ifndef PREHEAT_DEMO_SERVER_DEMO_SERVER_H_
#define PREHEAT_DEMO_SERVER_DEMO_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "preheat/prng.h"
#include "tracker.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace preheat_demo {

// A log-normal delay: median_ms * exp(sigma * N(0,1)), capped at max_ms.
// median_ms == 0 means no delay.
struct LatencyDist {
  double median_ms = 0;
  double sigma = 0;
  double max_ms = 30000;

  // Parses "MEDIAN_MS" or "MEDIAN_MS:SIGMA" (e.g. "300:0.5"). On failure
  // returns false and says why in *error.
  static bool Parse(const std::string& text, LatencyDist* out, std::string* error);
  std::string ToString() const;
};

struct DemoServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: the OS picks a free port (see DemoServer::port())
  TrackerOptions data;
  // Shaped like the reference design's starting point: full pages around
  // 1 s median (P10 ~0.6 s, P90 ~1.8 s), API calls around 300 ms.
  LatencyDist api{300, 0.5};
  LatencyDist page{1000, 0.45};
  LatencyDist shell{40, 0.3};
  // Share (0..1) of API and page requests answered 503 after their delay.
  double failure_rate = 0;
  // stale-while-revalidate of JSON answers, in seconds.
  int64_t swr_seconds = 86400;
  // Directory of static web assets served at "/"; empty: none served.
  std::string static_dir;
  // Files answer `Cache-Control: no-cache` (always revalidated; ETag, so
  // unchanged files cost a 304) or, when > 0, `max-age=0,
  // stale-while-revalidate=<this>`: the browser uses its copy at once and
  // revalidates in the background (a new deploy shows on the next load).
  int64_t static_swr_seconds = 0;
  // When > 0, files are fresh this long (`max-age=<this>`, followed by the
  // stale-while-revalidate window when static_swr_seconds > 0): loads in
  // that window use the browser's copy without a request (a new deploy
  // shows once it expired; versioned file names would avoid the wait).
  int64_t static_max_age_seconds = 0;
  // More directories at URL prefixes ("/preheat/" -> the built package),
  // tried before static_dir. Prefixes start and end with '/'.
  std::vector<std::pair<std::string, std::string>> mounts;
  // Worker threads. httplib holds a thread per open connection (keep-alive)
  // and a delayed answer sleeps on its thread, so this must exceed the
  // connections clients keep open, or requests queue and latency lies.
  size_t threads = 256;
  // Seeds the delays and failure draws (their order across threads is not
  // deterministic; their distribution is).
  uint64_t seed = 1;
};

// What the server saw since start or ResetCounters(). /admin/ is not counted.
struct ServerCounters {
  uint64_t requests = 0;          // every request except /admin/
  uint64_t api_requests = 0;      // /api/ GETs
  uint64_t page_requests = 0;     // full HTML pages
  uint64_t shell_requests = 0;    // thin shells
  uint64_t static_requests = 0;   // files and 404s
  uint64_t edits = 0;             // successful title edits
  uint64_t not_modified = 0;      // 304 answers
  uint64_t prefetch_requests = 0; // with `Sec-Purpose: prefetch` or `Purpose: prefetch`
  // Of those, GETs of pages: a browser's document prefetch (Speculation
  // Rules), marked `Purpose: prefetch` by the worker when it forwards one.
  uint64_t prefetch_page_requests = 0;
  uint64_t prefetch_other_requests = 0;  // of which neither an /api/ GET nor a page's (should stay 0)
  uint64_t failures_injected = 0; // 503s from failure_rate or the down switch
  uint64_t body_bytes = 0;        // response body bytes sent
  uint64_t max_concurrent = 0;    // most requests being handled at once
};

// Thread-safety: every public method may be called from any thread.
class DemoServer {
 public:
  // Binds and starts serving on its own thread. nullptr with *error set
  // when the options are invalid, the port is taken, or static_dir is not
  // a directory.
  static std::unique_ptr<DemoServer> Start(DemoServerOptions options, std::string* error);
  // Stop().
  ~DemoServer();
  DemoServer(const DemoServer&) = delete;
  DemoServer& operator=(const DemoServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port>"
  std::string base_url() const;
  Tracker& tracker() { return tracker_; }
  const DemoServerOptions& options() const { return options_; }

  // While down, every non-admin request gets 503 at once.
  void SetDown(bool down) { down_ = down; }
  bool down() const { return down_; }
  // REQUIRES: 0 <= rate <= 1.
  void SetFailureRate(double rate);
  double failure_rate() const { return failure_rate_.load(); }

  ServerCounters counters() const;
  void ResetCounters();
  // counters() and the switches as JSON (what /admin/stats answers).
  std::string StatsJson() const;

  // Stops accepting, finishes requests being handled, joins. Idempotent.
  void Stop();

 private:
  explicit DemoServer(DemoServerOptions options);
  void InstallRoutes();
  // Draws a delay and sleeps it; then true if this request should fail.
  bool DelayAndMaybeFail(const LatencyDist& dist, bool may_fail);
  void Fail(httplib::Response& res);
  // Sends `body` as JSON with an ETag, answering 304 to a matching
  // If-None-Match.
  void SendJson(const httplib::Request& req, httplib::Response& res, const std::string& body,
                const std::string& tags);
  void SendHtml(httplib::Response& res, std::string body, bool shell = false);
  void CountBody(size_t bytes) { body_bytes_ += bytes; }

  DemoServerOptions options_;
  Tracker tracker_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> down_{false};
  std::atomic<double> failure_rate_{0};
  std::mutex rng_mu_;
  preheat::Prng rng_;  // guarded by rng_mu_
  std::once_flag stopped_;
  std::atomic<bool> listen_returned_{false};

  std::atomic<uint64_t> requests_{0}, api_requests_{0}, page_requests_{0}, shell_requests_{0},
      static_requests_{0}, edits_{0}, not_modified_{0}, prefetch_requests_{0},
      prefetch_page_requests_{0}, prefetch_other_requests_{0}, failures_injected_{0}, body_bytes_{0}, max_concurrent_{0}, active_{0};
};

// Strong ETag of a body: "\"<16 hex digits of FNV-1a 64>\"".
std::string EtagOf(const std::string& body);
// True when an If-None-Match value ("*", or a list of possibly weak tags)
// matches `etag` under the weak comparison (RFC 9110 13.1.2).
bool IfNoneMatchMatches(const std::string& if_none_match, const std::string& etag);
// The API JSON of a list page / an issue (what the routes serve).
std::string ListJson(const Tracker& tracker, const std::string& repo, uint32_t page,
                     const std::vector<IssueSummary>& rows);
std::string IssueJson(const Issue& issue);

}  // namespace preheat_demo

#endif  // PREHEAT_DEMO_SERVER_DEMO_SERVER_H_
