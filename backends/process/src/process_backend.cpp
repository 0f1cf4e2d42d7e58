// The `process` backend (the isolated core with the socket channel), and how
// the host finds its worker executable.
#include "nifhost/process/process_backend.hpp"

#include <algorithm>
#include <cstdlib>
#include <dlfcn.h>
#include <system_error>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "nifhost/process/socket_channel.hpp"

namespace nifhost::process {

namespace {

constexpr const char* kWorkerName = "nifhost-worker";

bool executable(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

}  // namespace

tl::expected<std::filesystem::path, std::string> locate_worker() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("NIFHOST_WORKER"); env != nullptr && *env != '\0') {
    if (executable(env)) return fs::path(env);
    return tl::unexpected(fmt::format("NIFHOST_WORKER={} is not an executable file", env));
  }
  std::vector<fs::path> candidates;
  std::error_code ec;
  // Beside the running program (the build tree's bin/, an installed bin/),
  // or in the libexec directory next to it.
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path dir = exe.parent_path();
    candidates.push_back(dir / kWorkerName);
    candidates.push_back(dir / ".." / "libexec" / kWorkerName);
  }
  // Relative to the shared core library, for programs that live elsewhere
  // (tests, embedders): <prefix>/lib → <prefix>/libexec, build/core → build/bin.
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&core::backend_name), &info) != 0 &&
      info.dli_fname != nullptr) {
    fs::path lib = fs::weakly_canonical(info.dli_fname, ec);
    if (!ec) {
      fs::path dir = lib.parent_path();
      candidates.push_back(dir / ".." / "libexec" / kWorkerName);
      candidates.push_back(dir / ".." / "bin" / kWorkerName);
      candidates.push_back(dir / kWorkerName);
    }
  }
#ifdef NIFHOST_WORKER_INSTALL_PATH
  candidates.emplace_back(NIFHOST_WORKER_INSTALL_PATH);
#endif
#ifdef NIFHOST_WORKER_BUILD_PATH
  candidates.emplace_back(NIFHOST_WORKER_BUILD_PATH);
#endif
  std::string tried;
  std::vector<std::string> seen;
  for (const fs::path& c : candidates) {
    std::string name = c.lexically_normal().string();
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
    seen.push_back(name);
    if (executable(c)) return fs::weakly_canonical(c, ec);
    tried += "\n  " + name;
  }
  return tl::unexpected(
      fmt::format("the worker executable {} was not found (set NIFHOST_WORKER); looked for:{}",
                  kWorkerName, tried));
}

tl::expected<std::unique_ptr<core::Backend>, core::LoadError> make_process_backend(
    core::HostServices& host) {
  return make_process_backend(host, IsolatedConfig{});
}

tl::expected<std::unique_ptr<core::Backend>, core::LoadError> make_process_backend(
    core::HostServices& host, IsolatedConfig config) {
  if (config.worker_path.empty()) {
    auto found = locate_worker();
    if (!found)
      return tl::make_unexpected(core::LoadError{core::LoadErrc::kUnavailable, found.error()});
    config.worker_path = *found;
  }
  return std::make_unique<IsolatedBackend>(core::BackendKind::kProcess, host,
                                           std::make_unique<SocketChannelFactory>(),
                                           std::move(config));
}

}  // namespace nifhost::process
