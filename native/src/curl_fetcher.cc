#include "preheat_native/curl_fetcher.h"

#include <curl/curl.h>

#include <algorithm>
#include <condition_variable>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "preheat/headers.h"

namespace preheat_native {

using preheat::HttpRequest;
using preheat::HttpResponse;
using preheat::Instant;
using preheat::OpId;
using preheat::Result;
using preheat::Status;

namespace {

struct Transfer {
  OpId op = 0;
  HttpRequest request;
  preheat::Fetcher::Done done;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  HttpResponse response;
  bool too_large = false;
  bool headers_too_large = false;
  uint64_t header_bytes = 0;  // of the current (final) response
  uint32_t header_max_bytes = 0;
  int status = 0;              // of the current response's status line
  bool header_ended = false;   // its blank line seen: later fields are trailers
  // A status line may start a response here: before the first one, and
  // after the blank line of an interim (1xx) response. Anywhere else a line
  // starting "HTTP/" is no status line.
  bool at_boundary = true;
  // The field line being read: kept apart until the next line, so obsolete
  // line folding appends to it in place.
  bool pending = false;
  std::string pending_name;
  std::string pending_value;
  // Whether this fetcher follows the response's redirect (FollowRedirect;
  // libcurl never does), and how many were followed by earlier transfers of
  // the same request.
  bool follow = false;
  int32_t redirects = 0;
  // When the request's timeout_ms runs out, set as its first transfer
  // starts: the redirects followed share it (none without a timeout).
  std::optional<std::chrono::steady_clock::time_point> deadline;
  char error[CURL_ERROR_SIZE] = {0};

