// Embind bindings of preheat::Engine for browsers (and Node tests).
//
// The engine is sans-IO: this file gives it a Store and a Fetcher that
// forward every operation to JavaScript driver objects (web/src/idb-store.js,
// web/src/fetch-driver.js). A driver completes an operation later by calling
// back into the exported engine object with (op id, now, result):
//
//   store driver:   get(op, key)                        -> engine.storeGetDone(op, now, code, msg, record)
//                   write(op, batch)                    -> engine.storeWriteDone(op, now, code, msg, bytes, entries)
//                   removeMatching(op, kind, value)     -> engine.storeRemoveDone(op, now, code, msg, removed)
//                   scan(op, kind, value, after, limit) -> engine.storeScanDone(op, now, code, msg, metas)
//                   evict(op, targetBytes, targetEntries)-> engine.storeEvictDone(op, now, code, msg, bytes, entries)
//   fetch driver:   start(op, request)                  -> engine.fetchDone(op, now, code, msg, response)
//                   cancel(op)
//
// Codes are preheat::Code numbers. Times are milliseconds since the epoch
// (Date.now()) as JS numbers; op ids and byte counts are JS numbers (exact
// below 2^53). No Asyncify, no exceptions: failures come back as
// {code, message} objects.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "preheat/engine.h"
#include "preheat/entry.h"
#include "preheat/fetcher.h"
#include "preheat/status.h"
#include "preheat/store.h"

