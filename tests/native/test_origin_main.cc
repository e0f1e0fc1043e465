// A tiny origin for the CLI tests (cli_test.sh): prints its port on stdout,
// then serves until killed.
//   /r/<name>   200, Cache-Control: max-age=60, ETag "v1", Cache-Tag: t1
//   /nostore    200, Cache-Control: no-store
//   /error      503
//   /bogus304   304 to every request, conditional or not
//   /bin        200, application/octet-stream: 00 ff fe 80 61 62 63
//   /utf8       200, text/plain; charset=utf-8: "caf\u00e9 \u20ac"
#include <httplib.h>

#include <cstdio>
#include <string>

int main() {
  httplib::Server server;
  server.Get(R"(/r/.*)", [](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Cache-Control", "max-age=60");
    res.set_header("ETag", "\"v1\"");
    res.set_header("Cache-Tag", "t1");
    if (req.get_header_value("If-None-Match") == "\"v1\"") {
      res.status = 304;
      return;
    }
    res.set_content("body of " + req.path + "\n", "text/plain");
  });
  server.Get("/nostore", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content("secret\n", "text/plain");
  });
  server.Get("/error", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content("unavailable\n", "text/plain");
  });
  server.Get("/bogus304", [](const httplib::Request&, httplib::Response& res) {
    res.status = 304;
  });
  server.Get("/bin", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "max-age=60");
    res.set_content(std::string("\x00\xff\xfe\x80" "abc", 7), "application/octet-stream");
  });
  server.Get("/utf8", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "max-age=60");
    res.set_content("caf\xc3\xa9 \xe2\x82\xac", "text/plain; charset=utf-8");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  if (port <= 0) return 1;
  std::printf("%d\n", port);
  std::fflush(stdout);
  return server.listen_after_bind() ? 0 : 1;
}
