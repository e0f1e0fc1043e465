// preheat: the command-line face of the native runtime. Fetches through the
// cache, warms it, inspects and purges the SQLite file.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "preheat/engine.h"
#include "preheat/headers.h"
#include "preheat/status.h"
#include "replay_command.h"
#include "preheat_native/runtime.h"

namespace {

using preheat::Code;
using preheat::Status;
using preheat_native::Runtime;
using json = nlohmann::json;

// Exit codes; stable, listed in --help.
enum Exit : int {
  kExitOk = 0,
  kExitUsage = 1,     // bad command line
  kExitInvalid = 2,   // malformed URL or namespace
  kExitNetwork = 3,   // origin unreachable, timed out, response too large
  kExitHttp = 4,      // origin answered with an HTTP error status (>= 400), or
                      // with an answer HTTP does not allow (kHttpError)
  kExitDatabase = 5,  // cache database cannot be opened, written or flushed
  kExitInternal = 6,  // anything else (a bug)
  kExitOutput = 7,    // the output cannot be written (stdout: disk full, closed)
  kExitNotCached = 8, // get, only-if-cached: nothing usable held for the URL
};

const char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  usage error (unknown command or option, missing argument)\n"
    "  2  invalid URL or namespace\n"
    "  3  network error: origin unreachable, DNS failure, timeout, body too large\n"
    "  4  the origin answered with an HTTP error status (400 or more); the body is\n"
    "     still written. Also when its answer is one HTTP does not allow (a 304\n"
    "     to a request without validators)\n"
    "  5  the cache database cannot be opened, created, written or flushed\n"
    "  6  internal error\n"
    "  7  the output cannot be written (stdout: disk full, a closed pipe)\n"
    "  8  get --cache only-if-cached (or Cache-Control: only-if-cached): the cache\n"
    "     holds nothing it may serve for the URL\n";

const char kCommonOptionsHelp[] =
    "Options:\n"
    "  --db PATH         cache database (default $XDG_CACHE_HOME/preheat/cache.db,\n"
    "                    else ~/.cache/preheat/cache.db)\n"
    "  --namespace NS    cache namespace, [A-Za-z0-9_.-]{0,64} (default: none)\n"
    "  --max-bytes N     store budget in bytes; K, M, G suffixes (default 512M)\n"
    "  --json            machine-readable output\n"
    "  --help            this text\n";

const std::map<std::string, std::string>& CommandHelp() {
  static const std::map<std::string, std::string> help = {
      {"get",
       "Usage: preheat get [options] URL\n"
       "Fetches URL through the cache. The body goes to stdout; where it came from\n"
       "(memory/store/network), its state (fresh/stale/stale-if-error/revalidated/\n"
       "miss), its age and the time taken go to stderr. With --json one JSON object\n"
       "goes to stdout instead, the body in it as \"body\" when it is UTF-8 text,\n"
       "else as \"body_base64\".\n"
       "  --cache MODE      how the cache may be used, as fetch()'s option: default\n"
       "                    (the HTTP rules), no-cache (validate with the origin\n"
       "                    first), reload (ask the origin, store its answer),\n"
       "                    force-cache (anything held, at any age), only-if-cached\n"
       "                    (anything held; never the network: exit 8 if nothing),\n"
       "                    no-store (ask the origin, keep its answer nowhere)\n"
       "  -H, --header 'NAME: VALUE'\n"
       "                    a request header (repeatable), sent to the origin; its\n"
       "                    Cache-Control directives apply to the cache too:\n"
       "                    no-cache, max-age=N, min-fresh=N, max-stale[=N],\n"
       "                    no-store, only-if-cached (RFC 9111 5.2.1)\n"},
      {"warm",
       "Usage: preheat warm [options] URL...\n"
       "Fetches each URL into the cache at preheat priority (Sec-Purpose: prefetch),\n"
       "one line per URL on stderr (a JSON array on stdout with --json).\n"},
      {"stat",
       "Usage: preheat stat [options]\n"
       "Prints the cache database's path, entries, bytes and file size.\n"},
      {"ls",
       "Usage: preheat ls [options] [PREFIX]\n"
       "Lists stored URLs of the namespace starting with PREFIX: URL, bytes charged,\n"
       "last access (UTC) and tags, tab-separated.\n"},
      {"purge",
       "Usage: preheat purge [options] (--key URL | --prefix PREFIX | --tag TAG | --all)\n"
       "Removes stored entries of the namespace: one URL, every URL starting with\n"
       "PREFIX, every entry tagged TAG (Cache-Tag header), or all of them (--all\n"
       "without --namespace empties the whole database).\n"},
  };
  return help;
}

void PrintTopHelp(FILE* out) {
  std::fprintf(out,
               "Usage: preheat COMMAND [options] [ARGS]\n"
               "A stale-while-revalidate HTTP cache on a local SQLite file.\n\n"
               "Commands:\n"
               "  get URL        fetch through the cache\n"
               "  warm URL...    fetch into the cache at preheat priority\n"
               "  stat           show cache usage\n"
               "  ls [PREFIX]    list stored URLs\n"
               "  purge ...      remove stored entries\n"
               "  replay ...     replay navigation traces and compare caching policies\n"
               "                 (preheat replay --help)\n\n"
               "Run 'preheat COMMAND --help' for a command's details.\n\n%s\n%s",
               kCommonOptionsHelp, kExitCodesHelp);
}

struct Args {
  std::string command;
  std::vector<std::string> positional;
  std::string db;
  std::string namespace_name;
  bool namespace_given = false;
  uint64_t max_bytes = 0;
  bool json = false;
  bool help = false;
  // purge's selector: which flag chose it (the value may be empty: an
  // empty --prefix is every entry of the namespace).
  enum class Purge { kNone, kKey, kPrefix, kTag, kAll } purge = Purge::kNone;
  std::string purge_value;
  int purge_modes = 0;
  preheat::CacheMode cache_mode = preheat::CacheMode::kDefault;  // get --cache
  bool cache_mode_given = false;
  preheat::Headers headers;  // get --header
};

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "preheat: %s\n", message.c_str());
  return code;
}

