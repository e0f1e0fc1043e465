// What the browser front-end (demo/web) needs from the demo origin: the
// thin-shell markers, a second static mount for the package, prefetch
// counting on `Purpose: prefetch` (browsers drop script-set Sec-* headers)
// and a counter reset between benchmark phases.
#include <doctest/doctest.h>
#include <httplib.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "demo_server.h"

using preheat_demo::DemoServer;
using preheat_demo::DemoServerOptions;

namespace {

DemoServerOptions WebFastOptions() {
  DemoServerOptions o;
  o.api = {};
  o.page = {};
  o.shell = {};
  o.data.issues = 200;
  o.threads = 16;
  return o;
}

std::unique_ptr<DemoServer> StartWebServer(const DemoServerOptions& o) {
  std::string error;
  auto s = DemoServer::Start(o, &error);
  REQUIRE_MESSAGE(s != nullptr, error);
  return s;
}

struct WebTempDir {
  std::filesystem::path path;
  WebTempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "preheat-web-XXXXXX").string();
    char* made = mkdtemp(templ.data());
    REQUIRE(made != nullptr);
    path = made;
  }
  ~WebTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("web: the shell is marked for the worker and the page; both boot the front-end") {
  auto server = StartWebServer(WebFastOptions());
  httplib::Client c("127.0.0.1", server->port());
  auto shell = c.Get("/repos/web/issues?page=2", {{"Preheat-Cache", "hit"}});
  REQUIRE(shell);
  CHECK(shell->status == 200);
  CHECK(shell->get_header_value("Preheat-Cache") == "shell");
  CHECK(shell->get_header_value("Vary") == "Preheat-Cache");
  CHECK(shell->get_header_value("Cache-Control").find("no-cache") != std::string::npos);
  CHECK(shell->body.find("<meta name=\"preheat-shell\"") != std::string::npos);
  CHECK(shell->body.find("/app.js") != std::string::npos);
  // The same document for every URL of a route: a worker may replay it
  // (offline, or `shellFromCache`) for another URL than the one it came with.
  auto other = c.Get("/repos/web/issues?page=7", {{"Preheat-Cache", "hit"}});
  REQUIRE(other);
  CHECK(other->body == shell->body);
  auto full = c.Get("/issues/5");
  REQUIRE(full);
  CHECK(full->get_header_value("Preheat-Cache").empty());
  CHECK(full->body.find("preheat-shell") == std::string::npos);
  CHECK(full->body.find("/app.js") != std::string::npos);
  CHECK(full->body.find("/app.css") != std::string::npos);
  CHECK(full->body.find("performance.mark('demo:content')") != std::string::npos);
}

TEST_CASE("web: the shell marks where a worker inlines data and inlines its critical files") {
  // Without a static directory the shell links render.js and app.css.
  {
    auto server = StartWebServer(WebFastOptions());
    httplib::Client c("127.0.0.1", server->port());
    auto shell = c.Get("/issues/5", {{"Preheat-Cache", "hit"}});
    REQUIRE(shell);
    CHECK(shell->body.find("<script src=\"/render.js\"></script>") != std::string::npos);
    CHECK(shell->body.find("href=\"/app.css\"") != std::string::npos);
    size_t marker = shell->body.find("<!--preheat-data-->");
    REQUIRE(marker != std::string::npos);
    CHECK(marker > shell->body.find("</main>"));
    // The shell has no module script: render.js starts app.js after the
    // first paint (at once without render.js).
    CHECK(shell->body.find("DemoRender.boot('/app.js')", marker) != std::string::npos);
    CHECK(shell->body.find("type=\"module\"") == std::string::npos);
  }
  // With one, both are inlined into the shell (its first paint waits on no
  // other file); full pages still link them; a file that could end its
  // element early is linked instead.
  WebTempDir root;
  std::ofstream(root.path / "app.css") << "main { color: teal }\n";
  std::ofstream(root.path / "render.js") << "window.DemoRender = { paintInline() {} };\n";
  auto o = WebFastOptions();
  o.static_dir = root.path.string();
  auto server = StartWebServer(o);
  httplib::Client c("127.0.0.1", server->port());
  auto shell = c.Get("/issues/5", {{"Preheat-Cache", "hit"}});
  REQUIRE(shell);
  CHECK(shell->body.find("<style>main { color: teal }") != std::string::npos);
  CHECK(shell->body.find("<script>window.DemoRender = {") != std::string::npos);
  CHECK(shell->body.find("src=\"/render.js\"") == std::string::npos);
  auto full = c.Get("/issues/5");
  REQUIRE(full);
  CHECK(full->body.find("<script src=\"/render.js\"></script>") != std::string::npos);
  CHECK(full->body.find("<!--preheat-data-->") == std::string::npos);
  std::ofstream(root.path / "render.js") << "const s = '</SCRIPT>';\n";
  auto linked = c.Get("/issues/5", {{"Preheat-Cache", "hit"}});
  REQUIRE(linked);
  CHECK(linked->body.find("<script src=\"/render.js\"></script>") != std::string::npos);
  CHECK(linked->body.find("</SCRIPT>") == std::string::npos);
}

