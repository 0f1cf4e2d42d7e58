#pragma once
// Shared by the process backend's tests: where the NIF suites are, a model VM
// on the process backend, and calls written as Erlang text.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/backend.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "nifhost/model/vm.hpp"
#include "nifhost/process/isolated_backend.hpp"

namespace nifhost::process::testing {

using core::Term;

inline std::filesystem::path binary_dir() {
  const char* dir = std::getenv("NIFHOST_BINARY_DIR");
  return dir != nullptr ? dir : ".";
}

inline std::string nif_path(const std::string& name) {
  return (binary_dir() / "nifs" / (name + ".so")).string();
}

inline core::LibrarySpec spec_for(const std::string& name) {
  core::LibrarySpec s;
  s.path = nif_path(name);
  return s;
}

// Arguments written as an Erlang list, parsed on `heap`.
inline std::vector<Term> parse_args(std::string_view text, core::Heap& heap) {
  auto list = core::parse_term(text, heap);
  EXPECT_TRUE(list.has_value()) << text;
  std::vector<Term> out;
  if (list)
    for (Term a : core::ListRange(*list)) out.push_back(a);
  return out;
}

inline std::string text(Term t) { return core::print_term(t); }

// The reason of a contained failure, printed; "" if the outcome was not one.
inline std::string failure_text(const core::CallResult& r) {
  if (const auto* f = std::get_if<core::ContainedFailure>(&r.outcome)) return text(f->reason);
  return "";
}

inline std::string outcome_text(const core::CallResult& r) {
  if (const auto* v = std::get_if<Term>(&r.outcome)) return text(*v);
  if (const auto* e = std::get_if<core::Exception>(&r.outcome))
    return "exception " + text(e->klass) + ":" + text(e->reason);
  const auto& f = std::get<core::ContainedFailure>(r.outcome);
  return "contained " + text(f.reason) + " — " + f.detail;
}

// The backend the fixtures run on. The shm backend differs only in the
// channel, so it compiles these same tests with NIFHOST_TEST_BACKEND=kShm
// (backends/shm/tests/CMakeLists.txt).
#ifndef NIFHOST_TEST_BACKEND
#define NIFHOST_TEST_BACKEND kProcess
#endif

// A model VM whose NIFs run on the process backend.
class VmFixture : public ::testing::Test {
 protected:
  std::unique_ptr<model::Vm> vm_ = [] {
    auto vm = model::Vm::create(core::BackendKind::NIFHOST_TEST_BACKEND);
    EXPECT_TRUE(vm.has_value()) << (vm ? "" : vm.error().message());
    return vm ? std::move(*vm) : nullptr;
  }();

  IsolatedBackend& backend() { return dynamic_cast<IsolatedBackend&>(vm_->backend()); }

  core::LibraryHandle load(core::LibrarySpec spec) {
    auto h = vm_->load(spec);
    EXPECT_TRUE(h.has_value()) << spec.path << ": " << (h ? "" : h.error().message());
    return h.value_or(core::LibraryHandle{});
  }
  core::LibraryHandle load(const std::string& name) { return load(spec_for(name)); }

  core::CallResult call(model::Process& p, core::LibraryHandle lib, std::string_view fn,
                        std::string_view args_text) {
    std::vector<Term> args = parse_args(args_text, p.heap());
    auto f = vm_->lookup(lib, fn, static_cast<unsigned>(args.size()));
    EXPECT_TRUE(f.has_value()) << fn << "/" << args.size();
    if (!f) return {core::ContainedFailure{core::atoms::kUndefined, "no such function"}};
    return vm_->call(p, *f, args);
  }
};

// Waits (bounded) until `done` holds; for effects that cross the channel
// asynchronously (releases, monitor downs).
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace nifhost::process::testing
