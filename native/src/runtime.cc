#include "preheat_native/runtime.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <random>
#include <string_view>
#include <utility>

namespace preheat_native {

using preheat::CacheRequest;
using preheat::CacheResult;
using preheat::Engine;
using preheat::Instant;
using preheat::OpId;
using preheat::Result;
using preheat::Status;
using preheat::StoreRecordMeta;
using preheat::StoreSelector;
using preheat::StoreUsage;
using preheat::StoreWrite;

namespace {

Status Stopped() { return Status::Unavailable("the runtime is shut down"); }

// What the fetcher would refuse (CheckRequestHead), refused up front with
// the same code and a message that says which request.
Status CheckHead(const char* what, std::string_view method, const preheat::Headers& headers) {
  Status s = CheckRequestHead(method, headers);
  if (s.ok()) return s;
  return Status::InvalidArgument(std::string("invalid ") + what + ": " + s.message());
}

}  // namespace

template <typename T, typename Fn>
std::future<T> Runtime::OnLoop(Fn fn, T stopped) {
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  bool posted = !shut_down_ && loop_->Post([this, promise, fn]() mutable {
    if (!engine_) {
      promise->set_value(T(Stopped()));
      return;
    }
    fn(promise);
  });
  if (!posted) promise->set_value(std::move(stopped));
  return future;
}

Result<std::unique_ptr<Runtime>> Runtime::Create(RuntimeOptions options) {
  std::unique_ptr<Runtime> rt(new Runtime());
  if (!options.clock) options.clock = SystemNow;
  if (options.seed == 0) {
    std::random_device rd;
    options.seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  rt->options_ = std::move(options);
  RuntimeOptions& o = rt->options_;
  rt->loop_ = std::make_unique<EventLoop>(o.clock);

  if (!o.db_path.empty()) {
    SqliteStoreOptions so = o.store;
    so.post = rt->loop_->Poster();
    so.clock = o.clock;
    auto store = SqliteStore::Open(o.db_path, so);
    if (store.ok()) {
      rt->store_ = std::move(store.value());
      rt->open_report_ = rt->store_->open_report();
    } else if (o.require_store) {
      return store.status();
    } else {
      rt->open_report_ = "cache database unavailable, running memory-only: " +
                         store.status().ToString();
    }
  }

  CurlFetcherOptions fo = o.fetcher;
  fo.post = rt->loop_->Poster();
  fo.clock = o.clock;
  auto fetcher = CurlFetcher::Create(fo);
  if (!fetcher.ok()) return fetcher.status();
  rt->fetcher_ = std::move(fetcher.value());

  // The engine is created, started and driven only on the loop thread.
  std::promise<Status> created;
  Runtime* raw = rt.get();
  rt->loop_->Post([raw, &created] {
    auto engine = Engine::Create(raw->options_.engine, raw->store_.get(), raw->fetcher_.get(),
                                 raw->options_.seed);
    if (!engine.ok()) {
      created.set_value(engine.status());
      return;
    }
    raw->engine_ = std::move(engine.value());
    preheat::Engine* e = raw->engine_.get();
    e->Start(raw->loop_->Now());
    if (raw->options_.preheat) {
      auto preheater = preheat::Preheater::Create(*raw->options_.preheat, e, raw->loop_->Now());
      if (!preheater.ok()) {
        created.set_value(preheater.status());
        return;
      }
      raw->preheater_ = std::move(preheater.value());
      // What earlier runs learned (kNotFound on a first start: nothing to add).
      raw->preheater_->LoadModel(raw->loop_->Now(), [](Status) {});
    }
    preheat::Preheater* p = raw->preheater_.get();
    raw->loop_->SetDeadlineHooks(
        [e, p] {
          Instant next = e->NextDeadline();
          if (p) next = std::min(next, p->NextDeadline());
          return next;
        },
        [e, p](Instant now) {
          e->OnDeadline(now);
          if (p) p->OnDeadline(now);
        });
    created.set_value(Status::Ok());
  });
  Status s = created.get_future().get();
  if (!s.ok()) return s;  // the destructor shuts the pieces down
  return rt;
}

Runtime::~Runtime() { Shutdown(); }

void Runtime::Shutdown() {
  // Once, whoever calls: a second caller waits for the first to finish.
  std::call_once(shutdown_once_, [this] { ShutdownOnce(); });
}

void Runtime::ShutdownOnce() {
  if (!loop_) return;
  // 1. The preheater's model and everything written so far reach the
  //    database.
  loop_->Post([this] {
    if (preheater_) preheater_->SaveModel(loop_->Now());
  });
  Flush().wait();
  shut_down_ = true;
  // 2. No more network: in-flight requests complete (posted) with kCancelled.
  if (fetcher_) fetcher_->Shutdown();
  // 3. Drain the store's queue; later operations fail fast.
  if (store_) store_->Close();
  // 4. The engine goes on its own thread, after the completions above, and
  //    the hooks that point into it go with it. What still waits (requests
  //    the completions above started from the lanes' queues, reads) is
  //    answered first: destroying the engine would drop it.
  std::promise<void> gone;
  if (loop_->Post([this, &gone] {
        loop_->SetDeadlineHooks({}, {});
        if (engine_) engine_->CancelAll(loop_->Now());
        preheater_.reset();
        engine_.reset();
        gone.set_value();
      })) {
    gone.get_future().wait();
  }
  // 5. Late completions find the engine gone and are ignored.
  loop_->Stop();
}

void Runtime::Get(CacheRequest request, GetDone done) {
  if (shut_down_ || !loop_->Post([this, request = std::move(request), done]() mutable {
        if (!engine_) return done(Stopped());
        if (Status head = CheckHead("request", "GET", request.headers); !head.ok()) {
          return done(std::move(head));
        }
        engine_->Get(request, loop_->Now(), done);
      })) {
    done(Stopped());
  }
}

std::future<Result<CacheResult>> Runtime::Get(CacheRequest request) {
  using R = Result<CacheResult>;
  return OnLoop<R>(
      [this, request = std::move(request)](std::shared_ptr<std::promise<R>> p) {
        if (Status head = CheckHead("request", "GET", request.headers); !head.ok()) {
          return p->set_value(R(std::move(head)));
        }
        engine_->Get(request, loop_->Now(), [p](R r) { p->set_value(std::move(r)); });
      },
      R(Stopped()));
}

void Runtime::Surface(std::string page_url, std::vector<preheat::Reference> refs) {
  if (shut_down_) return;
  loop_->Post([this, page_url = std::move(page_url), refs = std::move(refs)] {
    if (preheater_) preheater_->Surface(page_url, refs, loop_->Now());
  });
}

void Runtime::Intent(std::string url, preheat::IntentKind kind) {
  if (shut_down_) return;
  loop_->Post([this, url = std::move(url), kind] {
    if (preheater_) preheater_->Intent(url, kind, loop_->Now());
  });
}

void Runtime::Navigated(std::string from_url, std::string to_url) {
  if (shut_down_) return;
  loop_->Post([this, from_url = std::move(from_url), to_url = std::move(to_url)] {
    if (preheater_) preheater_->Navigated(from_url, to_url, loop_->Now());
  });
}

void Runtime::Visible(std::string url, bool visible) {
  if (shut_down_) return;
  loop_->Post([this, url = std::move(url), visible] {
    if (preheater_) preheater_->Visible(url, visible, loop_->Now());
  });
}

// Runs fn on the loop and fulfils a future with what it returns, or with
// `stopped` when the loop no longer runs or the engine is gone.
template <typename T, typename Fn>
static std::future<T> Ask(EventLoop& loop, const std::atomic<bool>& shut_down, Fn fn, T stopped) {
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  bool posted = !shut_down && loop.Post([promise, fn, stopped]() mutable {
    std::optional<T> value = fn();
    promise->set_value(value ? std::move(*value) : std::move(stopped));
  });
  if (!posted) promise->set_value(std::move(stopped));
  return future;
}

std::future<std::string> Runtime::PreheatStatsJson() {
  return Ask<std::string>(
      *loop_, shut_down_,
      [this]() -> std::optional<std::string> {
        if (!preheater_) return std::nullopt;
        return preheater_->StatsJson(loop_->Now());
      },
      "null");
}

std::future<bool> Runtime::IsCachedOrInflight(preheat::CacheRequest request) {
  return Ask<bool>(
      *loop_, shut_down_,
      [this, request = std::move(request)]() -> std::optional<bool> {
        if (!engine_) return std::nullopt;
        auto key = Engine::KeyFor(request.url, request.namespace_name);
        return key.ok() && engine_->HasInMemoryOrInflight(*key);
      },
      false);
}

std::future<Result<uint64_t>> Runtime::Invalidate(preheat::InvalidateSelector selector,
                                                  preheat::InvalidateMode mode) {
  using R = Result<uint64_t>;
  return OnLoop<R>(
      [this, selector, mode](std::shared_ptr<std::promise<R>> p) {
        p->set_value(engine_->Invalidate(selector, mode, loop_->Now()));
      },
      R(Stopped()));
}

std::future<Result<CacheResult>> Runtime::Peek(CacheRequest request) {
  using R = Result<CacheResult>;
  return OnLoop<R>(
      [this, request = std::move(request)](std::shared_ptr<std::promise<R>> p) {
        p->set_value(engine_->Peek(request, loop_->Now()));
      },
      R(Stopped()));
}

std::future<Result<Engine::SubscriptionId>> Runtime::Subscribe(CacheRequest request,
                                                               Engine::Subscriber fn) {
  using R = Result<Engine::SubscriptionId>;
  return OnLoop<R>(
      [this, request = std::move(request), fn = std::move(fn)](std::shared_ptr<std::promise<R>> p) {
        auto key = Engine::KeyFor(request.url, request.namespace_name);
        if (!key.ok()) return p->set_value(R(key.status()));
        p->set_value(engine_->Subscribe(*key, fn));
      },
      R(Stopped()));
}

std::future<void> Runtime::Unsubscribe(Engine::SubscriptionId id) {
  auto promise = std::make_shared<std::promise<void>>();
  std::future<void> future = promise->get_future();
  bool posted = !shut_down_ && loop_->Post([this, promise, id] {
    if (engine_) engine_->Unsubscribe(id);
    promise->set_value();
  });
  if (!posted) promise->set_value();
  return future;
}

std::future<Status> Runtime::Mutate(CacheRequest target, preheat::HttpResponse optimistic,
                                    preheat::HttpRequest write) {
  return OnLoop<Status>(
      [this, target = std::move(target), optimistic = std::move(optimistic),
       write = std::move(write)](std::shared_ptr<std::promise<Status>> p) mutable {
        Status head = CheckHead("mutate target", "GET", target.headers);
        if (head.ok()) head = CheckHead("mutate write", write.method, write.headers);
        if (!head.ok()) return p->set_value(std::move(head));
        engine_->Mutate(target, std::move(optimistic), std::move(write), loop_->Now(),
                        [p](Status s) { p->set_value(std::move(s)); });
      },
      Stopped());
}

std::future<Status> Runtime::Clear(std::string namespace_name) {
  return OnLoop<Status>(
      [this, namespace_name = std::move(namespace_name)](std::shared_ptr<std::promise<Status>> p) {
        Status cleared = engine_->Clear(namespace_name, loop_->Now());
        if (!cleared.ok()) return p->set_value(std::move(cleared));
        engine_->Flush(loop_->Now(), [this, p, namespace_name](Status flushed) {
          // kLimitReached: writes dropped before the clear, never stored;
          // the removal itself is durable.
          if (flushed.ok() || flushed.code() == preheat::Code::kLimitReached || !store_) {
            return p->set_value(Status::Ok());
          }
          // A degraded store (or a removal that failed its retries): the
          // entries may still be on disk. One more removal, straight to the
          // database, decides.
          StoreSelector in_namespace{StoreSelector::Kind::kPrefix,
                                     Engine::NamespaceKeyPrefix(namespace_name)};
          store_->RemoveMatching(next_op_++, in_namespace,
                                 [p](OpId, Instant, Result<uint64_t> removed) {
                                   p->set_value(removed.ok() ? Status::Ok() : removed.status());
                                 });
        });
      },
      Stopped());
}

std::future<Status> Runtime::Flush() {
  return OnLoop<Status>(
      [this](std::shared_ptr<std::promise<Status>> p) {
        engine_->Flush(loop_->Now(), [p](Status s) { p->set_value(std::move(s)); });
      },
      Stopped());
}

std::future<std::string> Runtime::StatsJson() {
  auto promise = std::make_shared<std::promise<std::string>>();
  std::future<std::string> future = promise->get_future();
  bool posted = !shut_down_ && loop_->Post([this, promise] {
    nlohmann::json out;
    out["engine"] = engine_ ? nlohmann::json::parse(engine_->MetricsJson(), nullptr, false)
                            : nlohmann::json(nullptr);
    if (store_) {
      StoreUsage u = store_->usage();
      SqliteStoreHealth health = store_->health();
      out["store"] = {{"path", store_->path()},
                      {"bytes", u.bytes},
                      {"entries", u.entries},
                      {"max_bytes", options_.engine.store_max_bytes},
                      {"open_report", open_report_},
                      {"status", health.status.ToString()},
                      {"file_replaced_count", health.file_replaced_count},
                      {"last_file_event", health.last_file_event.ok()
                                              ? nlohmann::json(nullptr)
                                              : nlohmann::json(health.last_file_event.ToString())}};
    } else {
      out["store"] = nullptr;
      out["memory_only_reason"] = open_report_;
    }
    if (preheater_) {
      out["preheat"] = nlohmann::json::parse(preheater_->StatsJson(loop_->Now()), nullptr, false);
    }
    if (engine_) {
      for (int i = 0; i < preheat::kLaneCount; ++i) {
        auto lane = static_cast<preheat::Lane>(i);
        out["inflight"][preheat::LaneName(lane)] = engine_->InflightCount(lane);
        out["queued"][preheat::LaneName(lane)] = engine_->QueuedCount(lane);
      }
    }
    promise->set_value(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  });
  if (!posted) promise->set_value("{}");
  return future;
}

std::future<Result<std::vector<StoreRecordMeta>>> Runtime::ScanStore(StoreSelector selector,
                                                                     std::string start_after_key,
                                                                     uint32_t limit) {
  using R = Result<std::vector<StoreRecordMeta>>;
  return OnLoop<R>(
      [this, selector, start_after_key, limit](std::shared_ptr<std::promise<R>> p) {
        if (!store_) return p->set_value(R(Status::Unavailable("no cache database")));
        store_->Scan(next_op_++, selector, start_after_key, limit,
                     [p](OpId, Instant, R r) { p->set_value(std::move(r)); });
      },
      R(Stopped()));
}

std::future<Result<uint64_t>> Runtime::RemoveFromStore(StoreSelector selector) {
  using R = Result<uint64_t>;
  return OnLoop<R>(
      [this, selector](std::shared_ptr<std::promise<R>> p) {
        if (!store_) return p->set_value(R(Status::Unavailable("no cache database")));
        store_->RemoveMatching(next_op_++, selector,
                               [p](OpId, Instant, R r) { p->set_value(std::move(r)); });
      },
      R(Stopped()));
}

std::future<Result<StoreUsage>> Runtime::WriteStore(std::vector<StoreWrite> batch) {
  using R = Result<StoreUsage>;
  return OnLoop<R>(
      [this, batch = std::move(batch)](std::shared_ptr<std::promise<R>> p) {
        if (!store_) return p->set_value(R(Status::Unavailable("no cache database")));
        store_->Write(next_op_++, batch, [p](OpId, Instant, R r) { p->set_value(std::move(r)); });
      },
      R(Stopped()));
}

}  // namespace preheat_native