  ~Transfer() {
    if (header_list != nullptr) curl_slist_free_all(header_list);
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

bool IsRedirectStatus(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// The response being read is a redirect this fetcher follows: its body is
// not the answer (skipped) and the next hop's response replaces it.
bool IsFollowedRedirect(const Transfer& t) {
  return t.follow && IsRedirectStatus(t.status) && t.response.headers.Has("Location");
}

// A body the response announces over the request's limit: known at the end
// of the header section, before any of it is read. Not for a 1xx, a
// followed redirect (its body is skipped) nor a HEAD (no body).
bool AnnouncesBodyOverLimit(const Transfer& t) {
  uint64_t limit = t.request.max_body_bytes;
  if (limit == 0 || t.request.method == "HEAD" || t.status < 200 || IsFollowedRedirect(t)) {
    return false;
  }
  auto length = t.response.headers.Get("Content-Length");
  if (!length) return false;
  std::string_view digits = preheat::TrimOws(*length);
  uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;  // malformed: the body's own check decides
    if (value > limit) return true;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return !digits.empty() && value > limit;
}

// RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
bool IsTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != '\0' && std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool IsToken(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), IsTchar); }

// For error messages: control and non-ASCII bytes as \xNN, at most 64 bytes.
std::string Printable(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 64; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > 64) out += "...";
  return out;
}

// Adds the field line read so far (if any) to the response's headers. A
// CR or NUL inside its value (libcurl ends lines at LF only) becomes a
// space, as RFC 9110 5.5 requires of a recipient that does not reject the
// message: stored and handed on as it was, it would split the header
// section of whatever relays the response.
void FlushPendingField(Transfer* t) {
  if (!t->pending) return;
  t->pending = false;
  std::replace_if(
      t->pending_value.begin(), t->pending_value.end(),
      [](char c) { return c == '\r' || c == '\0'; }, ' ');
  t->response.headers.Add(std::move(t->pending_name), std::move(t->pending_value));
  t->pending_name.clear();
  t->pending_value.clear();
}

// Collects the headers of the final response: every status line (after a
// 1xx) starts the list afresh. A line
// starting "HTTP/" is a status line only where a response can start (see
// Transfer::at_boundary). Fields after a header section's blank line are
// chunked trailers: never merged into it (RFC 9110 6.5.1), so ignored.
size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (t->at_boundary && line.substr(0, 5) == "HTTP/") {
    t->response.headers = preheat::Headers();
    t->pending = false;
    t->header_bytes = 0;
    t->header_ended = false;
    t->at_boundary = false;
    size_t space = line.find(' ');
    t->status = 0;
    for (size_t i = space == std::string_view::npos ? line.size() : space + 1;
         i < line.size() && line[i] >= '0' && line[i] <= '9' && t->status < 1000; ++i) {
      t->status = t->status * 10 + (line[i] - '0');
    }
    return n;
  }
  if (t->header_ended) return n;  // a trailer
  if (line.empty()) {
    FlushPendingField(t);
    t->header_ended = true;
    // Another response follows an interim one.
    t->at_boundary = t->status >= 100 && t->status < 200;
    if (AnnouncesBodyOverLimit(*t)) {
      t->too_large = true;
      return 0;  // CURLE_WRITE_ERROR, reported as the body's size
    }
    return n;
  }
  t->header_bytes += n;
  if (t->header_max_bytes > 0 && t->header_bytes > t->header_max_bytes) {
    t->headers_too_large = true;
    return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
  }
  if (line.front() == ' ' || line.front() == '\t') {
    // Obsolete line folding (RFC 9112 5.2): part of the previous field
    // line's value, appended in place. The continuation of a line that was
    // ignored (not a field) is ignored with it.
    if (t->pending) {
      t->pending_value += ' ';
      t->pending_value += preheat::TrimOws(line);
    }
    return n;
  }
  FlushPendingField(t);
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;  // not a field; ignore
  // RFC 9112 5.1 forbids whitespace between the name and the colon; a
  // proxy must remove it, and so does this client, or "Cache-Control :"
  // would hide the field from every lookup. A name that is still not a
  // token is not a field: ignored.
  std::string_view name = line.substr(0, colon);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  if (!IsToken(name)) return n;
  t->pending = true;
  t->pending_name.assign(name);
  t->pending_value.assign(preheat::TrimOws(line.substr(colon + 1)));
  return n;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  // The body of a redirect this fetcher follows itself is not the answer.
  if (IsFollowedRedirect(*t)) return n;
  uint64_t limit = t->request.max_body_bytes;
  if (limit > 0 && t->response.body.size() + n > limit) {
    t->too_large = true;
    return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
  }
  t->response.body.append(data, n);
  return n;
}

Status MapError(CURLcode rc, const Transfer& t) {
  std::string detail = t.error[0] != '\0' ? t.error : curl_easy_strerror(rc);
  std::string msg = t.request.url + ": " + detail;
  switch (rc) {
    case CURLE_URL_MALFORMAT:
      return Status::InvalidArgument(msg);
    case CURLE_UNSUPPORTED_PROTOCOL:
      // Begin() already refused other schemes, so this is the origin's
      // doing: an HTTP/0.9 (not HTTP) reply, or a redirect to another scheme.
      return Status::Unavailable(msg);
    case CURLE_OPERATION_TIMEDOUT:
      return Status::Timeout(msg);
    case CURLE_FILESIZE_EXCEEDED:
      return Status::TooLarge(msg + " (body over " + std::to_string(t.request.max_body_bytes) +
                              " bytes)");
    case CURLE_WRITE_ERROR:
      if (t.headers_too_large) {
        return Status::TooLarge(t.request.url + ": response headers over " +
                                std::to_string(t.header_max_bytes) + " bytes");
      }
      if (t.too_large) {
        return Status::TooLarge(t.request.url + ": body over " +
                                std::to_string(t.request.max_body_bytes) + " bytes");
      }
      return Status::Unavailable(msg);
    case CURLE_OUT_OF_MEMORY:
      // libcurl reports a header line over its 100 KB limit this way.
      return Status::TooLarge(msg + " (a response header line over libcurl's limit, or memory "
                              "exhausted)");
    default:
      // DNS, connect, reset, TLS, HTTP/2 framing, too many redirects: the
      // origin is unreachable for now.
      return Status::Unavailable(msg);
  }
}

// "scheme://host:port" of an absolute URL (the port made explicit), or ""
// when libcurl cannot parse it.
std::string OriginOf(const std::string& url) {
  CURLU* u = curl_url();
  if (u == nullptr) return "";
  std::string origin;
  char* scheme = nullptr;
  char* host = nullptr;
  char* port = nullptr;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    origin = preheat::ToLowerAscii(scheme) + "://" + preheat::ToLowerAscii(host) + ":" + port;
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return origin;
}

std::once_flag g_curl_init_once;
CURLcode g_curl_init_result = CURLE_OK;

}  // namespace