namespace preheat::wasm {
namespace {

using emscripten::val;
using Json = nlohmann::json;

Instant ToInstant(double ms) { return Instant{static_cast<int64_t>(ms)}; }

// Copies a JS Uint8Array (or ArrayBuffer view) into a std::string.
std::string BytesFromJs(const val& bytes) {
  if (bytes.isNull() || bytes.isUndefined()) return std::string();
  size_t n = bytes["length"].as<size_t>();
  std::string out(n, '\0');
  if (n > 0) {
    val view(emscripten::typed_memory_view(n, reinterpret_cast<uint8_t*>(out.data())));
    view.call<void>("set", bytes);
  }
  return out;
}

// A fresh Uint8Array holding a copy of `bytes` (never a view of the heap,
// which memory growth would detach).
val BytesToJs(const std::string& bytes) {
  val view(emscripten::typed_memory_view(bytes.size(),
                                         reinterpret_cast<const uint8_t*>(bytes.data())));
  return view.call<val>("slice");
}

val StringsToJs(const std::vector<std::string>& strings) {
  val out = val::array();
  for (size_t i = 0; i < strings.size(); ++i) out.set(i, val(strings[i]));
  return out;
}

std::vector<std::string> StringsFromJs(const val& array) {
  std::vector<std::string> out;
  if (array.isNull() || array.isUndefined()) return out;
  size_t n = array["length"].as<size_t>();
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(array[i].as<std::string>());
  return out;
}

// Headers cross as arrays of [name, value] pairs, order kept.
val HeadersToJs(const Headers& headers) {
  val out = val::array();
  size_t i = 0;
  for (const auto& [name, value] : headers.fields()) {
    val pair = val::array();
    pair.set(0, val(name));
    pair.set(1, val(value));
    out.set(i++, pair);
  }
  return out;
}

Headers HeadersFromJs(const val& pairs) {
  Headers headers;
  if (pairs.isNull() || pairs.isUndefined()) return headers;
  size_t n = pairs["length"].as<size_t>();
  for (size_t i = 0; i < n; ++i) {
    val pair = pairs[i];
    headers.Add(pair[0].as<std::string>(), pair[1].as<std::string>());
  }
  return headers;
}

val ErrorToJs(const Status& status) {
  val out = val::object();
  out.set("code", static_cast<int>(status.code()));
  out.set("codeName", val(CodeName(status.code())));
  out.set("message", val(status.message()));
  return out;
}

Status StatusFromJs(int code, const std::string& message) {
  return Status(static_cast<Code>(code), message);
}

std::string HashHex(uint64_t hash) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

val ResultToJs(const CacheResult& r) {
  val out = val::object();
  out.set("code", 0);
  out.set("state", val(CacheStateName(r.state)));
  out.set("source", val(SourceName(r.source)));
  out.set("age", static_cast<double>(r.age_ms));
  out.set("revalidating", r.revalidating);
  out.set("stored", r.stored);
  if (r.entry) {
    const CacheEntry& e = *r.entry;
    out.set("key", val(e.key));
    out.set("url", val(e.url));
    out.set("status", e.status);
    out.set("headers", HeadersToJs(e.headers));
    out.set("body", BytesToJs(e.body));
    out.set("bodyHash", val(HashHex(e.body_hash)));
    out.set("tags", StringsToJs(e.tags));
    out.set("responseTime", static_cast<double>(e.response_time.unix_ms));
  }
  return out;
}

// ---- options --------------------------------------------------------------

template <typename T>
void Take(const Json& j, const char* name, T& out) {
  auto it = j.find(name);
  if (it != j.end() && !it->is_null()) out = it->get<T>();
}

template <typename T>
void TakeOptional(const Json& j, const char* name, std::optional<T>& out) {
  auto it = j.find(name);
  if (it != j.end() && !it->is_null()) out = it->get<T>();
}

bool RoutePolicyFromJson(const Json& j, RoutePolicy& p) {
  if (!j.is_object()) return false;
  Take(j, "pattern", p.pattern);
  TakeOptional(j, "maxAgeMs", p.max_age_ms);
  TakeOptional(j, "staleWhileRevalidateMs", p.stale_while_revalidate_ms);
  TakeOptional(j, "maxStaleMs", p.max_stale_ms);
  Take(j, "revalidateAfterServing", p.revalidate_after_serving);
  Take(j, "noStore", p.no_store);
  return true;
}

// Camel-case JSON (what web/src builds) to EngineOptions. Unknown fields are
// ignored; wrongly typed ones are an error.
Result<EngineOptions> OptionsFromJson(const std::string& text) {
  EngineOptions o;
  if (text.empty()) return o;
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("options: not a JSON object");
  // Type checks up front: with JSON_NOEXCEPTION a failed get<>() aborts.
  static const char* kNumbers[] = {"memoryMaxBytes", "memoryMaxEntries", "storeMaxBytes",
                                   "storeMaxEntries", "entryMaxBytes", "responseMaxBytes",
                                   "requestTimeoutMs", "writeBatchMax", "writeDelayMs",
                                   "pendingWritesMax", "storeEvictToFraction",
                                   "waitersPerKeyMax", "subscribersMax",
                                   "heuristicFraction", "heuristicMaxMs"};
  for (const char* name : kNumbers) {
    auto it = j.find(name);
    if (it != j.end() && !it->is_null() && !it->is_number()) {
      return Status::InvalidArgument(std::string("options: ") + name + " must be a number");
    }
  }
  Take(j, "memoryMaxBytes", o.memory_max_bytes);
  Take(j, "memoryMaxEntries", o.memory_max_entries);
  Take(j, "storeMaxBytes", o.store_max_bytes);
  Take(j, "storeMaxEntries", o.store_max_entries);
  Take(j, "entryMaxBytes", o.entry_max_bytes);
  Take(j, "responseMaxBytes", o.response_max_bytes);
  Take(j, "requestTimeoutMs", o.request_timeout_ms);
  Take(j, "writeBatchMax", o.write_batch_max);
  Take(j, "writeDelayMs", o.write_delay_ms);
  Take(j, "pendingWritesMax", o.pending_writes_max);
  Take(j, "storeEvictToFraction", o.store_evict_to_fraction);
  Take(j, "waitersPerKeyMax", o.waiters_per_key_max);
  Take(j, "subscribersMax", o.subscribers_max);
  Take(j, "heuristicFraction", o.freshness.heuristic_fraction);
  Take(j, "heuristicMaxMs", o.freshness.heuristic_max_ms);
  auto tag = j.find("tagHeader");
  if (tag != j.end() && tag->is_string()) o.tag_header = tag->get<std::string>();
  auto lanes = j.find("lanes");
  if (lanes != j.end() && lanes->is_array()) {
    for (size_t i = 0; i < lanes->size() && i < static_cast<size_t>(kLaneCount); ++i) {
      const Json& l = (*lanes)[i];
      if (!l.is_object()) return Status::InvalidArgument("options: lanes[] must be objects");
      Take(l, "inflightMax", o.lanes[i].inflight_max);
      Take(l, "queueMax", o.lanes[i].queue_max);
    }
  }
  auto routes = j.find("routes");
  if (routes != j.end() && routes->is_array()) {
    for (const Json& r : *routes) {
      RoutePolicy p;
      if (!RoutePolicyFromJson(r, p)) return Status::InvalidArgument("options: bad route");
      o.routes.push_back(std::move(p));
    }
  }
  auto def = j.find("defaultPolicy");
  if (def != j.end() && def->is_object()) RoutePolicyFromJson(*def, o.default_policy);
  return o;
}

// ---- drivers ----------------------------------------------------------------

// A Store whose operations run in a JS driver object.
class JsStore : public Store {
 public:
  explicit JsStore(val driver) : driver_(std::move(driver)) {}