bool ParseBytes(const std::string& text, uint64_t* out) {
  if (text.empty()) return false;
  size_t pos = 0;
  uint64_t value = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    if (value > (UINT64_MAX - 9) / 10) return false;
    value = value * 10 + static_cast<uint64_t>(text[pos++] - '0');
  }
  if (pos == 0) return false;
  std::string suffix = text.substr(pos);
  int shift = 0;
  if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  else if (!suffix.empty()) return false;
  if (shift > 0 && value > (UINT64_MAX >> shift)) return false;
  *out = value << shift;
  return true;
}

// Adds "NAME: VALUE" to `headers`; returns why it cannot (no colon, a name
// that is not a token, a CR, LF or NUL in the value), else "".
std::string AddHeader(const std::string& line, preheat::Headers* headers) {
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return "'" + line + "' is not NAME: VALUE";
  const std::string name = line.substr(0, colon);
  if (name.empty()) return "an empty header name";
  for (unsigned char c : name) {
    if (c <= 32 || c >= 127 || std::strchr("\"(),/:;<=>?@[\\]{}", c) != nullptr) {
      return "'" + name + "' is not a header name";
    }
  }
  const std::string value(preheat::TrimOws(std::string_view(line).substr(colon + 1)));
  if (value.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
    return "a header value may not hold CR, LF or NUL";
  }
  headers->Add(name, value);
  return "";
}