preheat::Status CheckRequestHead(std::string_view method, const preheat::Headers& headers) {
  if (!method.empty() && !IsToken(method)) {
    return Status::InvalidArgument("request method '" + Printable(method) +
                                   "' is not an HTTP token");
  }
  for (const auto& [name, value] : headers.fields()) {
    if (!IsToken(name)) {
      return Status::InvalidArgument("request header name '" + Printable(name) +
                                     "' is not an HTTP token");
    }
    // (The value is not quoted: it may be a credential.)
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return Status::InvalidArgument("request header " + name +
                                     " has a CR, LF or NUL byte in its value");
    }
  }
  return Status::Ok();
}

struct CurlFetcher::Impl {
  CurlFetcherOptions options;
  CURLM* multi = nullptr;
  std::thread thread;

  std::mutex mu;
  std::deque<std::unique_ptr<Transfer>> starts;  // guarded by mu
  std::vector<OpId> cancels;                     // guarded by mu
  bool stopping = false;                         // guarded by mu
  bool joined = false;

  // Owned by the thread.
  std::map<OpId, std::unique_ptr<Transfer>> active;
  std::deque<std::unique_ptr<Transfer>> waiting;

  void Deliver(std::unique_ptr<Transfer> t, Result<HttpResponse> result) {
    Instant now = options.clock();
    preheat::Fetcher::Done done = std::move(t->done);
    OpId op = t->op;
    t.reset();  // release the handle before the core sees the answer
    options.post([done, op, now, result = std::move(result)]() mutable {
      done(op, now, std::move(result));
    });
  }