  void Get(OpId op, const std::string& key, GetDone done) override {
    gets_[op] = std::move(done);
    driver_.call<void>("get", static_cast<double>(op), val(key));
  }

  void Write(OpId op, std::vector<StoreWrite> batch, WriteDone done) override {
    writes_[op] = std::move(done);
    val js = val::array();
    for (size_t i = 0; i < batch.size(); ++i) {
      const StoreWrite& w = batch[i];
      val o = val::object();
      o.set("kind", static_cast<int>(w.kind));
      o.set("key", val(w.record.key));
      o.set("lastAccess", static_cast<double>(w.record.last_access.unix_ms));
      if (w.kind == StoreWrite::Kind::kPut) {
        o.set("value", BytesToJs(w.record.value));
        o.set("tags", StringsToJs(w.record.tags));
        o.set("charge", static_cast<double>(w.record.ChargeBytes()));
      }
      js.set(i, o);
    }
    driver_.call<void>("write", static_cast<double>(op), js);
  }

  void RemoveMatching(OpId op, const StoreSelector& selector, RemoveDone done) override {
    removes_[op] = std::move(done);
    driver_.call<void>("removeMatching", static_cast<double>(op), static_cast<int>(selector.kind),
                       val(selector.value));
  }

  void Scan(OpId op, const StoreSelector& selector, const std::string& start_after_key,
            uint32_t limit, ScanDone done) override {
    scans_[op] = std::move(done);
    driver_.call<void>("scan", static_cast<double>(op), static_cast<int>(selector.kind),
                       val(selector.value), val(start_after_key), limit);
  }

  void Evict(OpId op, uint64_t target_bytes, uint64_t target_entries, EvictDone done) override {
    evicts_[op] = std::move(done);
    driver_.call<void>("evict", static_cast<double>(op), static_cast<double>(target_bytes),
                       static_cast<double>(target_entries));
  }

  // Completions, called from JS (through WasmEngine).
  void GetDone_(OpId op, Instant now, int code, const std::string& msg, const val& record) {
    auto done = Take(gets_, op);
    if (!done) return;
    if (code != 0) return done(op, now, StatusFromJs(code, msg));
    StoreRecord r;
    r.key = record["key"].as<std::string>();
    r.value = BytesFromJs(record["value"]);
    r.tags = StringsFromJs(record["tags"]);
    r.last_access = ToInstant(record["lastAccess"].as<double>());
    done(op, now, std::move(r));
  }
  void WriteDone_(OpId op, Instant now, int code, const std::string& msg, double bytes,
                  double entries) {
    auto done = Take(writes_, op);
    if (!done) return;
    if (code != 0) return done(op, now, StatusFromJs(code, msg));
    done(op, now, StoreUsage{static_cast<uint64_t>(bytes), static_cast<uint64_t>(entries)});
  }
  void RemoveDone_(OpId op, Instant now, int code, const std::string& msg, double removed) {
    auto done = Take(removes_, op);
    if (!done) return;
    if (code != 0) return done(op, now, StatusFromJs(code, msg));
    done(op, now, static_cast<uint64_t>(removed));
  }
  void ScanDone_(OpId op, Instant now, int code, const std::string& msg, const val& metas) {
    auto done = Take(scans_, op);
    if (!done) return;
    if (code != 0) return done(op, now, StatusFromJs(code, msg));
    std::vector<StoreRecordMeta> out;
    size_t n = metas["length"].as<size_t>();
    for (size_t i = 0; i < n; ++i) {
      val m = metas[i];
      StoreRecordMeta meta;
      meta.key = m["key"].as<std::string>();
      meta.tags = StringsFromJs(m["tags"]);
      meta.last_access = ToInstant(m["lastAccess"].as<double>());
      meta.charge_bytes = static_cast<uint64_t>(m["charge"].as<double>());
      out.push_back(std::move(meta));
    }
    done(op, now, std::move(out));
  }
  void EvictDone_(OpId op, Instant now, int code, const std::string& msg, double bytes,
                  double entries) {
    auto done = Take(evicts_, op);
    if (!done) return;
    if (code != 0) return done(op, now, StatusFromJs(code, msg));
    done(op, now, StoreUsage{static_cast<uint64_t>(bytes), static_cast<uint64_t>(entries)});
  }

