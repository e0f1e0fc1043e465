// A scripted HTTP/1.1 origin on 127.0.0.1 that writes raw bytes, for the
// faults a real server library will not produce: truncated bodies, wrong
// Content-Length, slow-loris trickles, garbage status lines, resets.
//
// For each request it reads (up to the blank line; request bodies are not
// expected), the script returns a Reply: chunks of bytes written in order
// with a pause after each, then keep the connection or close it. Pauses
// sleep in short slices so the destructor never waits long.
#ifndef PREHEAT_TESTS_NATIVE_FAULTY_ORIGIN_H_
#define PREHEAT_TESTS_NATIVE_FAULTY_ORIGIN_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace preheat_test {

class FaultyOrigin {
 public:
  struct Chunk {
    std::string bytes;
    int pause_after_ms = 0;
  };
  struct Reply {
    std::vector<Chunk> chunks;
    bool close_after = false;
    // Close with RST (SO_LINGER 0) instead of FIN.
    bool reset = false;
  };
  // head: the request line and headers; index: 0-based over all requests.
  using Script = std::function<Reply(const std::string& head, int index)>;

  explicit FaultyOrigin(Script script) : script_(std::move(script)) {
    listen_fd_ = BindLoopback(&port_);
    listen(listen_fd_, 64);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~FaultyOrigin() {
    stopping_ = true;
    if (accept_thread_.joinable()) accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads.swap(connection_threads_);
    }
    for (auto& t : threads) t.join();
    close(listen_fd_);
  }
  FaultyOrigin(const FaultyOrigin&) = delete;
  FaultyOrigin& operator=(const FaultyOrigin&) = delete;

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int requests() const { return requests_.load(); }
  int connections() const { return connections_.load(); }

  // Helpers for scripts.
  static Chunk Bytes(std::string bytes, int pause_after_ms = 0) {
    return Chunk{std::move(bytes), pause_after_ms};
  }
  static std::string Head(const std::string& status_line, const std::string& fields) {
    return status_line + "\r\n" + fields + "\r\n";
  }

 private:
  bool WaitReadable(int fd) {
    while (!stopping_) {
      pollfd p{fd, POLLIN, 0};
      int n = poll(&p, 1, 20);
      if (n > 0) return true;
      if (n < 0) return false;
    }
    return false;
  }

  void AcceptLoop() {
    while (WaitReadable(listen_fd_)) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      connections_++;
      std::lock_guard<std::mutex> lock(mu_);
      connection_threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  bool Pause(int ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < until) {
      if (stopping_) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return !stopping_;
  }

  void Serve(int fd) {
    std::string buffer;
    bool open = true;
    while (open && !stopping_) {
      size_t end;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!WaitReadable(fd)) {
          close(fd);
          return;
        }
        char data[4096];
        ssize_t n = recv(fd, data, sizeof(data), 0);
        if (n <= 0) {
          close(fd);
          return;
        }
        buffer.append(data, static_cast<size_t>(n));
      }
      std::string head = buffer.substr(0, end + 4);
      buffer.erase(0, end + 4);
      Reply reply = script_(head, requests_++);
      for (const Chunk& chunk : reply.chunks) {
        if (!chunk.bytes.empty() &&
            send(fd, chunk.bytes.data(), chunk.bytes.size(), MSG_NOSIGNAL) < 0) {
          open = false;
          break;
        }
        if (chunk.pause_after_ms > 0 && !Pause(chunk.pause_after_ms)) {
          open = false;
          break;
        }
      }
      if (reply.reset) {
        linger l{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
      }
      if (reply.close_after || reply.reset) open = false;
    }
    close(fd);
  }

  Script script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::thread> connection_threads_;
};

}  // namespace preheat_test

#endif  // PREHEAT_TESTS_NATIVE_FAULTY_ORIGIN_H_