// Returns kExitOk or kExitUsage (after printing why).
int ParseArgs(int argc, char** argv, Args* a) {
  std::vector<std::string> args(argv + 1, argv + argc);
  size_t i = 0;
  auto value = [&](const std::string& flag, std::string* out) {
    if (i + 1 >= args.size()) return false;
    *out = args[++i];
    (void)flag;
    return true;
  };
  for (; i < args.size(); ++i) {
    const std::string& s = args[i];
    std::string v;
    if (s == "--help" || s == "-h") {
      a->help = true;
    } else if (s == "--json") {
      a->json = true;
    } else if (s == "--db") {
      // An empty path (`--db "$UNSET"`) is refused, not taken as "no --db":
      // the default database would be used instead, and `purge --all`
      // would empty it.
      if (!value(s, &a->db) || a->db.empty()) return Fail(kExitUsage, "--db needs a path");
    } else if (s == "--namespace") {
      if (!value(s, &a->namespace_name)) return Fail(kExitUsage, "--namespace needs a value");
      a->namespace_given = true;
    } else if (s == "--max-bytes") {
      if (!value(s, &v) || !ParseBytes(v, &a->max_bytes) || a->max_bytes == 0) {
        return Fail(kExitUsage, "--max-bytes needs a positive size such as 100M");
      }
    } else if (s == "--key" || s == "--prefix" || s == "--tag") {
      if (!value(s, &a->purge_value)) return Fail(kExitUsage, s + " needs a value");
      if (a->purge_value.empty() && s != "--prefix") return Fail(kExitUsage, s + " needs a value");
      a->purge = s == "--key" ? Args::Purge::kKey : s == "--prefix" ? Args::Purge::kPrefix : Args::Purge::kTag;
      a->purge_modes++;
    } else if (s == "--cache") {
      if (!value(s, &v)) return Fail(kExitUsage, "--cache needs a mode");
      auto mode = preheat::ParseCacheMode(v);
      if (!mode.ok()) return Fail(kExitUsage, "--cache: " + mode.status().message());
      a->cache_mode = *mode;
      a->cache_mode_given = true;
    } else if (s == "--header" || s == "-H") {
      if (!value(s, &v)) return Fail(kExitUsage, s + " needs 'NAME: VALUE'");
      std::string error = AddHeader(v, &a->headers);
      if (!error.empty()) return Fail(kExitUsage, s + ": " + error);
    } else if (s == "--all") {
      a->purge = Args::Purge::kAll;
      a->purge_modes++;
    } else if (s == "--") {
      for (++i; i < args.size(); ++i) a->positional.push_back(args[i]);
    } else if (s.size() > 1 && s[0] == '-') {
      return Fail(kExitUsage, "unknown option " + s + " (see preheat --help)");
    } else if (a->command.empty()) {
      a->command = s;
    } else {
      a->positional.push_back(s);
    }
  }
  return kExitOk;
}

std::string DefaultDbPath(std::string* error) {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/preheat/cache.db";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') return std::string(home) + "/.cache/preheat/cache.db";
  *error = "no $XDG_CACHE_HOME or $HOME to put the cache in; pass --db PATH";
  return "";
}

int ExitFor(const Status& s) {
  switch (s.code()) {
    case Code::kInvalidArgument: return kExitInvalid;
    // The origin's answer, not a fault of this program: e.g. a 304 to an
    // unconditional request.
    case Code::kHttpError: return kExitHttp;
    case Code::kUnavailable:
    case Code::kTimeout:
    case Code::kTooLarge:
    case Code::kCancelled:
    case Code::kLimitReached: return kExitNetwork;
    case Code::kIoError:
    case Code::kNoSpace:
    case Code::kCorrupt: return kExitDatabase;
    default: return kExitInternal;
  }
}