 private:
  template <typename F>
  static F Take(std::unordered_map<OpId, F>& map, OpId op) {
    auto it = map.find(op);
    if (it == map.end()) return F();
    F f = std::move(it->second);
    map.erase(it);
    return f;
  }

  val driver_;
  std::unordered_map<OpId, GetDone> gets_;
  std::unordered_map<OpId, WriteDone> writes_;
  std::unordered_map<OpId, RemoveDone> removes_;
  std::unordered_map<OpId, ScanDone> scans_;
  std::unordered_map<OpId, EvictDone> evicts_;
};

// A Fetcher whose requests run in a JS driver object (fetch()).
class JsFetcher : public Fetcher {
 public:
  explicit JsFetcher(val driver) : driver_(std::move(driver)) {}

  void Start(OpId op, const HttpRequest& request, Done done) override {
    pending_[op] = std::move(done);
    val r = val::object();
    r.set("method", val(request.method));
    r.set("url", val(request.url));
    r.set("headers", HeadersToJs(request.headers));
    if (!request.body.empty()) r.set("body", BytesToJs(request.body));
    r.set("lane", val(LaneName(request.lane)));
    r.set("maxBodyBytes", static_cast<double>(request.max_body_bytes));
    r.set("timeoutMs", static_cast<double>(request.timeout_ms));
    driver_.call<void>("start", static_cast<double>(op), r);
  }

  void Cancel(OpId op) override {
    if (pending_.count(op)) driver_.call<void>("cancel", static_cast<double>(op));
  }

  void Done_(OpId op, Instant now, int code, const std::string& msg, const val& response) {
    auto it = pending_.find(op);
    if (it == pending_.end()) return;
    Done done = std::move(it->second);
    pending_.erase(it);
    if (code != 0) return done(op, now, StatusFromJs(code, msg));
    HttpResponse resp;
    resp.status = response["status"].as<int>();
    resp.headers = HeadersFromJs(response["headers"]);
    resp.body = BytesFromJs(response["body"]);
    done(op, now, std::move(resp));
  }

 private:
  val driver_;
  std::unordered_map<OpId, Done> pending_;
};

Lane LaneFromJs(const std::string& lane) {
  if (lane == "revalidate") return Lane::kRevalidate;
  if (lane == "preheat") return Lane::kPreheat;
  return Lane::kNavigate;
}

// ---- the exported engine ------------------------------------------------------

class WasmEngine {
 public:
  // `store_driver` may be null: the engine is then memory-only.
  WasmEngine(std::string options_json, val store_driver, val fetch_driver, double seed)
      : fetcher_(std::move(fetch_driver)) {
    if (!store_driver.isNull() && !store_driver.isUndefined()) {
      store_ = std::make_unique<JsStore>(std::move(store_driver));
    }
    auto options = OptionsFromJson(options_json);
    if (!options.ok()) {
      error_ = options.status();
      return;
    }
    auto engine = Engine::Create(std::move(options).value(), store_.get(), &fetcher_,
                                 static_cast<uint64_t>(seed));
    if (!engine.ok()) {
      error_ = engine.status();
      return;
    }
    engine_ = std::move(engine).value();
  }
  ~WasmEngine() { engine_.reset(); }  // before the drivers it points to

