#include "preheat/engine.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include "preheat/cache_control.h"
#include "preheat/memory_tier.h"
#include "preheat/prng.h"
#include "preheat/route.h"
#include "preheat/url.h"
#include "preheat/validators.h"

namespace preheat {

const char* CacheStateName(CacheState state) {
  switch (state) {
    case CacheState::kFresh: return "fresh";
    case CacheState::kStale: return "stale";
    case CacheState::kStaleIfError: return "stale-if-error";
    case CacheState::kRevalidated: return "revalidated";
    case CacheState::kMiss: return "miss";
  }
  return "unknown";
}

const char* SourceName(Source source) {
  switch (source) {
    case Source::kMemory: return "memory";
    case Source::kStore: return "store";
    case Source::kNetwork: return "network";
  }
  return "unknown";
}

const char* CacheModeName(CacheMode mode) {
  switch (mode) {
    case CacheMode::kDefault: return "default";
    case CacheMode::kNoCache: return "no-cache";
    case CacheMode::kReload: return "reload";
    case CacheMode::kNoStore: return "no-store";
    case CacheMode::kForceCache: return "force-cache";
    case CacheMode::kOnlyIfCached: return "only-if-cached";
  }
  return "unknown";
}

Result<CacheMode> ParseCacheMode(const std::string& name) {
  for (CacheMode mode : {CacheMode::kDefault, CacheMode::kNoCache, CacheMode::kReload,
                         CacheMode::kNoStore, CacheMode::kForceCache, CacheMode::kOnlyIfCached}) {
    if (name == CacheModeName(mode)) return mode;
  }
  return Status::InvalidArgument("unknown cache mode '" + name +
                                 "' (default, no-cache, reload, force-cache, only-if-cached)");
}

const char* LaneName(Lane lane) {
  switch (lane) {
    case Lane::kNavigate: return "navigate";
    case Lane::kRevalidate: return "revalidate";
    case Lane::kPreheat: return "preheat";
  }
  return "unknown";
}

namespace {

using EntryPtr = std::shared_ptr<const CacheEntry>;

constexpr size_t kNamespaceBytesMax = 64;
// Blobs live under keys no cache key can take (namespaces cannot contain
// '#'), and look recently used forever so LRU eviction takes them last.
constexpr const char* kBlobKeyPrefix = "#blob ";
constexpr size_t kBlobBytesMax = 4u << 20;
constexpr Instant kBlobLastAccess{std::numeric_limits<int64_t>::max() / 2};
constexpr size_t kTagsPerEntryMax = 64;
constexpr size_t kTagBytesMax = 256;
// Attempts at a store removal (Invalidate, Clear) before the store is no
// longer trusted: a transient failure (a connection the IndexedDB driver
// reopens, a lock held a moment too long) gets another try.
constexpr int kRemoveAttemptsMax = 3;

bool ValidNamespace(const std::string& ns) {
  if (ns.size() > kNamespaceBytesMax) return false;
  for (char c : ns) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// "https://host/path?q" -> "/path".
std::string_view PathOf(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "/";
  size_t path_start = url.find('/', scheme_end + 3);
  if (path_start == std::string_view::npos) return "/";
  std::string_view rest = url.substr(path_start);
  return rest.substr(0, rest.find('?'));
}

// The store indexes tags globally; prefixing them with the namespace keeps
// one namespace's tag invalidation away from another's entries.
std::string StoreTag(std::string_view ns, std::string_view tag) {
  std::string t(ns);
  t += ' ';
  t += tag;
  return t;
}

std::string NamespaceOfKey(const std::string& key) { return key.substr(0, key.find(' ')); }

std::vector<std::string> ParseTagList(const Headers& headers, const std::string& tag_header) {
  std::vector<std::string> tags;
  if (tag_header.empty()) return tags;
  auto value = headers.GetCombined(tag_header);
  if (!value) return tags;
  std::string_view rest = *value;
  while (!rest.empty() && tags.size() < kTagsPerEntryMax) {
    size_t comma = rest.find(',');
    std::string_view item = TrimOws(rest.substr(0, comma));
    if (!item.empty() && item.size() <= kTagBytesMax &&
        std::find(tags.begin(), tags.end(), item) == tags.end()) {
      tags.emplace_back(item);
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return tags;
}

bool SameRepresentation(const CacheEntry& a, const CacheEntry& b) {
  if (a.status != b.status || a.body_hash != b.body_hash || a.body != b.body) return false;
  auto etag_a = a.headers.Get("etag");
  auto etag_b = b.headers.Get("etag");
  return etag_a == etag_b;
}

}  // namespace

struct Engine::Impl {
  // What a get's Cache-Control (or Pragma) asks of the tiers beyond its
  // CacheMode (RFC 9111 5.2.1); nothing for a prefetch. Times < 0: absent.
  struct RequestLimits {
    int64_t max_age_ms = -1;     // nothing older without the origin
    int64_t min_fresh_ms = -1;   // nothing fresh for less than this longer
    int64_t max_stale_ms = -1;   // stale this much served (then revalidated)
    bool no_store = false;       // the origin's answer is kept in no tier
    bool only_if_cached = false; // never the origin
    // The get asked for the origin's answer (a no-cache, reload or no-store
    // mode, or a limit above sent it there): the held entry does not stand
    // in when the origin fails (no stale-if-error).
    bool origin_required = false;
  };

  // A Get waiting for an answer.
  struct Waiter {
    CacheRequest request;
    std::string key;  // KeyFor(request), computed once
    Instant started;
    GetDone done;
    EntryPtr stale;  // what may be served under stale-if-error
    Source stale_source = Source::kNetwork;
    bool prefetch = false;  // answer from any stored entry, never revalidate
    RequestLimits limits;
  };

  // One request per key on the wire or queued (coalescing), and one of its
  // own for each no-store get and each reload beside a conditional one.
  struct Flight {
    OpId op = 0;
    std::string key;
    std::string url;
    Headers request_headers;
    Lane lane = Lane::kNavigate;
    EntryPtr base;  // the entry being revalidated (conditional request)
    Source base_source = Source::kNetwork;
    Instant request_time;
    std::vector<Waiter> waiters;
    // Set when the key was invalidated or written while the request was on
    // the wire: its response may predate that, so it is kept marked
    // invalidated (validated before it is served fresh), not kept at all
    // after a removal, and with `refetch` followed by a new revalidation
    // (a confirmed write's: subscribers get the origin's new version).
    bool invalidated = false;
    bool removed = false;
    bool refetch = false;
    // A response of the key kept while this request was on the wire (a
    // reload's own request): newer than what a 304 to this one confirms,
    // also once memory has evicted it, and than a 200 to this one when its
    // request was sent no earlier.
    EntryPtr newer_kept;
    // Started for a no-store get, its only waiter: its response is kept in
    // no tier. Filed under OwnFlightKey, not `key`.
    bool no_store = false;
  };

  struct Mutation {
    std::string key;
    std::string write_key;  // KeyFor(write.url): invalidated on success too
    EntryPtr previous;
    EntryPtr optimistic;
    StatusDone done;
  };

  struct QueuedStart {
    OpId op;
    HttpRequest request;
  };

  struct PendingWrite {
    StoreWrite::Kind kind = StoreWrite::Kind::kPut;
    EntryPtr entry;  // kPut of a cache entry
    Instant touch;   // kTouch
    std::shared_ptr<const std::string> blob;  // kPut of a named blob (PutBlob)
  };

  EngineOptions options;
  Store* store;
  Fetcher* fetcher;
  Prng prng;
  MemoryTier memory;
  mutable Metrics metrics;
  std::vector<std::pair<RoutePattern, RoutePolicy>> routes;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  OpId next_op = 1;

  std::unordered_map<std::string, Flight> flights;  // by key (own flights: OwnFlightKey)
  std::unordered_map<OpId, std::string> flight_key_by_op;
  std::unordered_map<OpId, Mutation> mutations;
  std::unordered_map<OpId, Lane> started_lane_by_op;      // on the wire
  std::deque<QueuedStart> lane_queue[kLaneCount];
  uint32_t inflight[kLaneCount] = {0, 0, 0};

  // Store reads in flight, coalesced by key. `superseded` is set when the
  // key was written, removed or invalidated after the read started: the
  // record it returns is then older than what the engine decided since, and
  // must not be promoted (it would resurrect removed data).
  struct StoreRead {
    OpId op = 0;  // a completion of an older, cancelled read has another op
    std::vector<Waiter> waiters;
    bool superseded = false;
  };
  std::unordered_map<std::string, StoreRead> store_reads;  // by key

  std::map<std::string, PendingWrite> pending;  // ordered: deterministic batches
  Instant pending_since = Instant::Never();
  bool write_inflight = false;
  // Keys whose stored record this session knows to be wrong (a removal or
  // an invalidation's mark was queued for it) until a batch writing the key
  // succeeds: what ForgetOnDegrade removes if the store fails first. A
  // later put of the key (the version fetched after a confirmed write)
  // takes the removal's place in `pending`, not its place here.
  std::set<std::string> forget_on_degrade;
  // Those of forget_on_degrade's keys the batch in flight writes (most
  // batches: none, and nothing is copied).
  std::vector<std::string> batch_keys;
  // Store removals (Invalidate, Clear) started and not yet finished, retries
  // included: Flush waits for them too, so that an app awaiting it after a
  // logout's Clear knows the store no longer holds the entries.
  uint32_t removes_inflight = 0;
  bool flushing = false;
  std::vector<StatusDone> flush_waiters;
  bool evict_inflight = false;
  uint64_t writes_dropped_since_flush = 0;

  std::unordered_map<std::string, std::vector<std::pair<SubscriptionId, Subscriber>>> subs;
  std::unordered_map<SubscriptionId, std::string> sub_keys;
  std::vector<std::pair<SubscriptionId, ClearWatcher>> clear_watchers;
  SubscriptionId next_sub = 1;

  Impl(EngineOptions opts, Store* s, Fetcher* f, uint64_t seed)
      : options(std::move(opts)),
        store(s),
        fetcher(f),
        prng(seed),
        memory(options.memory_max_bytes, options.memory_max_entries) {}

  bool StoreUsable() const { return store != nullptr && !metrics.store_degraded; }

  const RoutePolicy& PolicyFor(std::string_view url) const {
    std::string_view path = PathOf(url);
    for (const auto& [pattern, policy] : routes) {
      if (pattern.Match(path)) return policy;
    }
    return options.default_policy;
  }

  // ---- freshness verdicts -------------------------------------------------

  enum class Verdict { kFresh, kServeStale, kMustValidate };

  struct Evaluation {
    Verdict verdict = Verdict::kMustValidate;
    int64_t age_ms = 0;
    int64_t staleness_ms = 0;  // age - lifetime; < 0 while fresh
  };

  Evaluation Evaluate(const CacheEntry& e, const RoutePolicy& policy, Instant now) const {
    Evaluation ev;
    ev.age_ms = CurrentAgeMs(e.freshness, e.response_time, now);
    bool validate_always = e.freshness.no_cache && !policy.max_age_ms;
    int64_t lifetime_ms = policy.max_age_ms ? *policy.max_age_ms : e.freshness.lifetime_ms;
    if (e.invalidated || validate_always) lifetime_ms = 0;
    ev.staleness_ms = ev.age_ms - lifetime_ms;
    if (!e.invalidated && !validate_always && ev.staleness_ms < 0) {
      ev.verdict = Verdict::kFresh;
      return ev;
    }
    int64_t swr_ms = policy.stale_while_revalidate_ms ? *policy.stale_while_revalidate_ms
                                                      : e.freshness.stale_while_revalidate_ms;
    // An invalidated entry may be shown once more while it revalidates, as
    // long as the headers would have allowed serving it stale at all.
    // Without stale-while-revalidate nothing stale is served, not even at
    // age == lifetime (RFC 9111 4.2: fresh only while lifetime > age).
    const int64_t past_lifetime_ms =
        ev.age_ms - (policy.max_age_ms ? *policy.max_age_ms : e.freshness.lifetime_ms);
    bool may_serve_stale = !e.freshness.must_revalidate && !validate_always && swr_ms > 0 &&
                           (e.invalidated ? past_lifetime_ms <= swr_ms : ev.staleness_ms <= swr_ms);
    if (!WithinMaxStale(policy, ev.staleness_ms)) may_serve_stale = false;
    ev.verdict = may_serve_stale ? Verdict::kServeStale : Verdict::kMustValidate;
    return ev;
  }

  // StoreWrite::fresh_until for `e`: the instant before which Evaluate()
  // says kFresh and ServeStored() answers a plain get with nothing more to
  // do. Fresh while initial age + time since response_time < lifetime
  // (CurrentAgeMs; before response_time, age is the initial age alone).
  Instant PlainFreshUntil(const CacheEntry& e) const {
    const RoutePolicy& policy = PolicyFor(e.url);
    if (e.invalidated || (e.freshness.no_cache && !policy.max_age_ms) ||
        (policy.revalidate_after_serving && !e.freshness.immutable) ||
        !VaryMatches(e, Headers())) {
      return StoreWrite::kNeverFresh;
    }
    const int64_t lifetime_ms = policy.max_age_ms ? *policy.max_age_ms : e.freshness.lifetime_ms;
    const int64_t initial_age_ms = std::max<int64_t>(0, e.freshness.initial_age_ms);
    if (lifetime_ms <= initial_age_ms) return StoreWrite::kNeverFresh;
    return AddMs(e.response_time, lifetime_ms - initial_age_ms);
  }

  static bool WithinMaxStale(const RoutePolicy& policy, int64_t staleness_ms) {
    return !policy.max_stale_ms || staleness_ms <= *policy.max_stale_ms;
  }

  // May `e` be served because the origin failed (RFC 5861 4)?
  bool StaleIfErrorAllows(const CacheEntry& e, Instant now) const {
    const RoutePolicy& policy = PolicyFor(e.url);
    Evaluation ev = Evaluate(e, policy, now);
    if (ev.verdict == Verdict::kFresh) return true;
    if (e.freshness.must_revalidate || e.freshness.no_cache) return false;
    // Without stale-if-error, nothing: not even at age == lifetime.
    return e.freshness.stale_if_error_ms > 0 && ev.staleness_ms <= e.freshness.stale_if_error_ms &&
           WithinMaxStale(policy, ev.staleness_ms);
  }

  // Whether the first read of a prefetched entry may skip revalidation:
  // recent enough, and nothing in its headers or route policy demands
  // validation (no-cache, must-revalidate, invalidated, past max stale).
  bool PrefetchGraceAllows(const CacheEntry& e, Instant now) const {
    if (e.invalidated || e.freshness.no_cache || e.freshness.must_revalidate) return false;
    if (ElapsedMs(e.response_time, now) >= options.prefetch_grace_ms) return false;
    const RoutePolicy& policy = PolicyFor(e.url);
    return WithinMaxStale(policy, Evaluate(e, policy, now).staleness_ms);
  }

  static bool VaryMatches(const CacheEntry& e, const Headers& request_headers) {
    if (e.vary.matches_nothing) return false;
    if (e.vary.names.empty()) return true;
    return SelectVaryValues(e.vary, request_headers) == e.vary_values;
  }

  // Whether a flight's response answers waiter `w`: the request sent had
  // its headers (whatever Vary says), or Vary selects it.
  static bool Answers(const CacheEntry& e, const Flight& f, const Waiter& w) {
    return w.request.headers.fields() == f.request_headers.fields() ||
           VaryMatches(e, w.request.headers);
  }

  // ---- answering ------------------------------------------------------------

  // Whether `entry`, not in memory (too big for it, or evicted), is kept
  // in the store: a put of this very entry is pending, or it was read from
  // the store and nothing but a touch has been queued for its key since.
  bool InStoreOnly(Source source, const CacheEntry& entry) const {
    auto p = pending.find(entry.key);
    if (p == pending.end() || p->second.kind == StoreWrite::Kind::kTouch) {
      return source == Source::kStore;
    }
    return p->second.kind == StoreWrite::Kind::kPut && p->second.entry.get() == &entry;
  }

  void Deliver(Waiter& w, CacheState state, Source source, EntryPtr entry, Instant now,
               bool revalidating) {
    CacheResult r;
    r.state = state;
    r.source = source;
    r.age_ms = entry ? CurrentAgeMs(entry->freshness, entry->response_time, now) : 0;
    r.revalidating = revalidating;
    r.stored = entry && (memory.Peek(entry->key) == entry || InStoreOnly(source, *entry));
    r.entry = std::move(entry);
    GetDone done = std::move(w.done);
    if (w.prefetch) {  // not a read by the app: no hit, miss or latency counted
      done(std::move(r));
      return;
    }
    switch (state) {
      case CacheState::kFresh: metrics.fresh_served++; break;
      case CacheState::kStale: metrics.stale_served++; break;
      case CacheState::kStaleIfError: metrics.stale_if_error_served++; break;
      case CacheState::kRevalidated: metrics.revalidated_served++; break;
      case CacheState::kMiss: metrics.misses++; break;
    }
    if (state != CacheState::kMiss) {
      (source == Source::kMemory ? metrics.memory_hits : metrics.store_hits)++;
    }
    metrics.get_latency.Record(ElapsedMs(w.started, now));
    done(std::move(r));
  }

  void Fail(Waiter& w, Status status, Instant now) {
    if (!w.prefetch) metrics.get_latency.Record(ElapsedMs(w.started, now));
    GetDone done = std::move(w.done);
    done(std::move(status));
  }

  // Stops request `op` of `lane`: cancelled with the fetcher when started
  // (its completion then only frees the lane slot), else taken out of the
  // lane's queue.
  void CancelRequest(OpId op, Lane lane) {
    if (started_lane_by_op.count(op)) {
      fetcher->Cancel(op);
      return;
    }
    auto& q = lane_queue[static_cast<int>(lane)];
    q.erase(std::remove_if(q.begin(), q.end(), [&](const auto& s) { return s.op == op; }),
            q.end());
  }

  // Fails with kCancelled (`why`) every waiter of the requests and store
  // reads of keys starting with `prefix` ("": all); the requests stop
  // (CancelRequest) and the reads' records will be ignored.
  void CancelWaiters(const std::string& prefix, const char* why, Instant now) {
    auto in_scope = [&](const std::string& key) { return key.compare(0, prefix.size(), prefix) == 0; };
    std::vector<Waiter> cancelled;
    for (auto it = flights.begin(); it != flights.end();) {
      if (!in_scope(it->first)) {
        ++it;
        continue;
      }
      Flight& f = it->second;
      flight_key_by_op.erase(f.op);
      CancelRequest(f.op, f.lane);
      for (auto& w : f.waiters) cancelled.push_back(std::move(w));
      it = flights.erase(it);
    }
    for (auto it = store_reads.begin(); it != store_reads.end();) {
      if (!in_scope(it->first)) {
        ++it;
        continue;
      }
      for (auto& w : it->second.waiters) cancelled.push_back(std::move(w));
      it = store_reads.erase(it);
    }
    for (auto& w : cancelled) Fail(w, Status::Cancelled(why), now);
  }

  // Reads a get's Cache-Control (or Pragma, RFC 9111 5.4) into its mode and
  // limits: no-cache makes a default get kNoCache; only-if-cached makes
  // force-cache kOnlyIfCached and keeps a default or no-cache get from the
  // origin (reload and no-store, which ask for the origin, ignore it);
  // max-age, min-fresh, max-stale and no-store become RequestLimits (an
  // explicit force-cache or only-if-cached mode ignores the times).
  // Malformed directives are counted in malformed_headers.
  void ReadRequestDirectives(Waiter* w) {
    const CacheControl cc = RequestCacheControl(w->request.headers);
    metrics.malformed_headers += cc.malformed_count;
    CacheMode& mode = w->request.mode;
    RequestLimits& l = w->limits;
    if (cc.no_cache && mode == CacheMode::kDefault) mode = CacheMode::kNoCache;
    if (cc.only_if_cached) {
      if (mode == CacheMode::kForceCache) {
        mode = CacheMode::kOnlyIfCached;
      } else if (mode == CacheMode::kDefault || mode == CacheMode::kNoCache) {
        l.only_if_cached = true;
      }
    }
    if (cc.max_age_s) l.max_age_ms = *cc.max_age_s * 1000;
    if (cc.min_fresh_s) l.min_fresh_ms = *cc.min_fresh_s * 1000;
    if (cc.max_stale_s) l.max_stale_ms = *cc.max_stale_s * 1000;
    l.no_store = cc.no_store;
  }

  void ServeStored(Waiter w, EntryPtr entry, Source source, Instant now) {
    if (w.prefetch) {
      // Cache population, not freshness enforcement: what is stored stays.
      Deliver(w, CacheState::kFresh, source, std::move(entry), now, false);
      return;
    }
    const CacheMode mode = w.request.mode;
    if (mode == CacheMode::kForceCache || mode == CacheMode::kOnlyIfCached) {
      // Whatever is held, at any age, labelled by its freshness; nothing
      // revalidates (fetch()'s force-cache).
      bool fresh = Evaluate(*entry, PolicyFor(entry->url), now).verdict == Verdict::kFresh;
      Deliver(w, fresh ? CacheState::kFresh : CacheState::kStale, source, std::move(entry), now,
              false);
      return;
    }
    const bool limited = w.limits.max_age_ms >= 0 || w.limits.min_fresh_ms >= 0;
    if (mode != CacheMode::kNoCache && !limited && entry->prefetched &&
        PrefetchGraceAllows(*entry, now)) {
      // The first read of a just-preheated entry: it left the origin moments
      // ago, so revalidating now would only double the request.
      auto used = std::make_shared<CacheEntry>(*entry);
      used->prefetched = false;
      if (memory.Peek(entry->key) == entry) memory.Put(used);
      Deliver(w, CacheState::kFresh, source, std::move(used), now, false);
      return;
    }
    const RoutePolicy& policy = PolicyFor(entry->url);
    Evaluation ev = Evaluate(*entry, policy, now);
    // kNoCache: validated first, as a stored response that must be.
    if (mode == CacheMode::kNoCache) ev.verdict = Verdict::kMustValidate;
    ApplyRequestLimits(w, *entry, policy, &ev);
    if (w.limits.only_if_cached) {
      // Never the origin, not even to revalidate in the background.
      if (ev.verdict == Verdict::kMustValidate) {
        metrics.misses++;
        Fail(w, Status::NotFound("cached but not usable without the origin (only-if-cached): " +
                                 w.request.url), now);
        return;
      }
      Deliver(w, ev.verdict == Verdict::kFresh ? CacheState::kFresh : CacheState::kStale, source,
              std::move(entry), now, false);
      return;
    }
    // `revalidating` only for a revalidation that will complete: one the
    // revalidate lane's full queue refused is not (its waiters would wait
    // for a fetch that never comes). A no-store get starts none: it would
    // send the get's headers (no-store among them) and keep the answer,
    // which RFC 9111 5.2.1.5 forbids; one already under way still counts.
    auto revalidate = [&]() {
      return w.limits.no_store ? flights.count(entry->key) > 0
                               : StartBackgroundRevalidation(w.request, entry, source, now);
    };
    if (ev.verdict == Verdict::kFresh) {
      bool revalidating =
          policy.revalidate_after_serving && !entry->freshness.immutable && revalidate();
      Deliver(w, CacheState::kFresh, source, std::move(entry), now, revalidating);
    } else if (ev.verdict == Verdict::kServeStale) {
      bool revalidating = revalidate();
      Deliver(w, CacheState::kStale, source, std::move(entry), now, revalidating);
    } else {
      w.stale = entry;
      w.stale_source = source;
      Lane lane = w.request.lane;
      JoinOrStartFlight(std::move(w), entry, source, lane, now);
    }
  }

  // A get's request directives (RFC 9111 5.2.1) on the verdict for `e`:
  // max-age and min-fresh narrow what is served without the origin (which
  // then must answer: origin_required); max-stale widens it to stale
  // entries the response lets be served stale at all (not no-cache or
  // must-revalidate ones, not invalidated ones, and within the route's
  // maximum stale age).
  static void ApplyRequestLimits(Waiter& w, const CacheEntry& e, const RoutePolicy& policy,
                                 Evaluation* ev) {
    RequestLimits& l = w.limits;
    if ((l.max_age_ms >= 0 && ev->age_ms > l.max_age_ms) ||
        (l.min_fresh_ms >= 0 &&
         (ev->verdict != Verdict::kFresh || ev->staleness_ms + l.min_fresh_ms > 0))) {
      ev->verdict = Verdict::kMustValidate;
      l.origin_required = true;
      return;
    }
    // max-age without a max-stale that covers the staleness: the client
    // does not wish to receive a stale response (RFC 9111 5.2.1.1), not
    // even one stale-while-revalidate would serve.
    if (l.max_age_ms >= 0 && ev->verdict == Verdict::kServeStale &&
        !(l.max_stale_ms >= 0 && ev->staleness_ms <= l.max_stale_ms)) {
      ev->verdict = Verdict::kMustValidate;
    }
    // Not an invalidated entry either: it needs validation before it is
    // served (RFC 9111 4.4), beyond what Evaluate's window allows.
    const bool validate_always = e.freshness.no_cache && !policy.max_age_ms;
    if (l.max_stale_ms >= 0 && ev->verdict == Verdict::kMustValidate &&
        w.request.mode == CacheMode::kDefault && !e.freshness.must_revalidate &&
        !validate_always && !e.invalidated && ev->staleness_ms <= l.max_stale_ms &&
        WithinMaxStale(policy, ev->staleness_ms)) {
      ev->verdict = Verdict::kServeStale;
    }
  }

  // ---- network ---------------------------------------------------------------

  // Whether a request for `base`'s key is on its way: one already in
  // flight, or one started or queued now (false: the lane's queue is full).
  bool StartBackgroundRevalidation(const CacheRequest& request, const EntryPtr& base,
                                   Source source, Instant now) {
    if (flights.count(base->key)) return true;  // one request per key
    // The cache's own request, not the get's: its request directives
    // (max-stale, say) would let a cache on the way answer it stale.
    Headers headers = request.headers;
    headers.Remove("cache-control");
    headers.Remove("pragma");
    return StartFlight(base->key, base->url, headers, Lane::kRevalidate, base, source, {}, now);
  }

  // Nothing held answers `w`: the origin's answer, or for kOnlyIfCached
  // kNotFound.
  void ServeMiss(Waiter w, Instant now) {
    if (w.request.mode == CacheMode::kOnlyIfCached || w.limits.only_if_cached) {
      if (!w.prefetch) metrics.misses++;
      Fail(w, Status::NotFound("not cached (only-if-cached): " + w.request.url), now);
      return;
    }
    Lane lane = w.request.lane;
    JoinOrStartFlight(std::move(w), nullptr, Source::kNetwork, lane, now);
  }

  void JoinOrStartFlight(Waiter w, EntryPtr base, Source base_source, Lane lane,
                         Instant now) {
    const std::string key = w.key;
    // A no-store get has a request of its own: it joins no other (whose
    // answer, a 304 included, is kept and may come from the tiers), and
    // none joins it (a get's, a prefetch's or a revalidation's answer would
    // be kept nowhere; the preheater would take the key for in flight).
    const bool no_store = w.limits.no_store;
    auto it = no_store ? flights.end() : flights.find(key);
    // A reload joins only an unconditional request: a conditional one's 304
    // would answer it from the tiers. Else it too has a request of its own
    // (whose answer is kept).
    bool own = no_store;
    if (it != flights.end() && w.request.mode == CacheMode::kReload && it->second.base) {
      it = flights.end();
      own = true;
    }
    if (it != flights.end()) {
      Flight& f = it->second;
      if (f.waiters.size() >= options.waiters_per_key_max) {
        Fail(w, Status::LimitReached("too many requests waiting for " + key), now);
        return;
      }
      metrics.coalesced++;
      f.waiters.push_back(std::move(w));
      if (lane < f.lane) Promote(f, lane);
      return;
    }
    std::string url = key.substr(key.find(' ') + 1);
    Headers headers = w.request.headers;
    // A no-store get's request is unconditional: a 304 would be answered
    // from (and update) what is stored.
    if (no_store) base = nullptr;
    std::vector<Waiter> waiters;
    waiters.push_back(std::move(w));
    StartFlight(key, url, headers, lane, std::move(base), base_source, std::move(waiters), now,
                no_store, own);
  }

  // Starts or queues a request for `key`; false when the lane's queue is
  // full (its waiters then fail with kLimitReached). An `own` flight (a
  // no-store get's, or a reload's beside a conditional request) is filed in
  // `flights` under a key of its own (OwnFlightKey), so that nothing finds
  // it by `key` to join it, and `key`'s one flight is free.
  bool StartFlight(const std::string& key, const std::string& url, const Headers& headers,
                   Lane lane, EntryPtr base, Source base_source, std::vector<Waiter> waiters,
                   Instant now, bool no_store = false, bool own = false) {
    Flight f;
    f.op = next_op++;
    f.key = key;
    f.no_store = no_store;
    f.url = url;
    f.request_headers = headers;
    f.lane = lane;
    f.base = std::move(base);
    f.base_source = base_source;
    f.request_time = now;
    f.waiters = std::move(waiters);

    HttpRequest req;
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    // The app's own conditionals would make the origin answer 304 to a
    // request we cannot complete from storage.
    for (const char* name : {"if-none-match", "if-modified-since", "if-match",
                             "if-unmodified-since", "if-range", "range"}) {
      req.headers.Remove(name);
    }
    if (f.base) {
      AddConditionalHeaders(f.base->headers, &req.headers);
      metrics.revalidations++;
    }
    req.lane = lane;
    req.max_body_bytes = options.response_max_bytes;
    req.timeout_ms = options.request_timeout_ms;

    OpId op = f.op;
    const std::string filed_key = own ? OwnFlightKey(key, op) : key;
    flight_key_by_op[op] = filed_key;
    auto inserted = flights.emplace(filed_key, std::move(f));
    if (!StartOrQueue(op, std::move(req))) {
      Flight failed = std::move(inserted.first->second);
      flights.erase(inserted.first);
      flight_key_by_op.erase(op);
      for (Waiter& w : failed.waiters) {
        Fail(w, Status::LimitReached(std::string(LaneName(lane)) + " queue is full"), now);
      }
      return false;
    }
    return true;
  }

  // Where an own flight is filed in `flights`: after `key` (prefix scopes
  // such as Clear's still reach it), with a NUL no key holds.
  static std::string OwnFlightKey(const std::string& key, OpId op) {
    return key + std::string(1, '\0') + std::to_string(op);
  }

  // Returns false when the lane's queue is full.
  bool StartOrQueue(OpId op, HttpRequest req) {
    int lane = static_cast<int>(req.lane);
    if (inflight[lane] < options.lanes[lane].inflight_max && lane_queue[lane].empty()) {
      StartNow(op, std::move(req));
      return true;
    }
    if (lane_queue[lane].size() >= options.lanes[lane].queue_max) {
      metrics.queue_rejected++;
      return false;
    }
    lane_queue[lane].push_back({op, std::move(req)});
    return true;
  }

  void StartNow(OpId op, HttpRequest req) {
    int lane = static_cast<int>(req.lane);
    inflight[lane]++;
    started_lane_by_op[op] = req.lane;
    metrics.requests++;
    metrics.requests_by_lane[lane]++;
    auto it = flight_key_by_op.find(op);
    if (it != flight_key_by_op.end()) {
      auto f = flights.find(it->second);
      if (f != flights.end()) f->second.request_time = pending_now;
    }
    std::weak_ptr<bool> alive_token = alive;
    fetcher->Start(op, req, [this, alive_token](OpId done_op, Instant now,
                                                Result<HttpResponse> result) {
      if (alive_token.expired()) return;
      OnFetchDone(done_op, now, std::move(result));
    });
  }

  // Moves a queued flight to a higher lane (a navigation joined a preheat).
  void Promote(Flight& f, Lane to) {
    int from = static_cast<int>(f.lane);
    auto& q = lane_queue[from];
    for (auto it = q.begin(); it != q.end(); ++it) {
      if (it->op != f.op) continue;
      HttpRequest req = std::move(it->request);
      q.erase(it);
      req.lane = to;
      f.lane = to;
      int lane = static_cast<int>(to);
      if (inflight[lane] < options.lanes[lane].inflight_max && lane_queue[lane].empty()) {
        StartNow(f.op, std::move(req));
      } else {
        // Jump the queue: it already waited in a lower lane.
        lane_queue[lane].push_front({f.op, std::move(req)});
      }
      return;
    }
    // Already on the wire: it cannot change lanes; the waiter just waits.
  }

  void Pump() {
    for (int lane = 0; lane < kLaneCount; ++lane) {
      while (!lane_queue[lane].empty() && inflight[lane] < options.lanes[lane].inflight_max) {
        QueuedStart next = std::move(lane_queue[lane].front());
        lane_queue[lane].pop_front();
        StartNow(next.op, std::move(next.request));
      }
    }
  }

  // The time of the call that is starting requests (Pump runs inside entry
  // points and completions, which all carry `now`).
  Instant pending_now;

  void OnFetchDone(OpId op, Instant now, Result<HttpResponse> result) {
    pending_now = now;
    auto lane_it = started_lane_by_op.find(op);
    if (lane_it != started_lane_by_op.end()) {
      inflight[static_cast<int>(lane_it->second)]--;
      started_lane_by_op.erase(lane_it);
    }
    auto m = mutations.find(op);
    if (m != mutations.end()) {
      Mutation mutation = std::move(m->second);
      mutations.erase(m);
      OnMutationDone(std::move(mutation), now, std::move(result));
    } else {
      auto k = flight_key_by_op.find(op);
      if (k != flight_key_by_op.end()) {
        std::string key = std::move(k->second);
        flight_key_by_op.erase(k);
        auto f = flights.find(key);
        if (f != flights.end()) {
          Flight flight = std::move(f->second);
          flights.erase(f);
          OnFlightDone(std::move(flight), now, std::move(result));
        }
      }
    }
    Pump();
  }

  void OnFlightDone(Flight flight, Instant now, Result<HttpResponse> result) {
    if (!result.ok()) {
      if (result.status().code() != Code::kCancelled) metrics.network_errors++;
      FailFlight(flight, result.status(), nullptr, now);
      return;
    }
    HttpResponse& resp = result.value();
    if (resp.status == 304) {
      if (!flight.base) {
        metrics.http_errors++;
        FailFlight(flight, Status::HttpError("304 to an unconditional request"), nullptr, now);
        return;
      }
      if (!NotModifiedMatches(resp.headers, flight.base->headers)) {
        // A 304 for another representation (RFC 9111 4.3.4: it must not
        // update this one): ask again without conditions.
        metrics.http_errors++;
        RefetchUnconditionally(std::move(flight), now);
        return;
      }
      metrics.not_modified++;
      auto updated = std::make_shared<CacheEntry>(*flight.base);
      UpdateStoredHeadersFrom304(resp.headers, &updated->headers);
      // RFC 9110 6.6.1: a response without Date is dated on receipt. The
      // stored Date (the earlier response's) goes: without one, the date
      // is response_time, to the millisecond (a Date header added here
      // would round it down to the second, up to 999 ms of age at once).
      if (!resp.headers.Has("Date")) updated->headers.Remove("Date");
      // Age too (RFC 9111 4.2.3): it is the age of the response carrying
      // it, and a 304 without one has none to speak of. The stored Age
      // aged the old response at its receipt; kept beside the 304's
      // receipt time it would age the refreshed entry by as much again.
      if (!resp.headers.Has("Age")) updated->headers.Remove("Age");
      updated->request_time = flight.request_time;
      updated->response_time = now;
      updated->invalidated = flight.invalidated;
      updated->Finalize(options.freshness);
      updated->vary_values = SelectVaryValues(updated->vary, flight.request_headers);
      // The tag header may be among the fields the 304 replaced.
      updated->tags = ParseTagList(updated->headers, options.tag_header);
      metrics.malformed_headers += updated->freshness.malformed_count;
      EntryPtr entry = updated;
      const CacheControl updated_cc =
          ParseCacheControl(updated->headers.GetCombined("cache-control").value_or(""));
      // RFC 9111 4.3.4: a 304 updates the stored response its validators
      // identify, none other. A response of another representation kept
      // while it was on the wire (a reload's own request) is newer than
      // what the 304 confirmed, and stays (in memory or not).
      const bool newer_stored =
          flight.newer_kept && !SameRepresentation(*flight.newer_kept, *flight.base);
      if (MayKeep(flight) && !newer_stored) {
        if (IsStorable("GET", updated->status, updated->headers, updated_cc)) {
          Keep(entry, now);
        } else {
          Forget(flight.key, now);
        }
      }
      for (Waiter& w : flight.waiters) {
        if (!Answers(*entry, flight, w)) {
          Retry(std::move(w), now);
          continue;
        }
        Deliver(w, CacheState::kRevalidated, w.stale ? w.stale_source : flight.base_source,
                entry, now, false);
      }
      RefetchIfAsked(flight, now);
      return;
    }
    if (resp.status >= 400) metrics.http_errors++;
    auto fresh = std::make_shared<CacheEntry>();
    fresh->key = flight.key;
    fresh->url = flight.url;
    fresh->status = resp.status;
    fresh->headers = StorableHeaders(resp.headers);
    fresh->body = std::move(resp.body);
    fresh->request_time = flight.request_time;
    fresh->response_time = now;
    fresh->prefetched = OnlyPrefetch(flight);
    fresh->invalidated = flight.invalidated;
    fresh->Finalize(options.freshness);
    fresh->vary_values = SelectVaryValues(fresh->vary, flight.request_headers);
    fresh->tags = ParseTagList(fresh->headers, options.tag_header);
    metrics.malformed_headers += fresh->freshness.malformed_count + fresh->vary.malformed_count;
    EntryPtr entry = fresh;

    if (IsErrorForStaleIfError(resp.status)) {
      FailFlight(flight, Status::Ok(), entry, now);
      return;
    }
    CacheControl cc = ParseCacheControl(resp.headers.GetCombined("cache-control").value_or(""));
    const RoutePolicy& policy = PolicyFor(flight.url);
    bool storable = IsStorable("GET", resp.status, fresh->headers, cc) && !policy.no_store &&
                    !fresh->vary.matches_nothing;
    bool too_large = entry->body.size() > options.entry_max_bytes;
    EntryPtr old = memory.Peek(flight.key);
    if (!old) old = flight.base;
    bool changed = old && !SameRepresentation(*old, *entry);
    // A speculative prefetch keeps no error status, though RFC 9111 lets
    // some be stored (a 429 with max-age): nobody asked for it, and the
    // user's navigation would then be served it as fresh.
    // A response kept while this one was on the wire, to a request sent no
    // earlier (a reload's own), is the newer: this late one must not
    // replace it (as a late 304 does not, above).
    const bool newer_stored =
        flight.newer_kept && flight.newer_kept->request_time >= flight.request_time;
    if (!MayKeep(flight) || flight.no_store || newer_stored ||
        (fresh->prefetched && resp.status >= 400)) {
      changed = false;  // what the tiers hold stays as it is
    } else if (storable && !too_large) {
      Keep(entry, now);
      // A conditional request for the key still on the wire must not put
      // its base back with a late 304 (see newer_stored).
      if (auto other = flights.find(flight.key); other != flights.end() && other->second.base) {
        other->second.newer_kept = entry;
      }
    } else if (resp.status == 429 || resp.status == 408) {
      // The origin asks to be left alone a while (Too Many Requests) or
      // gave up waiting (Request Timeout): no news about the resource, so
      // what the tiers hold stays. The waiters get the answer itself.
      metrics.not_stored++;
      changed = false;
    } else {
      (too_large ? metrics.too_large : metrics.not_stored)++;
      Forget(flight.key, now);
    }
    if (changed && flight.base) metrics.revalidations_changed++;
    if (changed) Notify(flight.key, entry, now);
    for (Waiter& w : flight.waiters) {
      if (!Answers(*entry, flight, w)) {
        Retry(std::move(w), now);
        continue;
      }
      Deliver(w, CacheState::kMiss, Source::kNetwork, entry, now, false);
    }
    RefetchIfAsked(flight, now);
  }

  // Whether a flight's response may go into the tiers: not after its key
  // was removed while it was on the wire, nor after a write was confirmed
  // meanwhile (a new request follows), nor over the optimistic entry of a
  // write still in flight: the pre-write version would flash back.
  bool MayKeep(const Flight& flight) const {
    if (flight.removed || flight.refetch) return false;
    EntryPtr current = memory.Peek(flight.key);
    if (!current) return true;
    for (const auto& [op, m] : mutations) {
      if (m.key == flight.key && m.optimistic == current) return false;
    }
    return true;
  }

  // A flight completed whose key a confirmed write invalidated meanwhile:
  // ask once more (conditionally on the flight's base, if any), unless
  // another request for the key started since.
  void RefetchIfAsked(const Flight& flight, Instant now) {
    if (!flight.refetch || flights.count(flight.key)) return;
    StartFlight(flight.key, flight.url, flight.request_headers, Lane::kRevalidate, flight.base,
                flight.base_source, {}, now);
  }

  // Repeats a conditional flight without its conditions, for its waiters
  // (each keeps its stale entry for stale-if-error). A 304 to it is an
  // error (OnFlightDone), so this happens once per flight.
  void RefetchUnconditionally(Flight flight, Instant now) {
    Flight again = std::move(flight);
    EntryPtr base = std::move(again.base);
    for (Waiter& w : again.waiters) {
      if (!w.stale) {
        w.stale = base;
        w.stale_source = again.base_source;
      }
    }
    again.base_source = Source::kNetwork;
    // (A no-store flight is unconditional: never here.)
    bool started = StartFlight(again.key, again.url, again.request_headers, again.lane, nullptr,
                               Source::kNetwork, std::move(again.waiters), now);
    if (started) {
      Flight& f = flights.at(again.key);
      f.invalidated = again.invalidated;
      f.removed = again.removed;
      f.refetch = again.refetch;
    }
  }

  // A flight only prefetches when every waiter is a prefetch (a get that
  // joined it is a real read).
  static bool OnlyPrefetch(const Flight& f) {
    if (f.waiters.empty()) return false;
    for (const Waiter& w : f.waiters) {
      if (!w.prefetch) return false;
    }
    return true;
  }

  // A coalesced waiter whose request selects another Vary variant than the
  // one that arrived: it needs its own request, which starts now that the
  // key has no request in flight (so there is still one per key).
  void Retry(Waiter w, Instant now) {
    Lane lane = w.request.lane;
    EntryPtr stale = w.stale;
    Source source = w.stale_source;
    JoinOrStartFlight(std::move(w), stale, source, lane, now);
  }

  // The origin failed: with `error` (network) or an error response `errored`
  // (5xx). Each waiter gets its stale entry if stale-if-error allows it, or
  // the error response, or the error.
  void FailFlight(Flight& flight, Status error, const EntryPtr& errored, Instant now) {
    for (Waiter& w : flight.waiters) {
      EntryPtr stale = w.stale;
      if (!stale && flight.base && VaryMatches(*flight.base, w.request.headers)) {
        stale = flight.base;
      }
      // The request asked for the origin's answer: no stand-in. Nor when
      // the key was removed while the request was on the wire (Invalidate
      // kRemove): the held entry was forgotten.
      if (w.limits.origin_required || flight.removed) {
        stale = nullptr;
      }
      if (stale && StaleIfErrorAllows(*stale, now)) {
        Deliver(w, CacheState::kStaleIfError, w.stale ? w.stale_source : flight.base_source,
                stale, now, false);
      } else if (errored) {
        Deliver(w, CacheState::kMiss, Source::kNetwork, errored, now, false);
      } else {
        Fail(w, error, now);
      }
    }
  }

  // ---- tiers -----------------------------------------------------------------

  // Puts an entry into memory and (write-behind) the store.
  void Supersede(const std::string& key) {
    auto it = store_reads.find(key);
    if (it != store_reads.end()) it->second.superseded = true;
  }

  void Keep(const EntryPtr& entry, Instant now) {
    Supersede(entry->key);
    memory.Put(entry);
    if (!StoreUsable()) return;
    if (entry->ChargeBytes() > options.store_max_bytes) {
      QueueWrite(entry->key, {StoreWrite::Kind::kRemove, nullptr, now}, now);
      return;
    }
    QueueWrite(entry->key, {StoreWrite::Kind::kPut, entry, now}, now);
  }

  void Forget(const std::string& key, Instant now) {
    Supersede(key);
    memory.Erase(key);
    if (StoreUsable()) QueueWrite(key, {StoreWrite::Kind::kRemove, nullptr, now}, now);
  }

  void QueueWrite(const std::string& key, PendingWrite write, Instant now) {
    const bool known_wrong = write.kind == StoreWrite::Kind::kRemove ||
                             (write.kind == StoreWrite::Kind::kPut && write.entry &&
                              write.entry->invalidated);
    // One descent of the tree: the position found also places a new write.
    auto it = pending.lower_bound(key);
    if (it == pending.end() || it->first != key) {
      if (pending.size() >= options.pending_writes_max &&
          write.kind != StoreWrite::Kind::kRemove) {
        // Bounded: the put is dropped, and its entry leaves memory too, so
        // that whatever a tier holds is durable after the next Flush. (A
        // remove is never dropped: the store would keep serving what was
        // meant to go.) The next Flush reports the drop.
        if (write.kind == StoreWrite::Kind::kPut) memory.Erase(key);
        metrics.writes_dropped++;
        writes_dropped_since_flush++;
        if (!known_wrong) return;
        // An invalidation's mark says the stored record is wrong: it goes
        // as a removal instead (never dropped), or the store would keep
        // serving the unmarked record, fresh by its own lifetime.
        write = PendingWrite{StoreWrite::Kind::kRemove, nullptr, now, nullptr};
      }
      pending.emplace_hint(it, key, std::move(write));
    } else if (write.kind == StoreWrite::Kind::kTouch) {
      if (it->second.kind == StoreWrite::Kind::kTouch) it->second.touch = write.touch;
      // A pending put or remove already says more than a touch.
    } else {
      it->second = std::move(write);
    }
    if (known_wrong) forget_on_degrade.insert(key);
    if (pending_since.IsNever()) pending_since = now;
    if (pending.size() >= options.write_batch_max) StartBatch(now);
  }

  StoreRecord RecordOf(const CacheEntry& e, Instant last_access) const {
    StoreRecord r;
    r.key = e.key;
    r.value = EncodeEntry(e);
    std::string ns = NamespaceOfKey(e.key);
    for (const auto& tag : e.tags) r.tags.push_back(StoreTag(ns, tag));
    r.last_access = last_access;
    return r;
  }

  void StartBatch(Instant now) {
    if (write_inflight || pending.empty() || !StoreUsable()) return;
    std::vector<StoreWrite> batch;
    batch.reserve(std::min<size_t>(pending.size(), options.write_batch_max));
    while (!pending.empty() && batch.size() < options.write_batch_max) {
      auto node = pending.extract(pending.begin());
      StoreWrite w;
      w.kind = node.mapped().kind;
      if (w.kind == StoreWrite::Kind::kPut && node.mapped().blob) {
        w.record.key = node.key();
        w.record.value = *node.mapped().blob;
        w.record.last_access = kBlobLastAccess;
      } else if (w.kind == StoreWrite::Kind::kPut) {
        w.entry = node.mapped().entry;
        w.record = RecordOf(*w.entry, now);
        w.fresh_until = PlainFreshUntil(*w.entry);
      } else {
        w.record.key = node.key();
        w.record.last_access = node.mapped().touch;
      }
      if (!forget_on_degrade.empty() && forget_on_degrade.count(w.record.key)) {
        batch_keys.push_back(w.record.key);
      }
      batch.push_back(std::move(w));
    }
    pending_since = pending.empty() ? Instant::Never() : now;
    write_inflight = true;
    size_t count = batch.size();
    std::weak_ptr<bool> alive_token = alive;
    store->Write(next_op++, std::move(batch),
                 [this, alive_token, count](OpId, Instant done_now, Result<StoreUsage> usage) {
                   if (alive_token.expired()) return;
                   OnBatchDone(count, done_now, std::move(usage));
                 });
  }

  void OnBatchDone(size_t count, Instant now, Result<StoreUsage> usage) {
    pending_now = now;
    write_inflight = false;
    if (!usage.ok()) {
      Degrade(usage.status());
      return;
    }
    for (const std::string& key : batch_keys) {
      if (!pending.count(key)) forget_on_degrade.erase(key);  // the store has this session's
    }
    batch_keys.clear();
    metrics.batches_written++;
    metrics.records_written += count;
    SetStoreUsage(*usage);
    MaybeEvictStore();
    if (!pending.empty() && (flushing || pending.size() >= options.write_batch_max ||
                             ElapsedMs(pending_since, now) >= options.write_delay_ms)) {
      StartBatch(now);
    }
    ResolveFlushIfSettled();
  }

  // Whether everything asked of the store so far is done: no write pending
  // or in flight, no removal in flight (what Flush waits for).
  bool StoreSettled() const { return pending.empty() && !write_inflight && removes_inflight == 0; }

  // Completes the waiting Flushes once the store has settled. Only a
  // Flush's waiters are told: batches that drain on their own leave the
  // count of dropped writes for the next Flush to report.
  void ResolveFlushIfSettled() {
    if (StoreSettled() && !flush_waiters.empty()) ResolveFlushWaiters(Status::Ok());
  }

  // Removes what `selector` matches from the store, attempt `attempt` of
  // kRemoveAttemptsMax. A failed attempt is tried again at once (the retry
  // is ordered after whatever was started meanwhile, which it may remove
  // too: those are matching entries written since, refetched when asked
  // for). When every attempt fails, entries the app meant to forget (a
  // logout's) are left: stop trusting the store rather than serve them.
  // In removes_inflight from the first attempt to the last (Flush waits).
  void RemoveFromStore(const StoreSelector& selector, int attempt) {
    if (attempt == 1) removes_inflight++;
    std::weak_ptr<bool> alive_token = alive;
    store->RemoveMatching(next_op++, selector,
                          [this, alive_token, selector, attempt](OpId, Instant done_now,
                                                                 Result<uint64_t> removed) {
                            if (alive_token.expired()) return;
                            pending_now = done_now;
                            if (!removed.ok() && attempt < kRemoveAttemptsMax && StoreUsable()) {
                              metrics.store_errors++;
                              RemoveFromStore(selector, attempt + 1);
                              return;
                            }
                            removes_inflight--;
                            if (!removed.ok()) {
                              Degrade(removed.status());
                              return;
                            }
                            // The usage it reports (metrics) drops now, not
                            // at the next write: learnt as Start does, the
                            // bytes removed not counted as evicted.
                            if (*removed > 0 && !evict_inflight && StoreUsable()) {
                              StartEvict(options.store_max_bytes, options.store_max_entries,
                                         false);
                            }
                            ResolveFlushIfSettled();
                          });
  }

  // After a failure the store cannot be trusted to take writes: keep
  // serving from memory and say so in the metrics.
  void Degrade(const Status& why) {
    metrics.store_errors++;
    metrics.store_degraded = true;
    metrics.store_degraded_reason = why.ToString();
    ForgetOnDegrade();
    pending.clear();
    pending_since = Instant::Never();
    ResolveFlushWaiters(why);
  }

  // The writes a degraded store will not get are dropped. Most may go: the
  // store keeps an older version, which the next session serves by its own
  // freshness, as HTTP allows. Not a record this session knew to be wrong
  // (forget_on_degrade: a confirmed write's target, an invalidation's
  // mark, a removal): the next session would serve it, as fresh if its
  // lifetime says so. Those keys go from the store in one last batch of
  // removals only (a disk or quota that is full still takes deletions).
  // Tried once, counted in store_errors when it fails.
  void ForgetOnDegrade() {
    batch_keys.clear();
    if (forget_on_degrade.empty() || !store) return;
    std::vector<StoreWrite> batch;
    batch.reserve(forget_on_degrade.size());
    for (const std::string& key : forget_on_degrade) {
      StoreWrite w;
      w.kind = StoreWrite::Kind::kRemove;
      w.record.key = key;
      batch.push_back(std::move(w));
    }
    forget_on_degrade.clear();
    metrics.degrade_removals += batch.size();
    std::weak_ptr<bool> alive_token = alive;
    store->Write(next_op++, std::move(batch),
                 [this, alive_token](OpId, Instant done_now, Result<StoreUsage> usage) {
                   if (alive_token.expired()) return;
                   pending_now = done_now;
                   if (!usage.ok()) metrics.store_errors++;
                 });
  }

  void ResolveFlushWaiters(Status status) {
    flushing = false;
    if (status.ok() && writes_dropped_since_flush > 0) {
      status = Status::LimitReached(std::to_string(writes_dropped_since_flush) +
                                    " writes were dropped: more than pending_writes_max waited");
    }
    writes_dropped_since_flush = 0;
    std::vector<StatusDone> waiters;
    waiters.swap(flush_waiters);
    for (auto& done : waiters) done(status);
  }

  void SetStoreUsage(const StoreUsage& usage) {
    metrics.store_bytes = usage.bytes;
    metrics.store_entries = usage.entries;
  }

  void MaybeEvictStore() {
    if (evict_inflight || !StoreUsable()) return;
    if (metrics.store_bytes <= options.store_max_bytes &&
        metrics.store_entries <= options.store_max_entries) {
      return;
    }
    StartEvict(static_cast<uint64_t>(options.store_max_bytes * options.store_evict_to_fraction),
               static_cast<uint64_t>(options.store_max_entries * options.store_evict_to_fraction));
  }

  // count_evicted: what usage dropped by since the last report counts in
  // store_evicted_bytes (false after a removal, which dropped it too).
  void StartEvict(uint64_t target_bytes, uint64_t target_entries, bool count_evicted = true) {
    evict_inflight = true;
    uint64_t before = count_evicted ? metrics.store_bytes : 0;
    std::weak_ptr<bool> alive_token = alive;
    store->Evict(next_op++, target_bytes, target_entries,
                 [this, alive_token, before](OpId, Instant, Result<StoreUsage> usage) {
                   if (alive_token.expired()) return;
                   evict_inflight = false;
                   if (!usage.ok()) {
                     metrics.store_errors++;
                     return;
                   }
                   if (before > usage->bytes) metrics.store_evicted_bytes += before - usage->bytes;
                   SetStoreUsage(*usage);
                 });
  }

  // ---- store reads -------------------------------------------------------

  void ReadFromStore(Waiter w, const std::string& key, Instant now) {
    auto [it, inserted] = store_reads.try_emplace(key);  // one lookup either way
    if (!inserted) {
      metrics.coalesced++;
      it->second.waiters.push_back(std::move(w));
      return;
    }
    StoreRead& read = it->second;
    read.op = next_op++;
    read.waiters.push_back(std::move(w));
    metrics.store_reads++;
    std::weak_ptr<bool> alive_token = alive;
    store->Get(read.op, key,
               [this, alive_token, key](OpId op, Instant done_now, Result<StoreRecord> record) {
                 if (alive_token.expired()) return;
                 OnStoreRead(op, key, done_now, std::move(record));
               });
  }

  void OnStoreRead(OpId op, const std::string& key, Instant now, Result<StoreRecord> record) {
    pending_now = now;
    auto it = store_reads.find(key);
    if (it == store_reads.end() || it->second.op != op) return;  // cancelled by Clear()
    std::vector<Waiter> waiters = std::move(it->second.waiters);
    bool superseded = it->second.superseded;
    store_reads.erase(it);

    EntryPtr entry;
    Instant stored_access;  // the record's last access (see touch_interval_ms)
    if (superseded) {
      // Decided since the read started; memory (below) or the network knows better.
    } else if (record.ok()) {
      stored_access = record->last_access;
      auto decoded = DecodeEntry(record->value, options.freshness);
      if (decoded.ok() && decoded->key == key) {
        entry = std::make_shared<CacheEntry>(std::move(decoded).value());
      } else {
        // A bad record is dropped and counted; nothing else is lost.
        metrics.corrupt_records++;
        if (StoreUsable()) QueueWrite(key, {StoreWrite::Kind::kRemove, nullptr, now}, now);
      }
    } else if (!record.status().IsNotFound()) {
      metrics.store_errors++;
    }
    // A response that arrived while the store was reading is newer.
    if (EntryPtr newer = memory.Peek(key)) entry = newer;
    else if (entry) {
      memory.Put(entry);  // promotion
      if (StoreUsable() && ElapsedMs(stored_access, now) >= options.touch_interval_ms) {
        QueueWrite(key, {StoreWrite::Kind::kTouch, nullptr, now}, now);
      }
    }
    for (Waiter& w : waiters) {
      if (entry && VaryMatches(*entry, w.request.headers)) {
        ServeStored(std::move(w), entry, Source::kStore, now);
      } else {
        ServeMiss(std::move(w), now);
      }
    }
    Pump();
  }

  // ---- subscriptions and mutations -----------------------------------------

  void Notify(const std::string& key, const EntryPtr& entry, Instant now) {
    auto it = subs.find(key);
    if (it == subs.end()) return;
    auto subscribers = it->second;  // callbacks may (un)subscribe
    CacheResult r;
    r.state = CacheState::kFresh;
    r.source = Source::kNetwork;
    r.entry = entry;
    r.age_ms = entry ? CurrentAgeMs(entry->freshness, entry->response_time, now) : 0;
    r.stored = entry && (memory.Peek(key) == entry || InStoreOnly(r.source, *entry));
    for (auto& [id, fn] : subscribers) {
      metrics.notifications++;
      fn(r);
    }
  }

  // A copy of `e` marked invalidated (entries are shared and immutable):
  // served at most within its stale-while-revalidate window, then revalidated.
  static EntryPtr MarkedStale(const CacheEntry& e) {
    auto marked = std::make_shared<CacheEntry>(e);
    marked->invalidated = true;
    return marked;
  }

  // RFC 9111 4.4: marks what is stored for `key` stale, in both tiers, and
  // a response on the wire for it as possibly predating the write.
  void InvalidateKey(const std::string& key, Instant now) {
    if (auto f = flights.find(key); f != flights.end()) f->second.invalidated = true;
    if (EntryPtr e = memory.Peek(key); e && !e->invalidated) {
      Keep(MarkedStale(*e), now);
    } else if (!e) {
      Supersede(key);
      if (StoreUsable()) QueueWrite(key, {StoreWrite::Kind::kRemove, nullptr, now}, now);
    }
  }

  void OnMutationDone(Mutation m, Instant now, Result<HttpResponse> result) {
    bool ok = result.ok() && result->status >= 200 && result->status < 300;
    EntryPtr current = memory.Peek(m.key);
    if (ok) {
      // RFC 9111 4.4: a successful unsafe request invalidates the stored
      // response; the optimistic entry stays (marked stale) until the
      // revalidation brings the origin's version. Whatever else memory
      // holds for the key now (a response that arrived during the write)
      // is marked too, and a request already on the wire, which may have
      // been answered before the write, is followed by a new one.
      if (StoreUsable()) QueueWrite(m.key, {StoreWrite::Kind::kRemove, nullptr, now}, now);
      if (current && current != m.optimistic && !current->invalidated) {
        memory.Put(MarkedStale(*current));
      }
      auto flight = flights.find(m.key);
      if (flight != flights.end()) {
        flight->second.invalidated = true;
        flight->second.refetch = true;
      } else if (current) {
        StartFlight(m.key, m.optimistic->url, Headers(), Lane::kRevalidate, nullptr,
                    Source::kNetwork, {}, now);
      }
      if (!m.write_key.empty() && m.write_key != m.key) InvalidateKey(m.write_key, now);
      m.done(Status::Ok());
      return;
    }
    metrics.rollbacks++;
    // A later write of the key still in flight rolls back to what preceded
    // this one, never to this one's rejected value.
    for (auto& [op, other] : mutations) {
      if (other.previous == m.optimistic) other.previous = m.previous;
    }
    if (current == m.optimistic) {
      if (m.previous) {
        memory.Put(m.previous);
      } else {
        // Forgotten in both tiers, as subscribers are told: the store may
        // hold the key (memory held nothing before the write).
        Forget(m.key, now);
      }
      Notify(m.key, m.previous, now);
    }
    Status error = result.ok() ? Status::HttpError("write answered " + std::to_string(result->status))
                               : result.status();
    m.done(error);
  }
};

// ---- Engine -----------------------------------------------------------------

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Create(EngineOptions options, Store* store,
                                               Fetcher* fetcher, uint64_t seed) {
  if (fetcher == nullptr) return Status::InvalidArgument("a fetcher is required");
  for (int lane = 0; lane < kLaneCount; ++lane) {
    if (options.lanes[lane].inflight_max == 0) {
      return Status::InvalidArgument(std::string("lane ") + LaneName(static_cast<Lane>(lane)) +
                                     " needs inflight_max >= 1");
    }
  }
  if (options.write_batch_max == 0 || options.pending_writes_max == 0) {
    return Status::InvalidArgument("write_batch_max and pending_writes_max must be >= 1");
  }
  if (!(options.store_evict_to_fraction > 0 && options.store_evict_to_fraction <= 1)) {
    return Status::InvalidArgument("store_evict_to_fraction must be in (0, 1]");
  }
  auto impl = std::make_unique<Impl>(std::move(options), store, fetcher, seed);
  for (const RoutePolicy& policy : impl->options.routes) {
    auto pattern = RoutePattern::Parse(policy.pattern);
    if (!pattern.ok()) return pattern.status();
    impl->routes.emplace_back(std::move(pattern).value(), policy);
  }
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

void Engine::Start(Instant now) {
  Impl& d = *impl_;
  d.pending_now = now;
  if (!d.StoreUsable()) return;
  // Evicting down to the budget reports the usage: one call learns both.
  d.StartEvict(d.options.store_max_bytes, d.options.store_max_entries);
}

Result<std::string> Engine::KeyFor(const std::string& url, const std::string& namespace_name) {
  if (!ValidNamespace(namespace_name)) {
    return Status::InvalidArgument("namespace must match [A-Za-z0-9_.-]{0,64}");
  }
  auto normalized = NormalizeUrl(url);
  if (!normalized.ok()) return normalized.status();
  return NamespaceKeyPrefix(namespace_name) + *normalized;
}

std::string Engine::NamespaceKeyPrefix(const std::string& namespace_name) {
  return namespace_name + ' ';
}

Result<CacheResult> Engine::Peek(const CacheRequest& request, Instant now) {
  Impl& d = *impl_;
  d.metrics.peeks++;
  auto key = KeyFor(request.url, request.namespace_name);
  if (!key.ok()) {
    d.metrics.bad_requests++;
    return key.status();
  }
  EntryPtr entry = d.memory.Get(*key);
  if (!entry || !Impl::VaryMatches(*entry, request.headers)) {
    return Status::NotFound("not in the memory tier");
  }
  const RoutePolicy& policy = d.PolicyFor(entry->url);
  Impl::Evaluation ev = d.Evaluate(*entry, policy, now);
  // RFC 9111 4.2.4: must-revalidate and no-cache forbid serving it stale.
  if (ev.verdict != Impl::Verdict::kFresh &&
      (entry->freshness.must_revalidate || entry->freshness.no_cache)) {
    return Status::NotFound("stale, and its headers require validation");
  }
  if (ev.verdict != Impl::Verdict::kFresh && !Impl::WithinMaxStale(policy, ev.staleness_ms)) {
    return Status::NotFound("past its maximum stale age");
  }
  d.metrics.peek_hits++;
  CacheResult r;
  r.state = ev.verdict == Impl::Verdict::kFresh ? CacheState::kFresh : CacheState::kStale;
  r.source = Source::kMemory;
  r.age_ms = ev.age_ms;
  r.stored = true;
  r.entry = std::move(entry);
  return r;
}

void Engine::Get(const CacheRequest& request, Instant now, GetDone done) {
  impl_->metrics.gets++;
  GetOrPrefetch(request, now, std::move(done), /*prefetch=*/false);
}

void Engine::Prefetch(const CacheRequest& request, Instant now, GetDone done) {
  impl_->metrics.prefetches++;
  GetOrPrefetch(request, now, std::move(done), /*prefetch=*/true);
}

void Engine::GetOrPrefetch(const CacheRequest& request, Instant now, GetDone done,
                           bool prefetch) {
  Impl& d = *impl_;
  d.pending_now = now;
  auto key = KeyFor(request.url, request.namespace_name);
  Impl::Waiter w{request, key.ok() ? *key : std::string(), now, std::move(done), nullptr,
                 Source::kNetwork, prefetch};
  if (!key.ok()) {
    d.metrics.bad_requests++;
    d.Fail(w, key.status(), now);
    return;
  }
  if (prefetch) {
    w.request.mode = CacheMode::kDefault;  // a prefetch has its own rules
  } else {
    if (!request.headers.empty()) d.ReadRequestDirectives(&w);
    const CacheMode mode = w.request.mode;
    if (mode == CacheMode::kNoCache || mode == CacheMode::kReload ||
        mode == CacheMode::kNoStore) {
      w.limits.origin_required = true;
    }
    if (mode == CacheMode::kReload || mode == CacheMode::kNoStore) {
      if (mode == CacheMode::kNoStore) w.limits.no_store = true;
      d.JoinOrStartFlight(std::move(w), nullptr, Source::kNetwork, request.lane, now);
      return;
    }
  }
  if (EntryPtr entry = d.memory.Get(*key); entry && Impl::VaryMatches(*entry, request.headers)) {
    d.ServeStored(std::move(w), std::move(entry), Source::kMemory, now);
    return;
  }
  if (d.StoreUsable()) {
    auto pending = d.pending.find(*key);
    if (pending != d.pending.end() && pending->second.kind == StoreWrite::Kind::kPut) {
      // Read-your-writes: evicted from memory before its batch went out.
      EntryPtr entry = pending->second.entry;
      if (Impl::VaryMatches(*entry, request.headers)) {
        d.memory.Put(entry);
        d.ServeStored(std::move(w), std::move(entry), Source::kStore, now);
        return;
      }
    } else if (pending == d.pending.end() || pending->second.kind == StoreWrite::Kind::kTouch) {
      d.ReadFromStore(std::move(w), *key, now);
      return;
    }
  }
  d.ServeMiss(std::move(w), now);
}

Result<Engine::SubscriptionId> Engine::Subscribe(const std::string& key, Subscriber fn) {
  Impl& d = *impl_;
  if (d.sub_keys.size() + d.clear_watchers.size() >= d.options.subscribers_max) {
    return Status::LimitReached("too many subscriptions");
  }
  SubscriptionId id = d.next_sub++;
  d.subs[key].emplace_back(id, std::move(fn));
  d.sub_keys[id] = key;
  return id;
}

Result<Engine::SubscriptionId> Engine::WatchClears(ClearWatcher fn) {
  Impl& d = *impl_;
  if (d.sub_keys.size() + d.clear_watchers.size() >= d.options.subscribers_max) {
    return Status::LimitReached("too many subscriptions");
  }
  d.clear_watchers.emplace_back(d.next_sub, std::move(fn));
  return d.next_sub++;
}

void Engine::Unsubscribe(SubscriptionId id) {
  Impl& d = *impl_;
  auto& watchers = d.clear_watchers;
  watchers.erase(std::remove_if(watchers.begin(), watchers.end(),
                                [id](const auto& w) { return w.first == id; }),
                 watchers.end());
  auto it = d.sub_keys.find(id);
  if (it == d.sub_keys.end()) return;
  auto& list = d.subs[it->second];
  list.erase(std::remove_if(list.begin(), list.end(),
                            [id](const auto& sub) { return sub.first == id; }),
             list.end());
  if (list.empty()) d.subs.erase(it->second);
  d.sub_keys.erase(it);
}

Result<uint64_t> Engine::Invalidate(const InvalidateSelector& selector, InvalidateMode mode,
                                    Instant now) {
  Impl& d = *impl_;
  d.pending_now = now;
  if (!ValidNamespace(selector.namespace_name)) {
    return Status::InvalidArgument("namespace must match [A-Za-z0-9_.-]{0,64}");
  }
  const std::string ns_prefix = NamespaceKeyPrefix(selector.namespace_name);
  std::string key_or_prefix;
  StoreSelector store_selector;
  switch (selector.kind) {
    case InvalidateSelector::Kind::kUrl: {
      auto key = KeyFor(selector.value, selector.namespace_name);
      if (!key.ok()) return key.status();
      key_or_prefix = *key;
      store_selector = {StoreSelector::Kind::kKey, key_or_prefix};
      break;
    }
    case InvalidateSelector::Kind::kUrlPrefix:
      if (selector.value.empty()) return Status::InvalidArgument("empty URL prefix");
      key_or_prefix = ns_prefix + selector.value;
      store_selector = {StoreSelector::Kind::kPrefix, key_or_prefix};
      break;
    case InvalidateSelector::Kind::kTag:
      if (selector.value.empty()) return Status::InvalidArgument("empty tag");
      store_selector = {StoreSelector::Kind::kTag, StoreTag(selector.namespace_name, selector.value)};
      break;
    case InvalidateSelector::Kind::kAll:
      key_or_prefix = ns_prefix;
      store_selector = {StoreSelector::Kind::kPrefix, ns_prefix};
      break;
  }
  auto matches = [&](const CacheEntry& e) {
    switch (selector.kind) {
      case InvalidateSelector::Kind::kUrl: return e.key == key_or_prefix;
      case InvalidateSelector::Kind::kUrlPrefix:
      case InvalidateSelector::Kind::kAll:
        return e.key.compare(0, key_or_prefix.size(), key_or_prefix) == 0;
      case InvalidateSelector::Kind::kTag:
        return e.key.compare(0, ns_prefix.size(), ns_prefix) == 0 &&
               std::find(e.tags.begin(), e.tags.end(), selector.value) != e.tags.end();
    }
    return false;
  };

  // Whether a read or request in flight for `key` may bring what this
  // invalidation matches. Tags are unknown until a record or response
  // arrives, so for a tag: everything of the namespace.
  auto in_flight_match = [&](const std::string& key) {
    return selector.kind == InvalidateSelector::Kind::kTag
               ? key.compare(0, ns_prefix.size(), ns_prefix) == 0
           : selector.kind == InvalidateSelector::Kind::kUrl
               ? key == key_or_prefix
               : key.compare(0, key_or_prefix.size(), key_or_prefix) == 0;
  };
  const bool memory_only = selector.memory_only;
  // Reads in flight may return records this invalidation removes.
  for (auto& [key, read] : d.store_reads) {
    if (memory_only) break;
    if (in_flight_match(key)) read.superseded = true;
  }
  // So may requests on the wire: what they bring may predate this
  // invalidation.
  for (auto& filed : d.flights) {
    Impl::Flight& flight = filed.second;
    // By its key: an own flight is filed under another (OwnFlightKey).
    if (memory_only || !in_flight_match(flight.key)) continue;
    flight.invalidated = true;
    // For a tag, what it holds must carry the tag: its base, or the entry
    // a waiter keeps for stale-if-error (a no-store get's request has no
    // base).
    bool base_tagged = selector.kind != InvalidateSelector::Kind::kTag ||
                       (flight.base && matches(*flight.base));
    for (const Impl::Waiter& w : flight.waiters) {
      if (!base_tagged && w.stale && matches(*w.stale)) base_tagged = true;
    }
    if (mode == InvalidateMode::kRemove && base_tagged) flight.removed = true;
  }
  std::vector<EntryPtr> hits;
  d.memory.ForEach([&](const EntryPtr& e) {
    if (matches(*e)) hits.push_back(e);
  });
  // Pending writes of matching entries must not resurrect them after the
  // store's RemoveMatching below.
  for (auto it = d.pending.begin(); it != d.pending.end();) {
    const auto& w = it->second;
    if (w.kind == StoreWrite::Kind::kPut && !w.entry) {  // a blob: never invalidated
      ++it;
      continue;
    }
    bool match = w.kind == StoreWrite::Kind::kPut ? matches(*w.entry)
                                                  : (selector.kind != InvalidateSelector::Kind::kTag &&
                                                     (selector.kind == InvalidateSelector::Kind::kUrl
                                                          ? it->first == key_or_prefix
                                                          : it->first.compare(0, key_or_prefix.size(),
                                                                              key_or_prefix) == 0));
    if (match && selector.kind == InvalidateSelector::Kind::kTag && !memory_only) {
      // The store removes by the tags of what it holds, which for this key
      // may be an older version without the tag (the tag came with the
      // pending one): remove the key itself, after the tag's removal. A
      // kMarkStale hit in memory replaces this with its marked put below.
      it->second = Impl::PendingWrite{StoreWrite::Kind::kRemove, nullptr, now, nullptr};
      d.forget_on_degrade.insert(it->first);
      ++it;
      continue;
    }
    it = match ? d.pending.erase(it) : std::next(it);
  }
  if (d.pending.empty()) d.pending_since = Instant::Never();
  // Tried on a degraded store too (once: no retries there): it serves
  // nothing more this session, but a later one opens it again, and what a
  // logout meant to forget must not be there then.
  if (d.store && !memory_only) d.RemoveFromStore(store_selector, 1);
  for (const EntryPtr& e : hits) {
    if (mode == InvalidateMode::kRemove) {
      d.memory.Erase(e->key);
    } else {
      EntryPtr marked = Impl::MarkedStale(*e);
      if (memory_only) {
        d.Supersede(marked->key);
        d.memory.Put(marked);
      } else {
        d.Keep(marked, now);
      }
    }
  }
  d.metrics.invalidations++;
  return static_cast<uint64_t>(hits.size());
}

void Engine::Mutate(const CacheRequest& target, HttpResponse optimistic, HttpRequest write,
                    Instant now, StatusDone done) {
  Impl& d = *impl_;
  d.pending_now = now;
  auto key = KeyFor(target.url, target.namespace_name);
  if (!key.ok()) {
    d.metrics.bad_requests++;
    done(key.status());
    return;
  }
  auto entry = std::make_shared<CacheEntry>();
  entry->key = *key;
  entry->url = key->substr(key->find(' ') + 1);
  entry->status = optimistic.status;
  entry->headers = StorableHeaders(optimistic.headers);
  entry->body = std::move(optimistic.body);
  entry->request_time = now;
  entry->response_time = now;
  entry->invalidated = true;  // optimistic: never fresh until confirmed
  entry->Finalize(d.options.freshness);
  entry->vary_values = SelectVaryValues(entry->vary, target.headers);
  EntryPtr previous = d.memory.Peek(*key);
  d.memory.Put(entry);  // memory only: an unconfirmed value is never persisted
  // A request on the wire may be answered before the write is applied.
  auto flight = d.flights.find(*key);
  if (flight != d.flights.end()) flight->second.invalidated = true;
  d.metrics.mutations++;
  d.Notify(*key, entry, now);

  OpId op = d.next_op++;
  auto write_key = KeyFor(write.url, target.namespace_name);
  d.mutations[op] = Impl::Mutation{*key, write_key.ok() ? *write_key : std::string(),
                                   std::move(previous), entry, std::move(done)};
  write.lane = Lane::kNavigate;
  write.max_body_bytes = d.options.response_max_bytes;
  write.timeout_ms = d.options.request_timeout_ms;
  if (!d.StartOrQueue(op, std::move(write))) {
    Impl::Mutation m = std::move(d.mutations[op]);
    d.mutations.erase(op);
    d.OnMutationDone(std::move(m), now, Status::LimitReached("navigate queue is full"));
  }
}

Status Engine::Clear(const std::string& namespace_name, Instant now) {
  Impl& d = *impl_;
  InvalidateSelector all{InvalidateSelector::Kind::kAll, "", namespace_name};
  auto removed = Invalidate(all, InvalidateMode::kRemove, now);
  if (!removed.ok()) return removed.status();
  // A copy: a watcher may unsubscribe (itself or another) while told.
  const auto watchers = d.clear_watchers;
  for (const auto& [id, fn] : watchers) fn(namespace_name);
  d.CancelWaiters(NamespaceKeyPrefix(namespace_name), "namespace cleared", now);
  return Status::Ok();
}

void Engine::CancelAll(Instant now) {
  Impl& d = *impl_;
  d.pending_now = now;
  // Rounds: a waiter's callback may start more (a preheater's next
  // prefetch, say); bounded all the same.
  for (int round = 0; round < 8; ++round) {
    bool any = !d.flights.empty() || !d.store_reads.empty() || !d.mutations.empty();
    if (!any) return;
    d.CancelWaiters("", "engine shutting down", now);
    std::vector<OpId> writes;
    for (const auto& [op, m] : d.mutations) writes.push_back(op);
    // One at a time, each taken out of `mutations` before it rolls back:
    // the writes still there learn what to roll back to (OnMutationDone).
    for (OpId op : writes) {
      auto it = d.mutations.find(op);
      if (it == d.mutations.end()) continue;
      Impl::Mutation m = std::move(it->second);
      d.mutations.erase(it);
      d.CancelRequest(op, Lane::kNavigate);  // the lane of every write (Mutate)
      d.OnMutationDone(std::move(m), now, Status::Cancelled("engine shutting down"));
    }
  }
}

void Engine::Flush(Instant now, StatusDone done) {
  Impl& d = *impl_;
  d.pending_now = now;
  if (!d.StoreUsable()) {
    done(d.store ? Status::Unavailable("store degraded: " + d.metrics.store_degraded_reason)
                 : Status::Ok());
    return;
  }
  if (d.StoreSettled()) {
    d.flush_waiters.push_back(std::move(done));
    d.ResolveFlushWaiters(Status::Ok());
    return;
  }
  d.flush_waiters.push_back(std::move(done));
  d.flushing = true;
  d.StartBatch(now);
}

Instant Engine::NextDeadline() const {
  const Impl& d = *impl_;
  if (d.pending.empty() || d.write_inflight || !d.StoreUsable()) return Instant::Never();
  return AddMs(d.pending_since, d.options.write_delay_ms);
}

void Engine::OnDeadline(Instant now) {
  Impl& d = *impl_;
  d.pending_now = now;
  if (!d.pending.empty() && !d.write_inflight &&
      now >= AddMs(d.pending_since, d.options.write_delay_ms)) {
    d.StartBatch(now);
  }
}

const Metrics& Engine::metrics() const {
  const Impl& d = *impl_;
  d.metrics.memory_bytes = d.memory.bytes();
  d.metrics.memory_entries = d.memory.entries();
  d.metrics.memory_evictions = d.memory.evictions();
  d.metrics.pending_writes = d.pending.size();
  return d.metrics;
}

Status Engine::PutBlob(const std::string& name, std::string bytes, Instant now) {
  Impl& d = *impl_;
  d.pending_now = now;
  if (name.empty() || name.size() > 256) return Status::InvalidArgument("blob name of 1..256 bytes");
  if (bytes.size() > kBlobBytesMax) return Status::TooLarge("blob over 4 MiB");
  if (!d.StoreUsable()) return Status::Unavailable("no usable store");
  std::string key = kBlobKeyPrefix + name;
  // Refused here, not dropped later: over the store's budget, eviction
  // would take it (and every entry) right after the write; past
  // pending_writes_max, QueueWrite would drop it.
  if (key.size() + bytes.size() > d.options.store_max_bytes) {
    return Status::TooLarge("blob over store_max_bytes");
  }
  if (d.pending.size() >= d.options.pending_writes_max && !d.pending.count(key)) {
    return Status::LimitReached("pending_writes_max writes wait");
  }
  Impl::PendingWrite w;
  w.kind = StoreWrite::Kind::kPut;
  w.blob = std::make_shared<const std::string>(std::move(bytes));
  d.QueueWrite(key, std::move(w), now);
  return Status::Ok();
}

void Engine::GetBlob(const std::string& name, Instant now,
                     std::function<void(Result<std::string>)> done) {
  Impl& d = *impl_;
  d.pending_now = now;
  if (!d.StoreUsable()) return done(Status::Unavailable("no usable store"));
  const std::string key = kBlobKeyPrefix + name;
  auto pending = d.pending.find(key);
  if (pending != d.pending.end() && pending->second.blob) return done(*pending->second.blob);
  std::weak_ptr<bool> alive_token = d.alive;
  d.store->Get(d.next_op++, key,
               [&d, alive_token, done](OpId, Instant at, Result<StoreRecord> record) {
                 if (alive_token.expired()) return;
                 d.pending_now = at;
                 if (!record.ok()) return done(record.status());
                 done(std::move(record->value));
               });
}

Instant Engine::CurrentTime() const { return impl_->pending_now; }

std::string Engine::MetricsJson() const { return metrics().ToJson(); }
const EngineOptions& Engine::options() const { return impl_->options; }

uint32_t Engine::InflightCount(Lane lane) const { return impl_->inflight[static_cast<int>(lane)]; }
uint32_t Engine::QueuedCount(Lane lane) const {
  return static_cast<uint32_t>(impl_->lane_queue[static_cast<int>(lane)].size());
}

bool Engine::StoreReadServesRecord(const std::string& key, OpId op) const {
  const Impl& d = *impl_;
  auto read = d.store_reads.find(key);
  if (read == d.store_reads.end() || read->second.op != op || read->second.superseded) return false;
  if (!d.StoreUsable() || d.memory.Peek(key)) return false;
  auto pending = d.pending.find(key);
  return pending == d.pending.end() || pending->second.kind == StoreWrite::Kind::kTouch;
}

bool Engine::HasInMemoryOrInflight(const std::string& key) const {
  return impl_->memory.Peek(key) != nullptr || impl_->flights.count(key) > 0;
}

Result<uint64_t> Engine::MemoryBodyHash(const std::string& key) const {
  EntryPtr e = impl_->memory.Peek(key);
  if (!e) return Status::NotFound("not in the memory tier");
  return e->body_hash;
}

void Engine::VisitMemory(const std::function<void(const CacheEntry& entry)>& fn) const {
  impl_->memory.ForEach([&](const EntryPtr& e) { fn(*e); });
}

}  // namespace preheat