TEST_CASE("web: --mount serves a second directory at a prefix, before the root mount") {
  WebTempDir root, pkg;
  std::filesystem::create_directories(pkg.path / "src");
  std::ofstream(root.path / "app.js") << "export const root = 1;\n";
  std::ofstream(pkg.path / "src" / "index.js") << "export const pkg = 1;\n";
  auto o = WebFastOptions();
  o.static_dir = root.path.string();
  o.mounts = {{"/preheat/", pkg.path.string()}};
  auto server = StartWebServer(o);
  httplib::Client c("127.0.0.1", server->port());
  auto a = c.Get("/app.js");
  REQUIRE(a);
  CHECK(a->body.find("root") != std::string::npos);
  auto b = c.Get("/preheat/src/index.js");
  REQUIRE(b);
  CHECK(b->status == 200);
  CHECK(b->get_header_value("Content-Type") == "text/javascript");
  CHECK(b->body.find("pkg") != std::string::npos);
  CHECK(c.Get("/preheat/missing.js")->status == 404);
  CHECK(c.Get("/")->body.find("Repositories") != std::string::npos);  // the route, not a file

  std::string error;
  auto bad = WebFastOptions();
  bad.mounts = {{"preheat", pkg.path.string()}};
  CHECK(DemoServer::Start(bad, &error) == nullptr);
  CHECK(error.find("must start and end") != std::string::npos);
  bad.mounts = {{"/preheat/", (pkg.path / "nope").string()}};
  CHECK(DemoServer::Start(bad, &error) == nullptr);
  CHECK(error.find("not a directory") != std::string::npos);
}

TEST_CASE("web: Purpose and Sec-Purpose count as prefetches; /admin/reset zeroes counters") {
  auto server = StartWebServer(WebFastOptions());
  httplib::Client c("127.0.0.1", server->port());
  c.Get("/api/issues/1", {{"Purpose", "prefetch"}});
  c.Get("/api/issues/2", {{"Sec-Purpose", "prefetch"}});
  c.Get("/api/issues/3");
  c.Get("/issues/3", {{"Purpose", "prefetch"}});  // a page's: a browser's document prefetch
  c.Post("/api/issues/3", {{"Purpose", "prefetch"}}, "{}", "application/json");
  auto counters = server->counters();
  CHECK(counters.prefetch_requests == 4);
  CHECK(counters.prefetch_page_requests == 1);
  CHECK(counters.prefetch_other_requests == 1);
  auto stats = nlohmann::json::parse(c.Get("/admin/stats")->body);
  CHECK(stats["prefetch_page_requests"] == 1);
  CHECK(stats["prefetch_other_requests"] == 1);
  auto reset = c.Post("/admin/reset", "", "text/plain");
  REQUIRE(reset);
  CHECK(reset->status == 200);
  CHECK(server->counters().requests == 0);
  CHECK(server->counters().prefetch_requests == 0);
}

TEST_CASE("web: files carry an ETag and answer 304; --static-swr / --static-max-age let browsers reuse them") {
  WebTempDir root;
  std::ofstream(root.path / "app.js") << "export const v = 1;\n";
  auto o = WebFastOptions();
  o.static_dir = root.path.string();
  {
    auto server = StartWebServer(o);
    httplib::Client c("127.0.0.1", server->port());
    auto first = c.Get("/app.js");
    REQUIRE(first);
    CHECK(first->get_header_value("Cache-Control") == "no-cache");
    std::string etag = first->get_header_value("ETag");
    CHECK(etag.size() == 18);
    auto again = c.Get("/app.js", {{"If-None-Match", etag}});
    REQUIRE(again);
    CHECK(again->status == 304);
    CHECK(again->body.empty());
    CHECK(c.Get("/app.js", {{"If-None-Match", "\"other\""}})->status == 200);
  }
  o.static_swr_seconds = 600;
  {
    auto server = StartWebServer(o);
    httplib::Client c("127.0.0.1", server->port());
    CHECK(c.Get("/app.js")->get_header_value("Cache-Control") ==
          "max-age=0, stale-while-revalidate=600");
    // API answers keep their own caching headers.
    CHECK(c.Get("/api/issues/1")->get_header_value("Cache-Control").find("max-age=0") == 0);
  }
  // --static-max-age: fresh for a while, then the stale-while-revalidate window.
  o.static_max_age_seconds = 300;
  {
    auto server = StartWebServer(o);
    httplib::Client c("127.0.0.1", server->port());
    CHECK(c.Get("/app.js")->get_header_value("Cache-Control") ==
          "max-age=300, stale-while-revalidate=600");
    CHECK(c.Get("/api/issues/1")->get_header_value("Cache-Control").find("max-age=0") == 0);
  }
  o.static_swr_seconds = 0;
  auto server = StartWebServer(o);
  httplib::Client c("127.0.0.1", server->port());
  CHECK(c.Get("/app.js")->get_header_value("Cache-Control") == "max-age=300");
}