  // {code: 0} or the creation error.
  val status() const { return ErrorToJs(error_); }

  void start(double now) {
    if (engine_) engine_->Start(ToInstant(now));
  }

  static val keyFor(std::string url, std::string ns) {
    auto key = Engine::KeyFor(url, ns);
    if (!key.ok()) return ErrorToJs(key.status());
    val out = val::object();
    out.set("code", 0);
    out.set("key", val(*key));
    return out;
  }

  val peek(std::string url, std::string ns, val headers, double now) {
    if (!engine_) return ErrorToJs(error_);
    CacheRequest req{std::move(url), std::move(ns), HeadersFromJs(headers), Lane::kNavigate};
    auto r = engine_->Peek(req, ToInstant(now));
    if (!r.ok()) return ErrorToJs(r.status());
    return ResultToJs(*r);
  }

  // `callback(result)` runs once: inside this call on a memory hit, later
  // otherwise. result is a cache result object or {code, message}.
  void get(std::string url, std::string ns, val headers, std::string lane, double now,
           val callback) {
    if (!engine_) {
      callback(ErrorToJs(error_));
      return;
    }
    CacheRequest req{std::move(url), std::move(ns), HeadersFromJs(headers), LaneFromJs(lane)};
    engine_->Get(req, ToInstant(now), [callback](Result<CacheResult> r) {
      callback(r.ok() ? ResultToJs(*r) : ErrorToJs(r.status()));
    });
  }

  // {code: 0, id} or an error. `fn(result)` runs on every change of the key.
  val subscribe(std::string key, val fn) {
    if (!engine_) return ErrorToJs(error_);
    auto id = engine_->Subscribe(key, [fn](const CacheResult& r) { fn(ResultToJs(r)); });
    if (!id.ok()) return ErrorToJs(id.status());
    val out = val::object();
    out.set("code", 0);
    out.set("id", static_cast<double>(*id));
    return out;
  }

  void unsubscribe(double id) {
    if (engine_) engine_->Unsubscribe(static_cast<Engine::SubscriptionId>(id));
  }

  // kind: 0 url, 1 prefix, 2 tag, 3 all; mode: 0 mark stale, 1 remove.
  val invalidate(int kind, std::string value, std::string ns, int mode, double now) {
    if (!engine_) return ErrorToJs(error_);
    if (kind < 0 || kind > 3 || mode < 0 || mode > 1) {
      return ErrorToJs(Status::InvalidArgument("invalidate: bad kind or mode"));
    }
    InvalidateSelector sel{static_cast<InvalidateSelector::Kind>(kind), std::move(value),
                           std::move(ns)};
    auto n = engine_->Invalidate(sel, static_cast<InvalidateMode>(mode), ToInstant(now));
    if (!n.ok()) return ErrorToJs(n.status());
    val out = val::object();
    out.set("code", 0);
    out.set("count", static_cast<double>(*n));
    return out;
  }

  // optimistic: {status, headers, body}; write: {method, url, headers, body}.
  void mutate(std::string url, std::string ns, val headers, val optimistic, val write,
              double now, val callback) {
    if (!engine_) {
      callback(ErrorToJs(error_));
      return;
    }
    CacheRequest target{std::move(url), std::move(ns), HeadersFromJs(headers), Lane::kNavigate};
    HttpResponse resp;
    resp.status = optimistic["status"].as<int>();
    resp.headers = HeadersFromJs(optimistic["headers"]);
    resp.body = BytesFromJs(optimistic["body"]);
    HttpRequest req;
    req.method = write["method"].as<std::string>();
    req.url = write["url"].as<std::string>();
    req.headers = HeadersFromJs(write["headers"]);
    req.body = BytesFromJs(write["body"]);
    engine_->Mutate(target, std::move(resp), std::move(req), ToInstant(now),
                    [callback](Status s) { callback(ErrorToJs(s)); });
  }

  val clear(std::string ns, double now) {
    if (!engine_) return ErrorToJs(error_);
    return ErrorToJs(engine_->Clear(ns, ToInstant(now)));
  }

