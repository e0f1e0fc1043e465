#include "demo_server.h"

#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace preheat_demo {
namespace {

using nlohmann::json;

constexpr double kPi = 3.14159265358979323846;

// Request bodies are title edits ({"title": at most 256 bytes}) or empty.
// Larger ones get 413: a Content-Length over it from the head (the
// pre-routing handler), a chunked body once it passed it (t_chunked_body).
constexpr size_t kRequestBodyMaxBytes = 64 * 1024;
// Request heads: the request line (httplib answers 414 itself to targets
// over 8 KiB), each header line (httplib's own limit, which it answered
// with a bare 400) and the whole head including the request line (httplib
// 0.11 has no limit on the number of header lines). Over these the server
// answers 414 / 431 and closes, without reading the rest.
constexpr size_t kRequestLineMaxBytes = 16 * 1024;
constexpr size_t kHeaderLineMaxBytes = CPPHTTPLIB_HEADER_MAX_LENGTH;  // with its CRLF
constexpr size_t kRequestHeadMaxBytes = 64 * 1024;

// Whether this worker thread's current request was counted in active_ by
// the pre-routing handler and is still to be uncounted by the logger.
// httplib serves a connection's requests one after another on one worker
// thread, and calls the logger also for answers its parser gives before
// pre-routing runs (400, 414, 416), which must not be uncounted.
thread_local bool t_request_counted = false;
// Set by the pre-routing handler when this worker thread's current request
// must end its connection (its body's end is unknown); read and cleared by
// the connection loop (Server::process_and_close_socket) after the answer.
thread_local bool t_close_connection = false;
// Set by the pre-routing handler when this worker thread's current request
// has a chunked body: httplib 0.11 applies its payload limit to
// Content-Length bodies only, so the connection's stream counts the chunked
// body's bytes as sent (framing included) and answers 413 past
// kRequestBodyMaxBytes. Cleared by the connection loop for each request.
thread_local bool t_chunked_body = false;

std::string HttpDate(std::time_t t);

// Milliseconds of a (seconds, microseconds) timeout, for poll().
int TimeoutMs(time_t sec, time_t usec) {
  int64_t ms = static_cast<int64_t>(sec) * 1000 + static_cast<int64_t>(usec) / 1000;
  return static_cast<int>(std::min<int64_t>(std::max<int64_t>(ms, 0), 24 * 3600 * 1000));
}

// poll() for `events` on `fd` up to `timeout_ms`: true when ready (or the
// peer hung up / errored, which the next read or write reports).
bool PollFor(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  int n;
  do {
    n = ::poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  return n > 0;
}

// One connection's bytes, buffered across all of its requests. httplib
// 0.11 reads each request through a new buffered stream, so the bytes of
// a pipelined request that arrived in the same read as the one before it
// were dropped with that stream (the client waited for an answer that never
// came, and a pipelined write was lost). Same timeouts as httplib's.
class ConnectionStream : public httplib::Stream {
 public:
  ConnectionStream(int sock, int read_timeout_ms, int write_timeout_ms)
      : sock_(sock), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

  bool buffered() const { return begin_ < end_; }
  // A new request starts: its head is measured from here.
  void StartRequest() {
    in_head_ = true;
    first_line_ = true;
    head_bytes_ = 0;
    line_bytes_ = 0;
    empty_line_bytes_ = 0;
    body_bytes_ = 0;
  }
  // True once an oversized head was answered (414 or 431) by this stream:
  // reads fail from then on, and the answer httplib then tries to write (a
  // 400, its reaction to a failed read) is dropped.
  bool rejected() const { return rejected_; }
  bool is_readable() const override {
    return buffered() || PollFor(sock_, POLLIN, read_timeout_ms_);
  }
  bool is_writable() const override { return PollFor(sock_, POLLOUT, write_timeout_ms_); }
  // Up to `size` bytes: buffered ones first, else one recv (-1 on timeout).
  ssize_t read(char* ptr, size_t size) override {
    if (rejected_) return -1;
    do {
      if (!buffered()) {
        if (!PollFor(sock_, POLLIN, read_timeout_ms_)) return -1;
        ssize_t n;
        do {
          n = ::recv(sock_, buf_, sizeof buf_, 0);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) return n;
        begin_ = 0;
        end_ = static_cast<size_t>(n);
      }
    } while (!SkipEmptyLines());
    if (rejected_) return -1;
    size_t k = std::min(size, end_ - begin_);
    // httplib reads the head a byte at a time, so every byte is measured
    // before httplib sees it.
    if (in_head_ && !MeasureHead(buf_ + begin_, k)) return -1;
    // (The head's last bytes and the body's first may come in one read: the
    // few head bytes counted with the body only make the limit stricter.)
    if (!in_head_ && t_chunked_body && (body_bytes_ += k) > kRequestBodyMaxBytes) {
      Reject("413 Payload Too Large");
      return -1;
    }
    std::memcpy(ptr, buf_ + begin_, k);
    begin_ += k;
    return static_cast<ssize_t>(k);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (rejected_) return static_cast<ssize_t>(size);
    if (!is_writable()) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    Address(::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    Address(::getsockname, ip, port);
  }
  ::socket_t socket() const override { return sock_; }

 private:
  // Before a request line, drops the CR and LF bytes of empty lines (RFC
  // 9112 2.2: a server SHOULD ignore at least one; some clients send a CRLF
  // after a request body), up to the request line's limit, past which the
  // request is answered 400. False when they used up the buffered bytes
  // (read more), or after answering 400 (the next read fails).
  bool SkipEmptyLines() {
    if (!in_head_ || head_bytes_ != 0) return true;
    while (begin_ < end_ && (buf_[begin_] == '\r' || buf_[begin_] == '\n')) {
      if (++empty_line_bytes_ > kRequestLineMaxBytes) {
        Reject("400 Bad Request");
        begin_ = end_;
        return true;
      }
      begin_++;
    }
    return buffered();
  }

  // Counts head bytes about to be handed out; false (after answering 414 or
  // 431) when they take the head over a limit. An empty line ends the head.
  bool MeasureHead(const char* p, size_t n) {
    for (size_t i = 0; i < n && in_head_; i++) {
      head_bytes_++;
      line_bytes_++;
      size_t line_max = first_line_ ? kRequestLineMaxBytes : kHeaderLineMaxBytes;
      if (line_bytes_ > line_max || head_bytes_ > kRequestHeadMaxBytes) {
        Reject(first_line_ ? "414 URI Too Long" : "431 Request Header Fields Too Large");
        return false;
      }
      if (p[i] == '\n') {
        // "\r\n" or "\n" alone: the head's end.
        if (line_bytes_ == 1 || (line_bytes_ == 2 && last_ == '\r')) in_head_ = false;
        first_line_ = false;
        line_bytes_ = 0;
      }
      last_ = p[i];
    }
    return true;
  }

  void Reject(const std::string& status) {
    rejected_ = true;
    const std::string body = status.substr(4) + "\n";
    const std::string answer = "HTTP/1.1 " + status + "\r\nConnection: close\r\n" +
                               "Content-Length: " + std::to_string(body.size()) +
                               "\r\nContent-Type: text/plain\r\nDate: " +
                               HttpDate(std::time(nullptr)) + "\r\n\r\n" + body;
    for (size_t sent = 0; sent < answer.size();) {
      if (!is_writable()) return;
      ssize_t n = ::send(sock_, answer.data() + sent, answer.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  void Address(int (*name)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (name(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        ::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv,
                      sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      ip = host;
      port = std::atoi(serv);
    }
  }

  int sock_;
  int read_timeout_ms_, write_timeout_ms_;
  char buf_[CPPHTTPLIB_RECV_BUFSIZ];
  size_t begin_ = 0, end_ = 0;
  bool in_head_ = false, first_line_ = true, rejected_ = false;
  size_t head_bytes_ = 0, line_bytes_ = 0;
  size_t empty_line_bytes_ = 0;  // skipped before this request's line
  size_t body_bytes_ = 0;        // of a chunked body, as sent (t_chunked_body)
  char last_ = 0;  // the head byte measured before
};

class Server : public httplib::Server {
 public:
  // httplib 0.11 listens with a backlog of 5: a burst of connects (every
  // session of a replay landing at once) overflows it, the kernel drops
  // SYNs and clients retry after a 1 s timeout, which would show up as fake
  // slow navigations. Listening again on the bound socket raises it.
  bool RaiseBacklog(int backlog) { return ::listen(svr_sock_, backlog) == 0; }

 private:
  // httplib's keep-alive loop, over one ConnectionStream for the whole
  // connection (see there). The next request starts at once when its bytes
  // are already buffered; otherwise the connection waits up to the
  // keep-alive timeout for them, giving up early when the server stops.
  bool process_and_close_socket(::socket_t sock) override {
    ConnectionStream strm(sock, TimeoutMs(read_timeout_sec_, read_timeout_usec_),
                          TimeoutMs(write_timeout_sec_, write_timeout_usec_));
    bool ok = false;
    for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; left--) {
      if (!strm.buffered() && !WaitForRequest(sock)) break;
      strm.StartRequest();
      bool connection_closed = false;
      t_close_connection = false;
      t_chunked_body = false;
      ok = process_request(strm, /*close_connection=*/left == 1, connection_closed, nullptr);
      if (strm.rejected() || t_close_connection) {
        t_close_connection = false;
        ok = false;
        LingeringClose(sock);
        break;
      }
      if (!ok || connection_closed) break;
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
  }

  // After answering a request whose head was not read to its end: closing
  // with unread bytes would reset the connection, and the client could lose
  // the answer before reading it. Ends the sending side, then reads and
  // drops what comes (up to 1 MiB, and 1 s) so the answer gets through.
  static void LingeringClose(int sock) {
    ::shutdown(sock, SHUT_WR);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    char sink[4096];
    for (size_t dropped = 0; dropped < (1u << 20);) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          give_up - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !PollFor(sock, POLLIN, static_cast<int>(left.count()))) return;
      ssize_t n = ::recv(sock, sink, sizeof sink, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      dropped += static_cast<size_t>(n);
    }
  }

  bool WaitForRequest(int sock) const {
    const auto give_up = std::chrono::steady_clock::now() +
                         std::chrono::seconds(std::max<time_t>(keep_alive_timeout_sec_, 0));
    while (svr_sock_ != INVALID_SOCKET) {
      if (PollFor(sock, POLLIN, 50)) return true;
      if (std::chrono::steady_clock::now() >= give_up) return false;
    }
    return false;
  }
};

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

bool EqualsIgnoreCase(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Parses 1..9 decimal digits (so the value fits a uint32_t); 0 otherwise.
uint32_t ParseSmallUint(const std::string& s) {
  if (s.empty() || s.size() > 9) return 0;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v;
}

std::string IsoTime(int64_t unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// IMF-fixdate (RFC 9110 5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT". The
// names are spelled out here so that no locale can change them.
std::string HttpDate(std::time_t t) {
  static const char kDays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char kMonths[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

// Every field line named `name`, joined with ", ": a list-valued field may
// be sent as several lines and means their combination (RFC 9110 5.3);
// get_header_value reads only the first. "" when absent.
std::string CombinedHeader(const httplib::Request& req, const char* name) {
  std::string out;
  auto lines = req.headers.equal_range(name);
  for (auto it = lines.first; it != lines.second; ++it) {
    if (!out.empty()) out += ", ";
    out += it->second;
  }
  return out;
}

// True when the request's If-None-Match (all of its lines) matches `etag`.
bool NoneMatchHits(const httplib::Request& req, const std::string& etag) {
  std::string if_none_match = CombinedHeader(req, "If-None-Match");
  return !if_none_match.empty() && IfNoneMatchMatches(if_none_match, etag);
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Escapes text and turns "#123" references into links to issue pages.
std::string LinkRefs(const std::string& text, uint32_t max_id) {
  std::string out;
  std::string escaped = HtmlEscape(text);
  for (size_t i = 0; i < escaped.size();) {
    if (escaped[i] == '#' && (i == 0 || !std::isalnum(static_cast<unsigned char>(escaped[i - 1])))) {
      size_t j = i + 1;
      while (j < escaped.size() && std::isdigit(static_cast<unsigned char>(escaped[j]))) j++;
      uint32_t id = ParseSmallUint(escaped.substr(i + 1, j - i - 1));
      if (id >= 1 && id <= max_id) {
        std::string n = std::to_string(id);
        out += "<a class=\"ref\" href=\"/issues/" + n + "\">#" + n + "</a>";
        i = j;
        continue;
      }
    }
    out += escaped[i++];
  }
  for (size_t p = 0; (p = out.find("\n\n", p)) != std::string::npos;) {
    out.replace(p, 2, "</p><p>");
  }
  return out;
}

// The front-end's module graph and engine (demo/web/app.js imports the
// package mounted at /preheat/): fetched in parallel instead of level by
// level, which matters most for the shell (it renders once they ran).
const char kPreloads[] =
    "<link rel=\"modulepreload\" href=\"/config.js\">"
    "<link rel=\"modulepreload\" href=\"/preheat/src/index.js\">"
    "<link rel=\"modulepreload\" href=\"/preheat/src/cache.js\">"
    "<link rel=\"modulepreload\" href=\"/preheat/src/idb-store.js\">"
    "<link rel=\"modulepreload\" href=\"/preheat/src/fetch-driver.js\">"
    "<link rel=\"modulepreload\" href=\"/preheat/src/sw-register.js\">"
    "<link rel=\"modulepreload\" href=\"/preheat/dist/preheat.mjs\">"
    "<link rel=\"preload\" href=\"/preheat/dist/preheat.wasm\" as=\"fetch\" crossorigin>";

// The layout shared by full pages and the thin shell: the front-end
// (demo/web, served by --static) boots from either representation.
// render.js is a classic script (parser-blocking, small, cached): the shell
// calls it to paint from the data its service worker inlined, before the
// modules have loaded.
// The contents of `dir`/`name` when it is a small file that can be inlined
// into an element closed by `closer` ("</style", "</script"); else "".
std::string InlinableFile(const std::string& dir, const std::string& name, const char* closer) {
  if (dir.empty()) return "";
  std::ifstream in(dir + "/" + name, std::ios::binary);
  if (!in) return "";
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.empty() || text.size() > 64 * 1024) return "";
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find(closer) == std::string::npos && lower.find("<!--") == std::string::npos ? text
                                                                                            : "";
}

// `static_dir`: for the shell, app.css and render.js are inlined from there
// when present (the shell is fetched on every hard navigation anyway; its
// first paint then waits on no other file). Full pages link them.
std::string LayoutHead(const std::string& title, bool shell, const std::string& static_dir = "") {
  std::string css = shell ? InlinableFile(static_dir, "app.css", "</style") : "";
  std::string js = shell ? InlinableFile(static_dir, "render.js", "</script") : "";
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">" +
         std::string(shell ? "<meta name=\"preheat-shell\" content=\"1\">" : "") +
         "<title>" + HtmlEscape(title) + "</title>" +
         (css.empty() ? std::string("<link rel=\"stylesheet\" href=\"/app.css\">")
                      : "<style>" + css + "</style>") +
         (js.empty() ? std::string("<script src=\"/render.js\"></script>")
                     : "<script>" + js + "</script>") +
         // The shell starts app.js itself, after its first paint (ShellHtml).
         std::string(shell ? "" : "<script type=\"module\" src=\"/app.js\"></script>") +
         std::string(shell ? "" : kPreloads) + "</head><body>"
         "<header id=\"top\"><a href=\"/\">Preheat demo tracker</a></header>";
}

std::string PageHead(const std::string& title) {
  return LayoutHead(title, false) + "<main id=\"app\" data-source=\"server\">";
}
// The inline script marks when the server-rendered content was parsed (the
// front-end measures click-to-content of hard navigations with it).
const char kPageFoot[] =
    "</main><script>performance.mark('demo:content')</script></body></html>\n";

// The thin shell: no data, just the app that renders the route from its
// cache. Identical for every URL of a route (it reads location), so it is
// cheap for the server and safe for the worker to replay for any URL of the
// route (`shellFromCache` answers hard navigations from its stored copy).
// The comment marks where a service worker with `inlineData` puts the cached
// data (web/src/sw.js); the inline script paints it at once (render.js) and
// only then starts app.js (its request, module graph and engine stay off the
// first paint; without render.js, app.js starts at once).
std::string ShellHtml(const std::string& static_dir) {
  return LayoutHead("Preheat demo tracker", true, static_dir) +
         "<main id=\"app\" data-shell=\"1\"></main><!--preheat-data-->"
         "<script>window.DemoRender ? DemoRender.boot('/app.js') : import('/app.js')</script>"
         "</body></html>\n";
}

bool IsPrefetch(const httplib::Request& req) {
  return EqualsIgnoreCase(Trim(req.get_header_value("Sec-Purpose")), "prefetch") ||
         EqualsIgnoreCase(Trim(req.get_header_value("Purpose")), "prefetch");
}

}  // namespace

bool LatencyDist::Parse(const std::string& text, LatencyDist* out, std::string* error) {
  LatencyDist d;
  std::string median = text, sigma;
  size_t colon = text.find(':');
  if (colon != std::string::npos) {
    median = text.substr(0, colon);
    sigma = text.substr(colon + 1);
  }
  auto parse = [](const std::string& s, double* v) {
    if (s.empty()) return false;
    char* end = nullptr;
    *v = std::strtod(s.c_str(), &end);
    return end == s.c_str() + s.size() && std::isfinite(*v);
  };
  if (!parse(median, &d.median_ms) || d.median_ms < 0 || d.median_ms > 60000) {
    *error = "latency '" + text + "': median must be a number of ms in 0..60000";
    return false;
  }
  if (colon != std::string::npos && (!parse(sigma, &d.sigma) || d.sigma < 0 || d.sigma > 3)) {
    *error = "latency '" + text + "': sigma must be a number in 0..3";
    return false;
  }
  *out = d;
  return true;
}

std::string LatencyDist::ToString() const {
  std::ostringstream s;
  s << median_ms << "ms median, sigma " << sigma;
  return s.str();
}

std::string EtagOf(const std::string& body) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
  return buf;
}

bool IfNoneMatchMatches(const std::string& if_none_match, const std::string& etag) {
  auto opaque = [](std::string t) {
    t = Trim(t);
    if (t.size() >= 2 && (t[0] == 'W' || t[0] == 'w') && t[1] == '/') t = t.substr(2);
    return t;
  };
  const std::string want = opaque(etag);
  std::stringstream list(if_none_match);
  std::string item;
  while (std::getline(list, item, ',')) {
    std::string t = opaque(item);
    if (t == "*" || (!t.empty() && t == want)) return true;
  }
  return false;
}

std::string ListJson(const Tracker& tracker, const std::string& repo, uint32_t page,
                     const std::vector<IssueSummary>& rows) {
  json j;
  j["repo"] = repo;
  j["page"] = page;
  uint32_t pages = tracker.PageCount(repo);
  j["pages"] = pages;
  j["total"] = tracker.RepoIssueIds(repo).size();
  json issues = json::array();
  for (const auto& r : rows) {
    std::string n = std::to_string(r.id);
    issues.push_back({{"id", r.id},
                      {"title", r.title},
                      {"state", r.state},
                      {"author", r.author},
                      {"comments", r.comments},
                      {"api_url", "/api/issues/" + n},
                      {"html_url", "/issues/" + n}});
  }
  j["issues"] = std::move(issues);
  std::string base = "/api/repos/" + repo + "/issues?page=";
  j["next"] = page < pages ? json(base + std::to_string(page + 1)) : json(nullptr);
  j["prev"] = page > 1 ? json(base + std::to_string(page - 1)) : json(nullptr);
  return j.dump();
}

std::string IssueJson(const Issue& is) {
  json j;
  j["id"] = is.id;
  j["repo"] = is.repo;
  j["title"] = is.title;
  j["state"] = is.state;
  j["author"] = is.author;
  j["created_at"] = IsoTime(is.created_unix);
  j["version"] = is.version;
  j["body"] = is.body;
  json comments = json::array();
  for (const auto& c : is.comments) comments.push_back({{"author", c.author}, {"body", c.body}});
  j["comments"] = std::move(comments);
  j["refs"] = is.refs;
  json references = json::array();
  for (uint32_t r : is.refs) references.push_back("/api/issues/" + std::to_string(r));
  j["references"] = std::move(references);
  j["html_url"] = "/issues/" + std::to_string(is.id);
  return j.dump();
}

DemoServer::DemoServer(DemoServerOptions options)
    : options_(std::move(options)),
      tracker_(options_.data),
      http_(std::make_unique<Server>()),
      rng_(options_.seed ^ 0x6c6174656e6379ull) {  // "latency"
  failure_rate_ = options_.failure_rate;
}

std::unique_ptr<DemoServer> DemoServer::Start(DemoServerOptions options, std::string* error) {
  std::string bad = Tracker::ValidateOptions(options.data);
  if (bad.empty() && !(options.failure_rate >= 0 && options.failure_rate <= 1)) {
    bad = "failure rate must be in 0..1";
  }
  if (bad.empty() && (options.port < 0 || options.port > 65535)) bad = "port must be in 0..65535";
  if (bad.empty() && options.threads < 1) bad = "threads must be at least 1";
  if (bad.empty() && options.swr_seconds < 0) bad = "stale-while-revalidate must be >= 0";
  if (bad.empty() && options.static_swr_seconds < 0) {
    bad = "static stale-while-revalidate must be >= 0";
  }
  if (bad.empty() && options.static_max_age_seconds < 0) bad = "static max-age must be >= 0";
  if (bad.empty() && !options.static_dir.empty()) {
    struct stat st {};
    if (stat(options.static_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      bad = "static directory '" + options.static_dir + "' is not a directory";
    }
  }
  for (const auto& [prefix, dir] : options.mounts) {
    if (!bad.empty()) break;
    if (prefix.size() < 2 || prefix.front() != '/' || prefix.back() != '/') {
      bad = "mount prefix '" + prefix + "' must start and end with '/' (e.g. /preheat/)";
      break;
    }
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      bad = "mounted directory '" + dir + "' is not a directory";
    }
  }
  if (!bad.empty()) {
    *error = bad;
    return nullptr;
  }
  std::unique_ptr<DemoServer> s(new DemoServer(std::move(options)));
  size_t threads = s->options_.threads;
  s->http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s->http_->set_keep_alive_max_count(100000);
  s->http_->set_keep_alive_timeout(5);
  s->http_->set_payload_max_length(kRequestBodyMaxBytes);
  // httplib writes headers and body separately: with Nagle's algorithm and
  // the client's delayed ACKs every keep-alive answer would wait ~40 ms
  // (a browser loading a module graph pays it at each level). Accepted
  // sockets inherit the option from the listening socket.
  s->http_->set_tcp_nodelay(true);
  s->InstallRoutes();
  // More specific mounts first: httplib tries them in order.
  for (const auto& [prefix, dir] : s->options_.mounts) {
    if (!s->http_->set_mount_point(prefix, dir)) {
      *error = "cannot serve directory '" + dir + "' at " + prefix;
      return nullptr;
    }
  }
  if (!s->options_.static_dir.empty() && !s->http_->set_mount_point("/", s->options_.static_dir)) {
    *error = "cannot serve static directory '" + s->options_.static_dir + "'";
    return nullptr;
  }
  if (s->options_.port == 0) {
    s->port_ = s->http_->bind_to_any_port(s->options_.host);
    if (s->port_ < 0) s->port_ = 0;
  } else if (s->http_->bind_to_port(s->options_.host, s->options_.port)) {
    s->port_ = s->options_.port;
  }
  if (s->port_ > 0 && !static_cast<Server*>(s->http_.get())->RaiseBacklog(1024)) {
    *error = "cannot set the listen backlog";
    return nullptr;
  }
  if (s->port_ <= 0) {
    *error = "cannot listen on " + s->options_.host + ":" + std::to_string(s->options_.port) +
             " (address in use or not local?)";
    return nullptr;
  }
  // Connections made before the accept loop runs wait in the listen
  // backlog, so callers may connect as soon as Start returns.
  httplib::Server* http = s->http_.get();
  std::atomic<bool>* returned = &s->listen_returned_;
  s->thread_ = std::thread([http, returned] {
    http->listen_after_bind();
    *returned = true;
  });
  return s;
}

DemoServer::~DemoServer() { Stop(); }

void DemoServer::Stop() {
  std::call_once(stopped_, [this] {
    if (!thread_.joinable()) return;
    // httplib's stop() is a no-op until the accept loop has started, so wait
    // for it (or for the loop having ended on its own).
    while (!http_->is_running() && !listen_returned_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    http_->stop();
    thread_.join();
  });
}

std::string DemoServer::base_url() const {
  return "http://" + options_.host + ":" + std::to_string(port_);
}

void DemoServer::SetFailureRate(double rate) {
  failure_rate_ = std::min(1.0, std::max(0.0, rate));
}

ServerCounters DemoServer::counters() const {
  ServerCounters c;
  c.requests = requests_;
  c.api_requests = api_requests_;
  c.page_requests = page_requests_;
  c.shell_requests = shell_requests_;
  c.static_requests = static_requests_;
  c.edits = edits_;
  c.not_modified = not_modified_;
  c.prefetch_requests = prefetch_requests_;
  c.prefetch_page_requests = prefetch_page_requests_;
  c.prefetch_other_requests = prefetch_other_requests_;
  c.failures_injected = failures_injected_;
  c.body_bytes = body_bytes_;
  c.max_concurrent = max_concurrent_;
  return c;
}

void DemoServer::ResetCounters() {
  for (auto* c : {&requests_, &api_requests_, &page_requests_, &shell_requests_, &static_requests_,
                  &edits_, &not_modified_, &prefetch_requests_, &prefetch_page_requests_,
                  &prefetch_other_requests_,
                  &failures_injected_, &body_bytes_,
                  &max_concurrent_}) {
    *c = 0;
  }
}

std::string DemoServer::StatsJson() const {
  ServerCounters c = counters();
  json j = {{"requests", c.requests},
            {"api_requests", c.api_requests},
            {"page_requests", c.page_requests},
            {"shell_requests", c.shell_requests},
            {"static_requests", c.static_requests},
            {"edits", c.edits},
            {"not_modified", c.not_modified},
            {"prefetch_requests", c.prefetch_requests},
            {"prefetch_page_requests", c.prefetch_page_requests},
            {"prefetch_other_requests", c.prefetch_other_requests},
            {"failures_injected", c.failures_injected},
            {"body_bytes", c.body_bytes},
            {"max_concurrent", c.max_concurrent},
            {"down", down_.load()},
            {"failure_rate", failure_rate_.load()}};
  return j.dump();
}

bool DemoServer::DelayAndMaybeFail(const LatencyDist& dist, bool may_fail) {
  double delay_ms = 0;
  bool fail = false;
  {
    std::lock_guard<std::mutex> lock(rng_mu_);
    if (dist.median_ms > 0) {
      // Box-Muller: a standard normal from two uniforms.
      double u1 = std::max(rng_.NextDouble(), 1e-12);
      double u2 = rng_.NextDouble();
      double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * kPi * u2);
      delay_ms = std::min(dist.max_ms, dist.median_ms * std::exp(dist.sigma * z));
    }
    double rate = failure_rate_.load();
    fail = may_fail && rate > 0 && rng_.NextDouble() < rate;
  }
  if (delay_ms > 0) {
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(delay_ms * 1000)));
  }
  return fail;
}

void DemoServer::Fail(httplib::Response& res) {
  failures_injected_++;
  res.status = 503;
  res.set_header("Cache-Control", "no-store");
  res.set_header("Retry-After", "1");
  res.set_content(R"j({"error":"service unavailable (injected)"})j", "application/json");
}

void DemoServer::SendJson(const httplib::Request& req, httplib::Response& res,
                          const std::string& body, const std::string& tags) {
  std::string etag = EtagOf(body);
  res.set_header("ETag", etag);
  res.set_header("Cache-Control",
                 "max-age=0, stale-while-revalidate=" + std::to_string(options_.swr_seconds));
  res.set_header("Cache-Tag", tags);
  if (NoneMatchHits(req, etag)) {
    not_modified_++;
    res.status = 304;
    return;
  }
  res.status = 200;
  res.set_content(body, "application/json");
}

void DemoServer::SendHtml(httplib::Response& res, std::string body, bool shell) {
  res.set_header("Vary", "Preheat-Cache");
  res.set_header("Cache-Control", shell ? "private, no-cache" : "no-cache");
  if (shell) res.set_header("Preheat-Cache", "shell");
  res.status = 200;
  res.set_content(std::move(body), "text/html; charset=utf-8");
}

void DemoServer::InstallRoutes() {
  httplib::Server& http = *http_;
  for (const auto& [ext, mime] :
       std::initializer_list<std::pair<const char*, const char*>>{
           {"js", "text/javascript"},  {"mjs", "text/javascript"}, {"wasm", "application/wasm"},
           {"css", "text/css"},        {"html", "text/html"},      {"json", "application/json"},
           {"map", "application/json"}, {"svg", "image/svg+xml"},  {"txt", "text/plain"},
           {"webmanifest", "application/manifest+json"}}) {
    http.set_file_extension_and_mimetype_mapping(ext, mime);
  }

  // Counting and the down switch apply to everything but /admin/.
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // The request object is not const (the handler's signature only
    // promises not to change it), and httplib reads the body, serves files
    // and applies ranges only after this handler.
    auto& request = const_cast<httplib::Request&>(req);
    // Framing (RFC 9112 6): every Content-Length line is 1*DIGIT, and the
    // only transfer coding read is chunked. Otherwise 400 / 501 at once,
    // and the connection closes, since where the body ends is unknown.
    // httplib read "-1" as 2^64 - 1 (413 after its read timeout) and
    // `Transfer-Encoding: gzip` as a body up to the client's close (400
    // after the timeout).
    // Content-Length lines with different values are a 400 too (RFC 9112
    // 6.3): httplib reads the first, a proxy in front may have read another
    // (request smuggling). The same value repeated is one length.
    int framing_status = 0;
    std::string length;  // the first line's value, leading zeros dropped
    bool bad_host = false;
    auto lengths = req.headers.equal_range("Content-Length");
    for (auto it = lengths.first; it != lengths.second; ++it) {
      std::string v = Trim(it->second);
      if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) {
        framing_status = 400;
        break;
      }
      v.erase(0, std::min(v.find_first_not_of('0'), v.size() - 1));
      if (it == lengths.first) {
        length = v;
      } else if (v != length) {
        framing_status = 400;
      }
    }
    // An HTTP/1.1 request names its authority in exactly one Host line
    // (RFC 9112 3.2 MUST: 400 otherwise).
    if (framing_status == 0 && req.version == "HTTP/1.1" &&
        req.headers.count("Host") != 1) {
      framing_status = 400;
      bad_host = true;
    }
    if (framing_status == 0 && req.has_header("Transfer-Encoding") &&
        !EqualsIgnoreCase(Trim(CombinedHeader(req, "Transfer-Encoding")), "chunked")) {
      framing_status = 501;
    }
    // A body announced over the limit is answered 413 from the head, and the
    // connection closes: httplib would read past all of it first (or wait
    // out its read timeout), then keep the connection. (With
    // Transfer-Encoding the length is not the body's: see t_chunked_body.)
    if (framing_status == 0 && !length.empty() && !req.has_header("Transfer-Encoding") &&
        (length.size() > 9 || std::stoul(length) > kRequestBodyMaxBytes)) {
      framing_status = 413;
    }
    if (framing_status != 0) {
      t_close_connection = true;
      // httplib then answers with `Connection: close`.
      request.headers.erase("Connection");
      request.headers.emplace("Connection", "close");
      bool bad = framing_status == 400;
      res.status = framing_status;
      res.set_header("Cache-Control", "no-store");
      res.set_content(bad_host                ? "an HTTP/1.1 request needs exactly one Host\n"
                      : bad                   ? "Content-Length must be one decimal number\n"
                      : framing_status == 413 ? "request bodies are limited to 64 KiB\n"
                                              : "only the chunked transfer coding is supported\n",
                      "text/plain");
      return httplib::Server::HandlerResponse::Handled;
    }
    t_chunked_body = req.has_header("Transfer-Encoding");  // chunked: checked above
    // Transfer-Encoding beside Content-Length: the body is read as chunked
    // (httplib does), and the connection closes after the answer (RFC 9112
    // 6.1 MUST), since whatever sent it may have framed it by the length.
    if (req.has_header("Transfer-Encoding") && req.has_header("Content-Length")) {
      t_close_connection = true;
      request.headers.erase("Connection");
      request.headers.emplace("Connection", "close");
    }
    // Debian's libcpp-httplib is built with Brotli and compresses every
    // text answer synchronously at maximum quality when the client accepts
    // it (browsers do): about 100 ms for a 60 KB script, and tens of ms for
    // pages and JSON, which would swamp the latency this server models.
    // Answers go out uncompressed.
    request.headers.erase("Accept-Encoding");
    // Range is ignored (RFC 9110 14.2 allows it): every answer is the full
    // 200. httplib would slice JSON and HTML but keep the status 200 and the
    // whole body's strong ETag (a cache would store a fragment as the
    // whole), and would answer files 206 without validators and without
    // honouring If-Range.
    request.headers.erase("Range");
    request.ranges.clear();
    // A request with neither Content-Length nor Transfer-Encoding has no
    // body (RFC 9112 6.3). httplib 0.11 would read until the client closes
    // and answer 400 after its read timeout (`curl -X POST URL` sends
    // neither).
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      request.headers.emplace("Content-Length", "0");
    }
    if (req.path.rfind("/admin/", 0) == 0) return httplib::Server::HandlerResponse::Unhandled;
    requests_++;
    const std::string& p = req.path;
    bool html = p == "/" || p.rfind("/repos/", 0) == 0 || p.rfind("/issues/", 0) == 0;
    if (IsPrefetch(req)) {
      prefetch_requests_++;
      if (html && req.method == "GET") {
        prefetch_page_requests_++;
      } else if (p.rfind("/api/", 0) != 0 || req.method != "GET") {
        prefetch_other_requests_++;
      }
    }
    if (p.rfind("/api/", 0) == 0) {
      if (req.method == "GET") api_requests_++;
    } else if (html && EqualsIgnoreCase(req.get_header_value("Preheat-Cache"), "hit")) {
      shell_requests_++;
    } else if (html) {
      page_requests_++;
    } else {
      static_requests_++;
    }
    t_request_counted = true;
    uint64_t now_active = ++active_;
    uint64_t seen = max_concurrent_.load();
    while (now_active > seen && !max_concurrent_.compare_exchange_weak(seen, now_active)) {
    }
    if (down_) {
      Fail(res);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Runs on every answer just before it is written, after httplib added its
  // own headers.
  http.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    // An origin server with a clock MUST send Date (RFC 9110 6.6.1).
    res.headers.erase("Date");
    res.set_header("Date", HttpDate(std::time(nullptr)));
    // httplib sets `Content-Length: 0` on every answer without a body; on a
    // 304 it would claim an empty representation (RFC 9110 8.6 allows only
    // the 200's length there), and a 204 must carry none.
    if (res.status == 304 || res.status == 204) res.headers.erase("Content-Length");
    // httplib advertises `bytes` on HEAD answers; ranges are ignored here.
    res.headers.erase("Accept-Ranges");
    res.set_header("Accept-Ranges", "none");
  });
  // Runs after every answer that was written (including 404s, files, and
  // httplib's own 400/414/416 for requests it could not parse).
  http.set_logger([this](const httplib::Request&, const httplib::Response& res) {
    if (!t_request_counted) return;  // /admin/, or never reached pre-routing
    t_request_counted = false;
    body_bytes_ += res.body.size();
    active_--;
  });
  // Files: revalidated on every use (or per --static-swr / --static-max-age),
  // with a strong ETag so unchanged files cost a 304 (and the browser keeps
  // its compiled code for scripts and WebAssembly).
  http.set_file_request_handler([this](const httplib::Request& req, httplib::Response& res) {
    const int64_t max_age = options_.static_max_age_seconds;
    const int64_t swr = options_.static_swr_seconds;
    res.set_header("Cache-Control",
                   max_age == 0 && swr == 0
                       ? std::string("no-cache")
                       : "max-age=" + std::to_string(max_age) +
                             (swr > 0 ? ", stale-while-revalidate=" + std::to_string(swr) : ""));
    if (res.status != 200) return;
    std::string etag = EtagOf(res.body);
    res.set_header("ETag", etag);
    if (NoneMatchHits(req, etag)) {
      not_modified_++;
      res.status = 304;
      res.body.clear();
    }
  });

  // JSON API.
  http.Get("/api/repos", [this](const httplib::Request& req, httplib::Response& res) {
    if (DelayAndMaybeFail(options_.api, true)) return Fail(res);
    json repos = json::array();
    for (const auto& r : tracker_.repos()) {
      repos.push_back({{"name", r},
                       {"issues", tracker_.RepoIssueIds(r).size()},
                       {"pages", tracker_.PageCount(r)},
                       {"api_url", "/api/repos/" + r + "/issues?page=1"}});
    }
    SendJson(req, res, json{{"repos", repos}}.dump(), "repos");
  });
  http.Get(R"(/api/repos/([a-z0-9-]+)/issues)",
           [this](const httplib::Request& req, httplib::Response& res) {
             std::string repo = req.matches[1];
             uint32_t page = req.has_param("page") ? ParseSmallUint(req.get_param_value("page")) : 1;
             if (DelayAndMaybeFail(options_.api, true)) return Fail(res);
             auto rows = page >= 1 ? tracker_.ListPage(repo, page) : std::nullopt;
             if (!rows) {
               res.status = 404;
               res.set_content(R"({"error":"no such repository or page"})", "application/json");
               return;
             }
             SendJson(req, res, ListJson(tracker_, repo, page, *rows),
                      "repo-" + repo + ", list-" + repo);
           });
  http.Get(R"(/api/issues/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    uint32_t id = ParseSmallUint(req.matches[1]);
    if (DelayAndMaybeFail(options_.api, true)) return Fail(res);
    auto issue = tracker_.GetIssue(id);
    if (!issue) {
      res.status = 404;
      res.set_content(R"({"error":"no such issue"})", "application/json");
      return;
    }
    SendJson(req, res, IssueJson(*issue),
             "repo-" + issue->repo + ", issue-" + std::to_string(issue->id));
  });
  auto edit = [this](const httplib::Request& req, httplib::Response& res) {
    uint32_t id = ParseSmallUint(req.matches[1]);
    if (DelayAndMaybeFail(options_.api, true)) return Fail(res);
    res.set_header("Cache-Control", "no-store");
    json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || !body.contains("title") || !body["title"].is_string()) {
      res.status = 400;
      res.set_content(R"({"error":"expected {\"title\": string}"})", "application/json");
      return;
    }
    std::string title = body["title"].get<std::string>();
    if (title.empty() || title.size() > 256) {
      res.status = 400;
      res.set_content(R"({"error":"title must have 1..256 bytes"})", "application/json");
      return;
    }
    if (!tracker_.SetTitle(id, title)) {
      res.status = 404;
      res.set_content(R"({"error":"no such issue"})", "application/json");
      return;
    }
    edits_++;
    auto issue = tracker_.GetIssue(id);
    std::string out = IssueJson(*issue);
    res.set_header("ETag", EtagOf(out));
    res.set_header("Cache-Tag", "repo-" + issue->repo + ", issue-" + std::to_string(id));
    res.status = 200;
    res.set_content(out, "application/json");
  };
  http.Patch(R"(/api/issues/(\d+))", edit);
  http.Post(R"(/api/issues/(\d+))", edit);

  // HTML pages: full server rendering, or the thin shell on a cache hit.
  auto shell_or_page = [this](const httplib::Request& req, httplib::Response& res) {
    bool shell = EqualsIgnoreCase(req.get_header_value("Preheat-Cache"), "hit");
    if (DelayAndMaybeFail(shell ? options_.shell : options_.page, true)) {
      Fail(res);
      res.set_header("Vary", "Preheat-Cache");
      return true;
    }
    if (shell) SendHtml(res, ShellHtml(options_.static_dir), /*shell=*/true);
    return shell;
  };
  http.Get("/", [this, shell_or_page](const httplib::Request& req, httplib::Response& res) {
    if (shell_or_page(req, res)) return;
    std::string html = PageHead("Repositories") + "<h1>Repositories</h1><ul>";
    for (const auto& r : tracker_.repos()) {
      html += "<li><a href=\"/repos/" + r + "/issues?page=1\">" + r + "</a> (" +
              std::to_string(tracker_.RepoIssueIds(r).size()) + " issues)</li>";
    }
    SendHtml(res, html + "</ul>" + kPageFoot);
  });
  http.Get(R"(/repos/([a-z0-9-]+)/issues)",
           [this, shell_or_page](const httplib::Request& req, httplib::Response& res) {
             if (shell_or_page(req, res)) return;
             std::string repo = req.matches[1];
             uint32_t page = req.has_param("page") ? ParseSmallUint(req.get_param_value("page")) : 1;
             auto rows = page >= 1 ? tracker_.ListPage(repo, page) : std::nullopt;
             if (!rows) {
               res.status = 404;
               res.set_header("Vary", "Preheat-Cache");
               res.set_content(PageHead("Not found") + "<h1>Not found</h1>" + kPageFoot,
                               "text/html; charset=utf-8");
               return;
             }
             std::string html = PageHead(repo + " issues") + "<h1>" + repo + " issues</h1><ol>";
             for (const auto& r : *rows) {
               std::string n = std::to_string(r.id);
               html += "<li class=\"" + r.state + "\"><a href=\"/issues/" + n + "\">" +
                       HtmlEscape(r.title) + "</a> #" + n + " by " + r.author + ", " +
                       std::to_string(r.comments) + " comments</li>";
             }
             html += "</ol><nav>";
             if (page > 1) {
               html += "<a rel=\"prev\" href=\"/repos/" + repo + "/issues?page=" +
                       std::to_string(page - 1) + "\">Previous</a> ";
             }
             if (page < tracker_.PageCount(repo)) {
               html += "<a rel=\"next\" href=\"/repos/" + repo + "/issues?page=" +
                       std::to_string(page + 1) + "\">Next</a>";
             }
             SendHtml(res, html + "</nav>" + kPageFoot);
           });
  http.Get(R"(/issues/(\d+))",
           [this, shell_or_page](const httplib::Request& req, httplib::Response& res) {
             if (shell_or_page(req, res)) return;
             auto issue = tracker_.GetIssue(ParseSmallUint(req.matches[1]));
             if (!issue) {
               res.status = 404;
               res.set_header("Vary", "Preheat-Cache");
               res.set_content(PageHead("Not found") + "<h1>Not found</h1>" + kPageFoot,
                               "text/html; charset=utf-8");
               return;
             }
             uint32_t max_id = tracker_.issue_count();
             std::string n = std::to_string(issue->id);
             std::string html = PageHead(issue->title + " #" + n) + "<h1>" +
                                HtmlEscape(issue->title) + " <span>#" + n + "</span></h1>" +
                                "<p class=\"meta\">" + issue->state + ", opened by " +
                                issue->author + " in <a href=\"/repos/" + issue->repo +
                                "/issues?page=1\">" + issue->repo + "</a></p>" +
                                "<article><p>" + LinkRefs(issue->body, max_id) + "</p></article>";
             for (const auto& c : issue->comments) {
               html += "<section class=\"comment\"><h2>" + c.author + "</h2><p>" +
                       LinkRefs(c.body, max_id) + "</p></section>";
             }
             SendHtml(res, html + kPageFoot);
           });

  // Methods a resource does not support: 405 with Allow (RFC 9110 15.5.6),
  // not httplib's 404, which says the resource does not exist (and is
  // cacheable by default).
  auto not_allowed = [](const char* allow) {
    return [allow](const httplib::Request&, httplib::Response& res) {
      res.status = 405;
      res.set_header("Allow", allow);
      res.set_header("Cache-Control", "no-store");
      res.set_content(std::string("method not allowed; allowed: ") + allow + "\n", "text/plain");
    };
  };
  for (const char* route : {"/api/repos", R"(/api/repos/([a-z0-9-]+)/issues)", "/",
                            R"(/repos/([a-z0-9-]+)/issues)", R"(/issues/(\d+))"}) {
    http.Post(route, not_allowed("GET, HEAD"));
    http.Put(route, not_allowed("GET, HEAD"));
    http.Patch(route, not_allowed("GET, HEAD"));
    http.Delete(route, not_allowed("GET, HEAD"));
  }
  http.Put(R"(/api/issues/(\d+))", not_allowed("GET, HEAD, PATCH, POST"));
  http.Delete(R"(/api/issues/(\d+))", not_allowed("GET, HEAD, PATCH, POST"));

  // Admin: switches and counters.
  http.Get("/admin/stats", [this](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(StatsJson(), "application/json");
  });
  http.Post("/admin/reset", [this](const httplib::Request&, httplib::Response& res) {
    ResetCounters();
    res.set_header("Cache-Control", "no-store");
    res.set_content(StatsJson(), "application/json");
  });
  http.Post("/admin/down", [this](const httplib::Request& req, httplib::Response& res) {
    std::string on = req.get_param_value("on");
    if (on != "0" && on != "1") {
      res.status = 400;
      res.set_content("expected ?on=0 or ?on=1\n", "text/plain");
      return;
    }
    SetDown(on == "1");
    res.set_header("Cache-Control", "no-store");
    res.set_content(StatsJson(), "application/json");
  });
  http.Post("/admin/failure", [this](const httplib::Request& req, httplib::Response& res) {
    std::string text = req.get_param_value("rate");
    char* end = nullptr;
    double rate = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !(rate >= 0 && rate <= 1)) {
      res.status = 400;
      res.set_content("expected ?rate=R with 0 <= R <= 1\n", "text/plain");
      return;
    }
    SetFailureRate(rate);
    res.set_header("Cache-Control", "no-store");
    res.set_content(StatsJson(), "application/json");
  });
}

}  // namespace preheat_demo
