// CurlFetcher: preheat::Fetcher on libcurl's multi interface.
#ifndef PREHEAT_NATIVE_CURL_FETCHER_H_
#define PREHEAT_NATIVE_CURL_FETCHER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "preheat/fetcher.h"
#include "preheat/headers.h"
#include "preheat/status.h"
#include "preheat_native/sqlite_store.h"  // PostFn, ClockFn

namespace preheat_native {

struct CurlFetcherOptions {
  // REQUIRES: both set. Completions go through `post`, carrying `clock()`
  // taken when the transfer finished.
  PostFn post;
  ClockFn clock;
  // Time allowed for DNS + TCP + TLS; capped by the request's timeout_ms.
  int64_t connect_timeout_ms = 10000;
  // Used when a request has timeout_ms <= 0.
  int64_t default_timeout_ms = 30000;
  // Redirects followed (only to http/https); the headers reported are the
  // final response's. Past this the request fails with kUnavailable; 0
  // follows none (a 3xx is the answer). Followed as browsers' fetch() does:
  // only a 301, 302, 303, 307 or 308 with a Location (any other 3xx, a 300
  // or a 304 among them, is the answer); a 303 with a GET (no body; a HEAD
  // stays a HEAD), a 301 or 302 with a GET for a POST and with the same
  // method and body for others, a 307 or 308 with the same method and
  // body; Authorization and Cookie go only to the same origin.
  int32_t redirects_max = 5;
  // Transfers on the wire at once; the core already limits per lane, this
  // is a backstop. Further Starts wait in the fetcher's queue.
  uint32_t inflight_max = 64;
  // Connections kept per host (HTTP/2 multiplexes on one).
  uint32_t host_connections_max = 6;
  // Bytes of response header fields accepted (all lines of the final
  // response together); past this the request fails with kTooLarge.
  // libcurl also refuses any single header line over 100 KB (kTooLarge).
  uint32_t header_max_bytes = 64 * 1024;
  std::string user_agent = "preheat/0.1";
  // Verify TLS certificates (only tests against self-signed origins turn
  // this off).
  bool verify_tls = true;
};

// What CurlFetcher checks before sending a request: the method (empty means
// GET) and every header name must be RFC 9110 tokens, and no header value
// may contain CR, LF or NUL (they would split the request or inject
// fields). Errors: kInvalidArgument saying what is wrong.
preheat::Status CheckRequestHead(std::string_view method, const preheat::Headers& headers);

// One thread drives a curl multi handle (curl_multi_poll, woken by
// curl_multi_wakeup on Start/Cancel). Connections are reused across requests
// through the multi handle's connection cache; HTTP/2 is used when the
// server offers it over TLS (CURL_HTTP_VERSION_2TLS).
//
// Behaviour per preheat::Fetcher: `Sec-Purpose: prefetch` is added to
// kPreheat requests; a request whose method or header names are not tokens,
// or whose header values hold CR, LF or NUL, is kInvalidArgument before
// anything is sent (CheckRequestHead); a body over max_body_bytes (0: no
// limit) fails with kTooLarge, and so do response headers over
// header_max_bytes; timeout_ms bounds the whole request, every redirect
// followed included (kTimeout), so a slow-loris origin (or a slow chain of
// redirects) cannot hold a request longer; a URL libcurl cannot parse or a
// scheme other than http/https is kInvalidArgument; DNS,
// connect, reset and protocol failures (a truncated body, a malformed
// chunk, a status line that is not HTTP, a header line without a colon, a
// redirect to another scheme) are kUnavailable, never a partial body. An
// HTTP error status is a successful HttpResponse. Response field names
// lose any whitespace before the colon (RFC 9112 5.1); lines whose name is
// not a token are ignored, and so are trailers and "HTTP/" lines where no
// response can start; folded lines (obs-fold) join their field's value; a
// CR inside a field value becomes a space (RFC 9110 5.5).
//
// Thread-safety: Start/Cancel may be called from any one thread at a time
// (the core's loop). Shutdown() and the destructor must not be called from
// inside a completion.
class CurlFetcher : public preheat::Fetcher {
 public:
  // Errors: kInvalidArgument (options without post/clock); kInternal when
  // libcurl cannot be initialised.
  static preheat::Result<std::unique_ptr<CurlFetcher>> Create(CurlFetcherOptions options);

  // Completes every unfinished request with kCancelled (posted), then joins
  // the thread. Requests started afterwards complete with kCancelled.
  // Idempotent.
  void Shutdown();
  ~CurlFetcher() override;
  CurlFetcher(const CurlFetcher&) = delete;
  CurlFetcher& operator=(const CurlFetcher&) = delete;

  void Start(preheat::OpId op, const preheat::HttpRequest& request, Done done) override;
  void Cancel(preheat::OpId op) override;

  struct Impl;

 private:
  explicit CurlFetcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace preheat_native

#endif  // PREHEAT_NATIVE_CURL_FETCHER_H_
