// preheat-demo-server: the demo origin as a standalone process, for the
// browser front-end and for poking at by hand (curl -i).
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "demo_server.h"
#include "flags.h"

namespace {

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: preheat-demo-server [flags]\n"
               "Serves a seeded synthetic issue tracker (JSON API, HTML pages, thin shell).\n"
               "  --host H              address to listen on (default 127.0.0.1)\n"
               "  --port N              port; 0 picks a free one and prints it (default 8080)\n"
               "  --static DIR          serve files from DIR at / (web assets)\n"
               "  --mount /PREFIX/=DIR  also serve DIR at /PREFIX/ (repeatable; e.g.\n"
               "                        --mount /preheat/=build/wasm/web for the package)\n"
               "  --seed N              seeds delays and failure draws (default 1)\n"
               "%s"
               "  --help                this text\n"
               "Admin: GET /admin/stats, POST /admin/reset, POST /admin/down?on=0|1,\n"
               "       POST /admin/failure?rate=R\n",
               preheat_demo::kServerFlagsHelp);
}

}  // namespace

int main(int argc, char** argv) {
  preheat_demo::DemoServerOptions options;
  options.port = 8080;
  for (int i = 1; i < argc; i++) {
    std::string name = argv[i];
    if (name == "--help" || name == "-h") {
      Usage(stdout);
      return 0;
    }
    std::string value, error;
    if (!preheat_demo::ReadFlag(argc, argv, &i, &name, &value, &error)) {
      std::fprintf(stderr, "preheat-demo-server: %s\n", error.c_str());
      return 2;
    }
    int64_t n = 0;
    if (name == "--host") {
      options.host = value;
    } else if (name == "--port") {
      if (!preheat_demo::ParseInt(value, 0, 65535, &n)) {
        std::fprintf(stderr, "preheat-demo-server: --port %s: expected 0..65535\n", value.c_str());
        return 2;
      }
      options.port = static_cast<int>(n);
    } else if (name == "--static") {
      options.static_dir = value;
    } else if (name == "--mount") {
      size_t sep = value.find('=');
      if (sep == std::string::npos || sep == 0 || sep + 1 == value.size()) {
        std::fprintf(stderr, "preheat-demo-server: --mount %s: expected /PREFIX/=DIR\n",
                     value.c_str());
        return 2;
      }
      options.mounts.emplace_back(value.substr(0, sep), value.substr(sep + 1));
    } else if (name == "--seed") {
      if (!preheat_demo::ParseInt(value, 0, INT64_MAX, &n)) {
        std::fprintf(stderr, "preheat-demo-server: --seed %s: expected an integer >= 0\n",
                     value.c_str());
        return 2;
      }
      options.seed = static_cast<uint64_t>(n);
    } else {
      switch (preheat_demo::ApplyServerFlag(name, value, &options, &error)) {
        case preheat_demo::FlagResult::kApplied: break;
        case preheat_demo::FlagResult::kBadValue:
          std::fprintf(stderr, "preheat-demo-server: %s\n", error.c_str());
          return 2;
        case preheat_demo::FlagResult::kUnknown:
          std::fprintf(stderr, "preheat-demo-server: unknown flag %s (see --help)\n", name.c_str());
          return 2;
      }
    }
  }

  // Block the stop signals before any thread starts, so only sigwait below
  // receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::string error;
  auto server = preheat_demo::DemoServer::Start(options, &error);
  if (!server) {
    std::fprintf(stderr, "preheat-demo-server: %s\n", error.c_str());
    return 1;
  }
  std::printf("preheat-demo-server: %u issues in %zu repositories; listening on %s\n",
              server->tracker().issue_count(), server->tracker().repos().size(),
              server->base_url().c_str());
  std::printf("port %d\n", server->port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "preheat-demo-server: %s, stopping\n", strsignal(sig));
  server->Stop();
  return 0;
}