  void flush(double now, val callback) {
    if (!engine_) {
      callback(ErrorToJs(error_));
      return;
    }
    engine_->Flush(ToInstant(now), [callback](Status s) { callback(ErrorToJs(s)); });
  }

  // Milliseconds since the epoch, or -1 for never.
  double nextDeadline() const {
    if (!engine_) return -1;
    Instant t = engine_->NextDeadline();
    return t.IsNever() ? -1 : static_cast<double>(t.unix_ms);
  }
  void onDeadline(double now) {
    if (engine_) engine_->OnDeadline(ToInstant(now));
  }

  std::string metricsJson() const { return engine_ ? engine_->MetricsJson() : "{}"; }
  double inflightCount(std::string lane) const {
    return engine_ ? engine_->InflightCount(LaneFromJs(lane)) : 0;
  }
  double queuedCount(std::string lane) const {
    return engine_ ? engine_->QueuedCount(LaneFromJs(lane)) : 0;
  }
  bool hasInMemoryOrInflight(std::string key) const {
    return engine_ && engine_->HasInMemoryOrInflight(key);
  }
  bool hasStore() const { return store_ != nullptr; }

  // Driver completions.
  void storeGetDone(double op, double now, int code, std::string msg, val record) {
    if (store_) store_->GetDone_(static_cast<OpId>(op), ToInstant(now), code, msg, record);
  }
  void storeWriteDone(double op, double now, int code, std::string msg, double bytes,
                      double entries) {
    if (store_) store_->WriteDone_(static_cast<OpId>(op), ToInstant(now), code, msg, bytes, entries);
  }
  void storeRemoveDone(double op, double now, int code, std::string msg, double removed) {
    if (store_) store_->RemoveDone_(static_cast<OpId>(op), ToInstant(now), code, msg, removed);
  }
  void storeScanDone(double op, double now, int code, std::string msg, val metas) {
    if (store_) store_->ScanDone_(static_cast<OpId>(op), ToInstant(now), code, msg, metas);
  }
  void storeEvictDone(double op, double now, int code, std::string msg, double bytes,
                      double entries) {
    if (store_) store_->EvictDone_(static_cast<OpId>(op), ToInstant(now), code, msg, bytes, entries);
  }
  void fetchDone(double op, double now, int code, std::string msg, val response) {
    fetcher_.Done_(static_cast<OpId>(op), ToInstant(now), code, msg, response);
  }

 private:
  std::unique_ptr<JsStore> store_;
  JsFetcher fetcher_;
  Status error_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace
}  // namespace preheat::wasm

EMSCRIPTEN_BINDINGS(preheat) {
  using preheat::wasm::WasmEngine;
  emscripten::class_<WasmEngine>("Engine")
      .constructor<std::string, emscripten::val, emscripten::val, double>()
      .class_function("keyFor", &WasmEngine::keyFor)
      .function("status", &WasmEngine::status)
      .function("start", &WasmEngine::start)
      .function("peek", &WasmEngine::peek)
      .function("get", &WasmEngine::get)
      .function("subscribe", &WasmEngine::subscribe)
      .function("unsubscribe", &WasmEngine::unsubscribe)
      .function("invalidate", &WasmEngine::invalidate)
      .function("mutate", &WasmEngine::mutate)
      .function("clear", &WasmEngine::clear)
      .function("flush", &WasmEngine::flush)
      .function("nextDeadline", &WasmEngine::nextDeadline)
      .function("onDeadline", &WasmEngine::onDeadline)
      .function("metricsJson", &WasmEngine::metricsJson)
      .function("inflightCount", &WasmEngine::inflightCount)
      .function("queuedCount", &WasmEngine::queuedCount)
      .function("hasInMemoryOrInflight", &WasmEngine::hasInMemoryOrInflight)
      .function("hasStore", &WasmEngine::hasStore)
      .function("storeGetDone", &WasmEngine::storeGetDone)
      .function("storeWriteDone", &WasmEngine::storeWriteDone)
      .function("storeRemoveDone", &WasmEngine::storeRemoveDone)
      .function("storeScanDone", &WasmEngine::storeScanDone)
      .function("storeEvictDone", &WasmEngine::storeEvictDone)
      .function("fetchDone", &WasmEngine::fetchDone);
}