  // Configures and adds a transfer; completes it at once when it cannot
  // start.
  void Begin(std::unique_ptr<Transfer> t) {
    const HttpRequest& r = t->request;
    {
      CURLU* u = curl_url();
      CURLUcode uc = u ? curl_url_set(u, CURLUPART_URL, r.url.c_str(), 0) : CURLUE_OUT_OF_MEMORY;
      char* scheme = nullptr;
      if (uc == CURLUE_OK) uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
      bool http = scheme != nullptr && (std::string_view(scheme) == "http" ||
                                        std::string_view(scheme) == "https");
      curl_free(scheme);
      curl_url_cleanup(u);
      if (uc != CURLUE_OK || !http) {
        std::string why = uc != CURLUE_OK ? curl_url_strerror(uc) : "only http and https";
        Deliver(std::move(t), Status::InvalidArgument("cannot fetch '" + r.url + "': " + why));
        return;
      }
    }
    // libcurl sends the method and header lines as given: a CR or LF would
    // split the request or inject fields.
    if (Status head = CheckRequestHead(r.method, r.headers); !head.ok()) {
      Deliver(std::move(t), Status::InvalidArgument("cannot fetch '" + r.url + "': " +
                                                    head.message()));
      return;
    }
    // timeout_ms bounds the request, every redirect followed included: a
    // later hop gets what is left.
    int64_t timeout_ms = r.timeout_ms > 0 ? r.timeout_ms : options.default_timeout_ms;
    if (timeout_ms > 0) {
      const auto now = std::chrono::steady_clock::now();
      if (!t->deadline) t->deadline = now + std::chrono::milliseconds(timeout_ms);
      const int64_t left_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(*t->deadline - now).count();
      if (left_ms <= 0) {
        std::string msg = r.url + ": timed out after " + std::to_string(timeout_ms) +
                          " ms, with " + std::to_string(t->redirects) + " redirects followed";
        Deliver(std::move(t), Status::Timeout(std::move(msg)));
        return;
      }
      timeout_ms = left_ms;
    }
    t->easy = curl_easy_init();
    if (t->easy == nullptr) {
      Deliver(std::move(t), Status::Internal("curl_easy_init failed"));
      return;
    }
    CURL* e = t->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    // A proxy's answer to CONNECT is not the origin's response.
    curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);  // prefer multiplexing over a new connection
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, options.user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, options.verify_tls ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, options.verify_tls ? 2L : 0L);
    int64_t connect_ms = std::min(options.connect_timeout_ms, timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_ms));
    // The body's limit is checked here (OnHeader, OnBody), not with
    // CURLOPT_MAXFILESIZE_LARGE: libcurl applies that to every redirect
    // hop's Content-Length and to HEAD responses, which have no body.
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());

    // Redirects are followed here (FollowRedirect), as browsers' fetch()
    // follows them, never by libcurl: libcurl follows every 3xx carrying a
    // Location, a 300 or a 304 to a conditional request included, and then
    // reports the first hop's header fields with the last hop's body; with
    // CURLOPT_CUSTOMREQUEST it would also send the custom method on every
    // hop, without its body after a 301, 302 or 303.
    t->follow = options.redirects_max > 0;
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (r.method == "GET" || r.method.empty()) {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (r.method == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (r.method == "POST") {
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, r.body.c_str());
    } else {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
      if (!r.body.empty() || r.method == "PUT" || r.method == "PATCH") {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, r.body.c_str());
      }
    }

    curl_slist* list = nullptr;
    for (const auto& [name, value] : r.headers.fields()) {
      // "Name;" is libcurl's way to send a header with an empty value.
      std::string line = value.empty() ? name + ";" : name + ": " + value;
      list = curl_slist_append(list, line.c_str());
    }
    if (r.lane == preheat::Lane::kPreheat && !r.headers.Has("Sec-Purpose")) {
      list = curl_slist_append(list, "Sec-Purpose: prefetch");
    }
    list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
    t->header_list = list;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);

    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
      Deliver(std::move(t), Status::Internal("curl_multi_add_handle failed"));
      return;
    }
    OpId op = t->op;
    active[op] = std::move(t);
  }

  void Finish(CURL* easy, CURLcode rc) {
    char* priv = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    auto* raw = reinterpret_cast<Transfer*>(priv);
    curl_multi_remove_handle(multi, easy);
    if (raw == nullptr) return;
    auto it = active.find(raw->op);
    if (it == active.end()) return;
    std::unique_ptr<Transfer> t = std::move(it->second);
    active.erase(it);
    if (rc != CURLE_OK) {
      Status s = MapError(rc, *t);
      Deliver(std::move(t), std::move(s));
      return;
    }
    FlushPendingField(t.get());  // a header section cut short of its blank line
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (t->follow && IsRedirectStatus(status)) {
      // Where libcurl would have gone (resolved against the URL); null
      // without a Location.
      char* location = nullptr;
      curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &location);
      if (location != nullptr) {
        FollowRedirect(std::move(t), status, location);
        return;
      }
    }
    t->response.status = static_cast<int>(status);
    HttpResponse response = std::move(t->response);
    Deliver(std::move(t), std::move(response));
  }

  // A 301, 302, 303, 307 or 308 with a Location (see Begin): the next hop
  // goes out as a new transfer of the same op, as fetch() does it (RFC 9110
  // 15.4): a GET without the body and its Content-* fields after a 303 (a
  // HEAD stays a HEAD) or a 301 or 302 of a POST, else the same method and
  // body; credentials (Authorization, Cookie) only to the same origin. Past
  // redirects_max, or to another scheme, kUnavailable.
  void FollowRedirect(std::unique_ptr<Transfer> t, long status, std::string location) {
    const std::string& from = t->request.url;
    if (t->redirects >= options.redirects_max) {
      std::string msg = from + ": Maximum (" + std::to_string(options.redirects_max) +
                        ") redirects followed";
      Deliver(std::move(t), Status::Unavailable(std::move(msg)));
      return;
    }
    std::string to_origin = OriginOf(location);
    if (to_origin.rfind("http://", 0) != 0 && to_origin.rfind("https://", 0) != 0) {
      std::string msg = from + ": redirect (" + std::to_string(status) + ") to '" +
                        Printable(location) + "', not an http or https URL";
      Deliver(std::move(t), Status::Unavailable(std::move(msg)));
      return;
    }
    auto next = std::make_unique<Transfer>();
    next->op = t->op;
    next->done = std::move(t->done);
    next->header_max_bytes = t->header_max_bytes;
    next->redirects = t->redirects + 1;
    next->deadline = t->deadline;
    next->request = std::move(t->request);
    HttpRequest& r = next->request;
    if ((status == 303 && r.method != "HEAD" && r.method != "GET") ||
        ((status == 301 || status == 302) && r.method == "POST")) {
      r.method = "GET";
      r.body.clear();
      for (const char* name : {"Content-Type", "Content-Length", "Content-Encoding",
                               "Content-Language", "Content-Location"}) {
        r.headers.Remove(name);
      }
    }
    if (OriginOf(r.url) != to_origin) {
      for (const char* name : {"Authorization", "Cookie", "Proxy-Authorization"}) {
        r.headers.Remove(name);
      }
    }
    r.url = std::move(location);
    t.reset();  // the hop's handle goes before the next one starts
    Begin(std::move(next));
  }

  void CancelOne(OpId op, const char* why) {
    auto it = active.find(op);
    if (it != active.end()) {
      std::unique_ptr<Transfer> t = std::move(it->second);
      active.erase(it);
      curl_multi_remove_handle(multi, t->easy);
      std::string url = t->request.url;
      Deliver(std::move(t), Status::Cancelled(url + ": " + why));
      return;
    }
    for (auto w = waiting.begin(); w != waiting.end(); ++w) {
      if ((*w)->op == op) {
        std::unique_ptr<Transfer> t = std::move(*w);
        waiting.erase(w);
        std::string url = t->request.url;
        Deliver(std::move(t), Status::Cancelled(url + ": " + why));
        return;
      }
    }
    // Unknown or already completed: a no-op.
  }

  void Run() {
    while (true) {
      std::deque<std::unique_ptr<Transfer>> new_starts;
      std::vector<OpId> new_cancels;
      bool stop = false;
      {
        std::lock_guard<std::mutex> lock(mu);
        new_starts.swap(starts);
        new_cancels.swap(cancels);
        stop = stopping;
      }
      // Starts before cancels: a Cancel always follows its Start.
      for (auto& t : new_starts) waiting.push_back(std::move(t));
      for (OpId op : new_cancels) CancelOne(op, "cancelled");
      if (stop) {
        std::vector<OpId> ops;
        for (const auto& [op, t] : active) ops.push_back(op);
        for (const auto& t : waiting) ops.push_back(t->op);
        for (OpId op : ops) CancelOne(op, "fetcher shut down");
        return;
      }
      while (!waiting.empty() && active.size() < options.inflight_max) {
        std::unique_ptr<Transfer> t = std::move(waiting.front());
        waiting.pop_front();
        Begin(std::move(t));
      }
      int running = 0;
      curl_multi_perform(multi, &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg == CURLMSG_DONE) Finish(msg->easy_handle, msg->data.result);
      }
      if (!waiting.empty() && active.size() < options.inflight_max) continue;
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
  }
};