std::string FormatTime(preheat::Instant t) {
  std::time_t secs = static_cast<std::time_t>(t.unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Waits until no request is in flight or queued (a background revalidation
// of a stale answer), so its result is stored before the process exits.
void WaitIdle(Runtime& rt) {
  for (int i = 0; i < 6000; ++i) {  // bounded; requests time out well before
    json stats = json::parse(rt.StatsJson().get(), nullptr, false);
    uint64_t busy = 0;
    for (const char* group : {"inflight", "queued"}) {
      if (!stats.is_object() || !stats.contains(group)) continue;
      for (const auto& [lane, n] : stats[group].items()) busy += n.get<uint64_t>();
    }
    if (busy == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

class Session {
 public:
  explicit Session(const Args& args) : args_(args) {}

  // Opens the runtime on the database; returns an exit code on failure.
  // `reads_only` (ls, stat): when the database exists but cannot be opened
  // for writing (a read-only file or mount), it is opened read-only, with
  // a note on stderr, instead of failing.
  int Open(bool reads_only = false) {
    std::string db = args_.db;
    if (db.empty()) {
      std::string error;
      db = DefaultDbPath(&error);
      if (db.empty()) return Fail(kExitDatabase, error);
    }
    std::filesystem::path parent = std::filesystem::path(db).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) {
        return Fail(kExitDatabase,
                    "cannot create directory " + parent.string() + ": " + ec.message());
      }
    }
    preheat_native::RuntimeOptions o;
    o.db_path = db;
    o.require_store = true;
    if (args_.max_bytes > 0) {
      o.engine.store_max_bytes = args_.max_bytes;
      o.engine.memory_max_bytes = std::min(o.engine.memory_max_bytes, args_.max_bytes);
    }
    auto rt = Runtime::Create(o);
    std::error_code exists_ec;
    if (!rt.ok() && reads_only && std::filesystem::exists(db, exists_ec)) {
      o.store.read_only = true;
      auto read_only = Runtime::Create(o);
      if (read_only.ok()) {
        std::fprintf(stderr, "preheat: note: opened %s read-only: %s\n", db.c_str(),
                     rt.status().message().c_str());
        rt = std::move(read_only);
      }
    }
    if (!rt.ok()) {
      const Status& s = rt.status();
      int code = s.code() == Code::kInvalidArgument ? kExitUsage : ExitFor(s);
      if (code == kExitNetwork || code == kExitInternal) code = kExitDatabase;
      return Fail(code, "cannot use cache database " + db + ": " + s.message());
    }
    rt_ = std::move(rt.value());
    if (!rt_->open_report().empty()) {
      std::fprintf(stderr, "preheat: note: %s\n", rt_->open_report().c_str());
    }
    db_ = db;
    return kExitOk;
  }

  // Flushes pending writes and shuts down; an exit code.
  int Close() {
    if (!rt_) return kExitOk;
    Status s = rt_->Flush().get();
    rt_->Shutdown();
    if (!s.ok()) return Fail(kExitDatabase, "could not save to " + db_ + ": " + s.message());
    return kExitOk;
  }

  Runtime& rt() { return *rt_; }
  const std::string& db() const { return db_; }
  std::string KeyPrefix() const { return args_.namespace_name + " "; }

 private:
  const Args& args_;
  std::unique_ptr<Runtime> rt_;
  std::string db_;
};

// Whether `s` is well-formed UTF-8 (RFC 3629: no overlongs, surrogates or
// code points past U+10FFFF), which a JSON string can carry unchanged.
bool IsUtf8(const std::string& s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

std::string Base64(const std::string& bytes) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) |
                       uint8_t(bytes[i + 2]);
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], kAlphabet[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8);
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

json ResultJson(const std::string& url, const preheat::CacheResult& r, int64_t elapsed_ms,
                bool with_body) {
  json j;
  j["url"] = url;
  j["status"] = r.entry ? r.entry->status : 0;
  j["state"] = preheat::CacheStateName(r.state);
  j["source"] = preheat::SourceName(r.source);
  j["age_ms"] = r.age_ms;
  j["elapsed_ms"] = elapsed_ms;
  j["stored"] = r.stored;
  j["revalidating"] = r.revalidating;
  if (r.entry) {
    j["key"] = r.entry->key;
    j["body_bytes"] = r.entry->body.size();
    json headers = json::array();
    for (const auto& [name, value] : r.entry->headers.fields()) headers.push_back({name, value});
    j["headers"] = headers;
    // A body that is not UTF-8 (an image, say) as base64: the JSON string
    // would otherwise carry it with its invalid bytes replaced.
    if (with_body && IsUtf8(r.entry->body)) {
      j["body"] = r.entry->body;
    } else if (with_body) {
      j["body_base64"] = Base64(r.entry->body);
    }
  }
  return j;
}

int CmdGet(const Args& args) {
  if (args.positional.size() != 1) return Fail(kExitUsage, "get needs exactly one URL");
  const std::string& url = args.positional[0];
  auto key = preheat::Engine::KeyFor(url, args.namespace_name);
  if (!key.ok()) return Fail(kExitInvalid, "invalid request: " + key.status().message());
  Session session(args);
  if (int rc = session.Open()) return rc;

  preheat::CacheRequest req;
  req.url = url;
  req.namespace_name = args.namespace_name;
  req.mode = args.cache_mode;
  req.headers = args.headers;
  auto start = std::chrono::steady_clock::now();
  auto result = session.rt().Get(req).get();
  int64_t elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count();
  if (!result.ok()) {
    session.Close();
    int code = ExitFor(result.status());
    // kNotFound only answers an only-if-cached get (the mode or the directive).
    if (result.status().IsNotFound()) {
      code = kExitNotCached;
    }
    return Fail(code, "get " + url + ": " + result.status().message());
  }
  const preheat::CacheResult& r = *result;
  if (r.revalidating) WaitIdle(session.rt());
  int status = r.entry ? r.entry->status : 0;
  if (args.json) {
    std::printf("%s\n", Dump(ResultJson(url, r, elapsed_ms, true)).c_str());
  } else {
    if (r.entry) std::fwrite(r.entry->body.data(), 1, r.entry->body.size(), stdout);
    std::fprintf(stderr, "preheat: %s %s status=%d age=%lldms time=%lldms%s%s\n",
                 preheat::SourceName(r.source), preheat::CacheStateName(r.state), status,
                 static_cast<long long>(r.age_ms), static_cast<long long>(elapsed_ms),
                 r.stored ? "" : " not-stored", r.revalidating ? " revalidated-in-background" : "");
  }
  std::fflush(stdout);
  int rc = session.Close();
  if (rc != kExitOk) return rc;
  if (status >= 400) return Fail(kExitHttp, "get " + url + ": HTTP " + std::to_string(status));
  return kExitOk;
}

int CmdWarm(const Args& args) {
  if (args.positional.empty()) return Fail(kExitUsage, "warm needs at least one URL");
  for (const std::string& url : args.positional) {
    auto key = preheat::Engine::KeyFor(url, args.namespace_name);
    if (!key.ok()) return Fail(kExitInvalid, "invalid URL " + url + ": " + key.status().message());
  }
  Session session(args);
  if (int rc = session.Open()) return rc;
  // The preheat lane holds its inflight_max requests on the wire and
  // queue_max more waiting; past that a get fails at once (kLimitReached).
  // So at most `window` gets are outstanding: each answered one lets the
  // next URL start, and a list of any length is warmed whole.
  const preheat::LaneLimits lane =
      preheat::EngineOptions{}.lanes[static_cast<int>(preheat::Lane::kPreheat)];
  const size_t window = std::max<size_t>(1, (lane.inflight_max + lane.queue_max) / 2);
  std::vector<std::future<preheat::Result<preheat::CacheResult>>> futures;
  size_t started = 0;
  auto start_next = [&] {
    if (started == args.positional.size()) return;
    preheat::CacheRequest req;
    req.url = args.positional[started++];
    req.namespace_name = args.namespace_name;
    req.lane = preheat::Lane::kPreheat;
    futures.push_back(session.rt().Get(req));
  };
  auto start = std::chrono::steady_clock::now();
  while (started < std::min(window, args.positional.size())) start_next();
  int worst = kExitOk;
  json out = json::array();
  for (size_t i = 0; i < args.positional.size(); ++i) {
    const std::string& url = args.positional[i];
    auto r = futures[i].get();
    start_next();
    int64_t elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count();
    int code = kExitOk;
    if (!r.ok()) {
      code = ExitFor(r.status());
      if (args.json) {
        out.push_back({{"url", url},
                       {"error", preheat::CodeName(r.status().code())},
                       {"message", r.status().message()}});
      }
      std::fprintf(stderr, "preheat: warm %s: %s\n", url.c_str(), r.status().ToString().c_str());
    } else {
      int status = r->entry ? r->entry->status : 0;
      if (status >= 400) code = kExitHttp;
      if (args.json) out.push_back(ResultJson(url, *r, elapsed_ms, false));
      std::fprintf(stderr, "preheat: warm %s: %s %s status=%d%s\n", url.c_str(),
                   preheat::SourceName(r->source), preheat::CacheStateName(r->state), status,
                   r->stored ? "" : " not-stored");
    }
    if (code > worst) worst = code;
  }
  WaitIdle(session.rt());
  if (args.json) std::printf("%s\n", Dump(out).c_str());
  int rc = session.Close();
  return rc != kExitOk ? rc : worst;
}

int CmdStat(const Args& args) {
  if (!args.positional.empty()) return Fail(kExitUsage, "stat takes no arguments");
  Session session(args);
  if (int rc = session.Open(/*reads_only=*/true)) return rc;
  json stats = json::parse(session.rt().StatsJson().get(), nullptr, false);
  int rc = session.Close();
  if (rc != kExitOk) return rc;
  uint64_t file_bytes = 0;
  for (const char* suffix : {"", "-wal"}) {
    std::error_code ec;
    auto size = std::filesystem::file_size(session.db() + suffix, ec);
    if (!ec) file_bytes += size;
  }
  json store = stats.is_object() ? stats["store"] : json();
  json out = {{"db", session.db()},
              {"entries", store.is_object() ? store["entries"] : json(0)},
              {"bytes", store.is_object() ? store["bytes"] : json(0)},
              {"max_bytes", store.is_object() ? store["max_bytes"] : json(0)},
              {"file_bytes", file_bytes}};
  if (args.json) {
    std::printf("%s\n", Dump(out).c_str());
  } else {
    std::printf("database    %s\n", session.db().c_str());
    std::printf("entries     %s\n", out["entries"].dump().c_str());
    std::printf("bytes       %s\n", out["bytes"].dump().c_str());
    std::printf("max bytes   %s\n", out["max_bytes"].dump().c_str());
    std::printf("file bytes  %llu\n", static_cast<unsigned long long>(file_bytes));
  }
  return kExitOk;
}

int CmdLs(const Args& args) {
  if (args.positional.size() > 1) return Fail(kExitUsage, "ls takes at most one PREFIX");
  Session session(args);
  if (int rc = session.Open(/*reads_only=*/true)) return rc;
  preheat::StoreSelector sel;
  sel.kind = preheat::StoreSelector::Kind::kPrefix;
  sel.value = session.KeyPrefix() + (args.positional.empty() ? "" : args.positional[0]);
  std::string after;
  json out = json::array();
  while (true) {
    auto page = session.rt().ScanStore(sel, after, 1000).get();
    if (!page.ok()) {
      session.Close();
      return Fail(kExitDatabase, "ls: " + page.status().message());
    }
    for (const auto& m : *page) {
      std::string url = m.key.substr(session.KeyPrefix().size());
      std::vector<std::string> tags;
      for (const std::string& t : m.tags) {
        tags.push_back(t.compare(0, session.KeyPrefix().size(), session.KeyPrefix()) == 0
                           ? t.substr(session.KeyPrefix().size())
                           : t);
      }
      if (args.json) {
        out.push_back({{"url", url},
                       {"key", m.key},
                       {"bytes", m.charge_bytes},
                       {"last_access", FormatTime(m.last_access)},
                       {"tags", tags}});
      } else {
        std::printf("%s\t%llu\t%s\t%s\n", url.c_str(),
                    static_cast<unsigned long long>(m.charge_bytes),
                    FormatTime(m.last_access).c_str(), Join(tags, ",").c_str());
      }
    }
    if (page->size() < 1000) break;
    after = page->back().key;
  }
  if (args.json) std::printf("%s\n", Dump(out).c_str());
  return session.Close();
}

int CmdPurge(const Args& args) {
  if (args.purge_modes != 1 || !args.positional.empty()) {
    return Fail(kExitUsage, "purge needs exactly one of --key URL, --prefix P, --tag T, --all");
  }
  using Purge = Args::Purge;
  std::string key;
  if (args.purge == Purge::kKey) {
    auto k = preheat::Engine::KeyFor(args.purge_value, args.namespace_name);
    if (!k.ok()) return Fail(kExitInvalid, "invalid URL " + args.purge_value + ": " + k.status().message());
    key = *k;
  }
  Session session(args);
  if (int rc = session.Open()) return rc;
  Runtime& rt = session.rt();
  preheat::Result<uint64_t> removed = uint64_t{0};
  using Kind = preheat::StoreSelector::Kind;
  if (args.purge == Purge::kKey) {
    removed = rt.RemoveFromStore({Kind::kKey, key}).get();
  } else if (args.purge == Purge::kPrefix) {
    removed = rt.RemoveFromStore({Kind::kPrefix, session.KeyPrefix() + args.purge_value}).get();
  } else if (args.purge == Purge::kAll) {
    removed = args.namespace_given ? rt.RemoveFromStore({Kind::kPrefix, session.KeyPrefix()}).get()
                                   : rt.RemoveFromStore({Kind::kAll, ""}).get();
  } else {
    // The engine stores tags as "<namespace> <tag>" (see StoreTag in
    // core/src/engine.cc), so a tag selector is already namespace-scoped.
    removed = rt.RemoveFromStore({Kind::kTag, session.KeyPrefix() + args.purge_value}).get();
  }
  if (!removed.ok()) {
    session.Close();
    return Fail(kExitDatabase, "purge: " + removed.status().message());
  }
  if (args.json) {
    std::printf("%s\n", Dump(json{{"removed", *removed}}).c_str());
  } else {
    std::printf("removed %llu entries\n", static_cast<unsigned long long>(*removed));
  }
  return session.Close();
}

// Output that cannot be written is a failure, never a silent truncation:
// what is still buffered is written now, and an error on stdout at any
// point (a full disk, a closed pipe) turns success, or an HTTP error whose
// body was to be written, into kExitOutput.
int FinishOutput(int rc) {
  errno = 0;
  bool failed = std::fflush(stdout) != 0;
  int err = errno;
  std::cout.flush();
  failed = failed || std::ferror(stdout) != 0 || std::cout.fail();
  if (!failed) return rc;
  std::fprintf(stderr, "preheat: cannot write output: %s\n", std::strerror(err != 0 ? err : EIO));
  return rc == kExitOk || rc == kExitHttp ? kExitOutput : rc;
}

int Run(int argc, char** argv) {
  // The replay harness has options of its own; flags before its name
  // (`preheat --json replay ...`) are passed on to it.
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "replay") {
      std::vector<char*> replay_argv{argv[i]};
      for (int j = 1; j < argc; ++j) {
        if (j != i) replay_argv.push_back(argv[j]);
      }
      return ReplayMain(static_cast<int>(replay_argv.size()), replay_argv.data());
    }
    if (a.empty() || a[0] != '-' || a == "--") break;  // another command
    if (a == "--db" || a == "--namespace" || a == "--max-bytes" || a == "--key" ||
        a == "--prefix" || a == "--tag" || a == "--cache" || a == "--header" || a == "-H") {
      ++i;  // its value, whatever it says
    }
  }
  Args args;
  if (int rc = ParseArgs(argc, argv, &args)) return rc;
  if (args.command.empty() || args.command == "help") {
    PrintTopHelp(args.help || args.command == "help" ? stdout : stderr);
    return args.help || args.command == "help" ? kExitOk : kExitUsage;
  }
  auto help = CommandHelp().find(args.command);
  if (help == CommandHelp().end()) {
    return Fail(kExitUsage, "unknown command '" + args.command + "' (see preheat --help)");
  }
  if (args.help) {
    std::printf("%s\n%s\n%s", help->second.c_str(), kCommonOptionsHelp, kExitCodesHelp);
    return kExitOk;
  }
  if (args.command != "purge" && args.purge_modes > 0) {
    return Fail(kExitUsage, "--key/--prefix/--tag/--all belong to purge");
  }
  if (args.command != "get" && args.cache_mode_given) {
    return Fail(kExitUsage, "--cache belongs to get");
  }
  if (args.command != "get" && !args.headers.empty()) {
    return Fail(kExitUsage, "--header belongs to get");
  }
  if (args.namespace_given) {
    // Every command checks it, not only those that make keys: `ls`, `stat`
    // and `purge` would otherwise look in a namespace that cannot exist
    // and report nothing found. KeyFor checks the namespace (the URL is a
    // valid placeholder).
    auto checked = preheat::Engine::KeyFor("http://localhost/", args.namespace_name);
    if (!checked.ok()) {
      return Fail(kExitInvalid, "invalid namespace '" + args.namespace_name + "': " +
                                    checked.status().message());
    }
  }
  if (args.command == "get") return CmdGet(args);
  if (args.command == "warm") return CmdWarm(args);
  if (args.command == "stat") return CmdStat(args);
  if (args.command == "ls") return CmdLs(args);
  return CmdPurge(args);
}

}  // namespace

int main(int argc, char** argv) { return FinishOutput(Run(argc, argv)); }
