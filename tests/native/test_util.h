// Helpers for native tests: a posted-task inbox, temporary directories, and
// an in-process HTTP origin on 127.0.0.1.
#ifndef PREHEAT_TESTS_NATIVE_TEST_UTIL_H_
#define PREHEAT_TESTS_NATIVE_TEST_UTIL_H_

#include <httplib.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "preheat/time.h"
#include "preheat_native/sqlite_store.h"

namespace preheat_test {

// Receives posted completions; the test thread runs them, so a test can
// check that nothing ran inside the call that started it.
class Inbox {
 public:
  preheat_native::PostFn Post() {
    return [this](std::function<void()> fn) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.push_back(std::move(fn));
      }
      cv_.notify_all();
    };
  }
  // Blocks until a task arrives, then runs it.
  void RunOne() {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty(); });
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    fn();
  }
  size_t pending() {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
};

inline preheat::Instant FixedClock() { return preheat::Instant{42}; }

// A fresh directory, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::error_code ec;
    std::string base = std::filesystem::temp_directory_path(ec).string();
    if (ec || base.empty()) base = "/tmp";
    std::string templ = base + "/preheat-test-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    char* made = mkdtemp(buf.data());
    path_ = made != nullptr ? made : templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// An origin server on 127.0.0.1 with a free port. Handlers run on the
// server's threads; counters are atomic.
class TestServer {
 public:
  TestServer() {
    server_.set_keep_alive_max_count(1000);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // Connections would queue in the backlog anyway, but stop() is a no-op
    // until the accept loop runs, so wait for it (bounded).
    for (int i = 0; i < 10000 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~TestServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Server& server() { return server_; }
  int port() const { return port_; }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// A TCP socket bound to 127.0.0.1 on a free port (not yet listening);
// *port receives the port. -1 on failure.
inline int BindLoopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// A port with nothing listening: bound, then closed.
inline int UnusedPort() {
  int port = 0;
  int fd = BindLoopback(&port);
  if (fd >= 0) close(fd);
  return port;
}

}  // namespace preheat_test

#endif  // PREHEAT_TESTS_NATIVE_TEST_UTIL_H_