CurlFetcher::CurlFetcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CurlFetcher::~CurlFetcher() { Shutdown(); }

Result<std::unique_ptr<CurlFetcher>> CurlFetcher::Create(CurlFetcherOptions options) {
  if (!options.post || !options.clock) {
    return Status::InvalidArgument("CurlFetcherOptions needs post and clock");
  }
  std::call_once(g_curl_init_once, [] { g_curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (g_curl_init_result != CURLE_OK) {
    return Status::Internal(std::string("curl_global_init: ") +
                            curl_easy_strerror(g_curl_init_result));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  if (impl->options.inflight_max == 0) impl->options.inflight_max = 1;
  impl->multi = curl_multi_init();
  if (impl->multi == nullptr) return Status::Internal("curl_multi_init failed");
  curl_multi_setopt(impl->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                    static_cast<long>(impl->options.host_connections_max));
  curl_multi_setopt(impl->multi, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_MULTIPLEX));
  Impl* raw = impl.get();
  raw->thread = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<CurlFetcher>(new CurlFetcher(std::move(impl)));
}

void CurlFetcher::Shutdown() {
  if (!impl_ || impl_->joined) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  curl_multi_wakeup(impl_->multi);
  if (impl_->thread.joinable()) impl_->thread.join();
  curl_multi_cleanup(impl_->multi);
  impl_->multi = nullptr;
  impl_->joined = true;
}

void CurlFetcher::Start(OpId op, const HttpRequest& request, Done done) {
  auto t = std::make_unique<Transfer>();
  t->op = op;
  t->request = request;
  t->done = std::move(done);
  t->header_max_bytes = impl_->options.header_max_bytes;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->stopping) {
      impl_->starts.push_back(std::move(t));
      curl_multi_wakeup(impl_->multi);
      return;
    }
  }
  impl_->Deliver(std::move(t), Status::Cancelled(request.url + ": fetcher shut down"));
}

void CurlFetcher::Cancel(OpId op) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stopping) return;
  impl_->cancels.push_back(op);
  curl_multi_wakeup(impl_->multi);
}

}  // namespace preheat_native
