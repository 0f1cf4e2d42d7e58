// The process backend meets the backend contract: loads and calls as the
// in-process backend does, runs yielding and dirty NIFs in the worker, keeps
// resources in the worker behind handles, forwards what NIFs ask of the VM,
// and serves several callers at once.
#include "nifhost/process/process_backend.hpp"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "nifhost/core/order.hpp"
#include "nifhost/inproc/inproc_backend.hpp"
#include "support.hpp"

namespace nifhost::process::testing {
namespace {

class ProcessBackend : public VmFixture {};

TEST_F(ProcessBackend, CallsRunInAWorkerProcess) {
  auto lib = load("nh_terms");
  model::Process& p = vm_->spawn();
  auto r = call(p, lib, "add", "[40, 2]");
  ASSERT_TRUE(r.ok()) << outcome_text(r);
  EXPECT_EQ(text(r.value()), "42");
  pid_t worker = backend().worker_pid(lib);
  EXPECT_GT(worker, 0);
  EXPECT_NE(worker, ::getpid());
  // Bignums, floats, binaries, maps, pids and nested terms survive the trip.
  const char* term =
      "{123456789012345678901234567890, -2.5, <<\"bin\", 0, 255>>, #{k => [v, \"str\"]}, "
      "[a | b], <<1:3>>, #Ref<0.1.2.3>}";
  r = call(p, lib, "echo", std::string("[") + term + "]");
  ASSERT_TRUE(r.ok()) << outcome_text(r);
  core::Heap heap;
  auto expected = core::parse_term(term, heap);
  ASSERT_TRUE(expected.has_value());
  EXPECT_TRUE(core::identical(r.value(), *expected)) << text(r.value());
  EXPECT_EQ(text(call(p, lib, "echo", "[" + text(p.pid()) + "]").value()), text(p.pid()));
}

TEST_F(ProcessBackend, InfoAndLookupAreTheLoadersAsInProcess) {
  auto lib = load("nh_terms");
  auto info = vm_->backend().info(lib);
  ASSERT_TRUE(info.has_value());
  core::NullHostServices null_host;
  inproc::InprocBackend inproc(null_host);
  auto ilib = inproc.load(spec_for("nh_terms"));
  ASSERT_TRUE(ilib.has_value());
  auto iinfo = inproc.info(*ilib);
  ASSERT_TRUE(iinfo.has_value());
  EXPECT_EQ(info->module, iinfo->module);
  EXPECT_EQ(info->nif_major, iinfo->nif_major);
  EXPECT_EQ(info->nif_minor, iinfo->nif_minor);
  EXPECT_EQ(info->vm_variant, iinfo->vm_variant);
  ASSERT_EQ(info->functions.size(), iinfo->functions.size());
  for (std::size_t i = 0; i < info->functions.size(); ++i) {
    EXPECT_EQ(info->functions[i].name, iinfo->functions[i].name);
    EXPECT_EQ(info->functions[i].arity, iinfo->functions[i].arity);
    EXPECT_EQ(info->functions[i].flags, iinfo->functions[i].flags);
  }
  auto missing = vm_->backend().lookup(lib, "no_such_function", 0);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, core::LoadErrc::kNoFunction);
}

TEST_F(ProcessBackend, ExceptionsComeBackAsRaised) {
  auto lib = load("nh_terms");
  model::Process& p = vm_->spawn();
  auto r = call(p, lib, "add", "[1, not_a_number]");
  const auto* e = std::get_if<core::Exception>(&r.outcome);
  ASSERT_NE(e, nullptr) << outcome_text(r);
  EXPECT_EQ(e->klass, core::atoms::kError);
  EXPECT_EQ(e->reason, core::atoms::kBadarg);
  EXPECT_EQ(vm_->backend().stats().exceptions, 1u);
}

TEST_F(ProcessBackend, LoadErrorsAreTheLoadersReasons) {
  auto missing = vm_->load(spec_for("no_such_library"));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, core::LoadErrc::kLoadFailed) << missing.error().message();
  auto vetoed = vm_->load(spec_for("nh_load_fail"));
  ASSERT_FALSE(vetoed.has_value());
  EXPECT_EQ(vetoed.error().code, core::LoadErrc::kLoad) << vetoed.error().message();
  auto bad = vm_->load(spec_for("nh_bad_version"));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, core::LoadErrc::kBadLib) << bad.error().message();
  load("nh_terms");
  auto again = vm_->load(spec_for("nh_terms"));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, core::LoadErrc::kReload);
}

TEST_F(ProcessBackend, YieldingAndDirtyNifsCompleteInTheWorker) {
  auto lib = load("nh_sched");
  model::Process& p = vm_->spawn();
  auto r = call(p, lib, "yielding_sum", "[100000]");
  ASSERT_TRUE(r.ok()) << outcome_text(r);
  EXPECT_EQ(text(r.value()), "5000050000");
  EXPECT_EQ(text(call(p, lib, "dirty_cpu_type", "[]").value()), "dirty_cpu");
  EXPECT_EQ(text(call(p, lib, "dirty_io_type", "[]").value()), "dirty_io");
  EXPECT_EQ(text(call(p, lib, "thread_type", "[]").value()), "normal");
  r = call(p, lib, "schedule_to_dirty", "[10]");
  ASSERT_TRUE(r.ok()) << outcome_text(r);
  EXPECT_EQ(text(r.value()), "{[normal,dirty_cpu,normal],55}");
}

TEST_F(ProcessBackend, SendsFromTheNifLandInTheVmsMailboxes) {
  auto lib = load("nh_messages");
  model::Process& a = vm_->spawn();
  model::Process& b = vm_->spawn();
  auto r = call(a, lib, "send_self", "[{ping, [1, 2.5, <<\"bin\">>]}]");
  ASSERT_TRUE(r.ok()) << outcome_text(r);
  EXPECT_EQ(r.value(), core::atoms::kTrue);
  auto got = a.receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(text(*got), "{ping,[1,2.5,<<\"bin\">>]}");
  // From a thread the NIF created (the control lane), and from an allocated env.
  r = call(a, lib, "send_from_thread", "[" + text(b.pid()) + ", from_thread]");
  EXPECT_EQ(r.value(), core::atoms::kTrue) << outcome_text(r);
  r = call(a, lib, "send_from_alloc_env", "[" + text(b.pid()) + ", {alloc, #{k => v}}]");
  EXPECT_EQ(r.value(), core::atoms::kTrue) << outcome_text(r);
  got = b.receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(text(*got), "from_thread");
  got = b.receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(text(*got), "{alloc,#{k => v}}");
  // In order, as enif_send is synchronous.
  r = call(a, lib, "send_n", "[" + text(a.pid()) + ", 50]");
  ASSERT_TRUE(r.ok()) << outcome_text(r);
  for (int i = 1; i <= 50; ++i) {
    got = a.receive();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(text(*got), "{nh_seq," + std::to_string(i) + "}");
  }
  EXPECT_EQ(text(call(a, lib, "self", "[]").value()), text(a.pid()));
}

TEST_F(ProcessBackend, WhereisAndLivenessAskTheVm) {
  auto lib = load("nh_messages");
  model::Process& a = vm_->spawn();
  model::Process& b = vm_->spawn();
  ASSERT_TRUE(vm_->register_name(core::atom("nh_named"), b));
  EXPECT_EQ(text(call(a, lib, "whereis", "[nh_named]").value()), text(b.pid()));
  EXPECT_EQ(text(call(a, lib, "whereis", "[nh_nobody]").value()), "undefined");
  EXPECT_EQ(call(a, lib, "is_process_alive", "[" + text(b.pid()) + "]").value(),
            core::atoms::kTrue);
  vm_->exit(b, core::atoms::kNormal);
  EXPECT_EQ(call(a, lib, "is_process_alive", "[" + text(b.pid()) + "]").value(),
            core::atoms::kFalse);
  EXPECT_EQ(call(a, lib, "send_to", "[" + text(b.pid()) + ", lost]").value(), core::atoms::kFalse);
}

TEST_F(ProcessBackend, MonitorsFireInTheWorkerWhenTheVmsProcessExits) {
  auto lib = load("nh_messages");
  model::Process& watcher = vm_->spawn();
  model::Process& target = vm_->spawn();
  auto r = call(watcher, lib, "monitor", "[" + text(target.pid()) + "]");
  ASSERT_TRUE(r.ok()) << outcome_text(r);
  ASSERT_TRUE(core::is_tuple(r.value())) << text(r.value());
  Term resource = core::tuple_elements(r.value())[0];
  EXPECT_TRUE(core::is_boxed_of(resource, core::Subtag::kHandle)) << text(resource);
  EXPECT_EQ(vm_->monitor_count(), 1u);
  vm_->exit(target, core::atoms::kNormal);
  // The down callback runs in the worker and sends {nh_down, Resource, Pid}.
  auto got = watcher.receive(std::chrono::milliseconds(5000));
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(core::is_tuple(*got) && core::tuple_arity(*got) == 3) << text(*got);
  EXPECT_EQ(text(core::tuple_elements(*got)[0]), "nh_down");
  EXPECT_TRUE(core::identical(core::tuple_elements(*got)[1], resource));
  EXPECT_EQ(core::tuple_elements(*got)[2], target.pid());
  EXPECT_EQ(text(call(watcher, lib, "down_count", "[]").value()), "1");

  // A demonitored process exits quietly.
  model::Process& other = vm_->spawn();
  r = call(watcher, lib, "monitor", "[" + text(other.pid()) + "]");
  ASSERT_TRUE(r.ok()) << outcome_text(r);
  Term res2 = core::tuple_elements(r.value())[0];
  std::vector<Term> args{res2};
  auto demon = vm_->lookup(lib, "demonitor", 1);
  ASSERT_TRUE(demon.has_value());
  EXPECT_EQ(vm_->call(watcher, *demon, args).value(), core::atoms::kTrue);
  EXPECT_EQ(vm_->monitor_count(), 0u);
  vm_->exit(other, core::atoms::kNormal);
  EXPECT_EQ(text(call(watcher, lib, "down_count", "[]").value()), "1");
}

TEST_F(ProcessBackend, ResourcesStayInTheWorkerAndAreReleasedWhenTheHostLetsGo) {
  auto lib = load("nh_resources");
  model::Process& p = vm_->spawn();
  core::Heap held;  // the only place the handle lives
  auto fnew = vm_->lookup(lib, "new", 1).value();
  auto fget = vm_->lookup(lib, "get", 1).value();
  auto fset = vm_->lookup(lib, "set", 2).value();
  auto fdtor = vm_->lookup(lib, "destructor_count", 0).value();
  auto dtors = [&] {
    auto r = vm_->call(p, fdtor, {});
    return r.ok() ? core::integer_to_int64(r.value()).value_or(-1) : -1;
  };
  std::int64_t before = dtors();
  Term handle;
  {
    std::vector<Term> args{core::make_small(41)};
    auto r = vm_->call(p, fnew, args);
    ASSERT_TRUE(r.ok()) << outcome_text(r);
    ASSERT_TRUE(core::is_boxed_of(r.value(), core::Subtag::kHandle)) << text(r.value());
    handle = core::copy_term(held, r.value());
  }
  std::vector<Term> args{handle};
  EXPECT_EQ(text(vm_->call(p, fget, args).value()), "41");
  std::vector<Term> set_args{handle, core::make_small(7)};
  EXPECT_EQ(text(vm_->call(p, fset, set_args).value()), "ok");
  EXPECT_EQ(text(vm_->call(p, fget, args).value()), "7");
  // The process heap still holds the handle too: clear both, and the worker runs the destructor.
  EXPECT_EQ(dtors(), before);
  p.heap().clear();
  held.clear();
  EXPECT_TRUE(eventually([&] { return dtors() == before + 1; }))
      << "destructor count " << dtors() << ", expected " << before + 1;
}

TEST_F(ProcessBackend, LargeBinariesCrossIntact) {
  auto lib = load("nh_terms");
  model::Process& p = vm_->spawn();
  auto echo = vm_->lookup(lib, "echo", 1).value();
  for (std::size_t n : {std::size_t{16} << 10, std::size_t{1} << 20, std::size_t{16} << 20}) {
    SCOPED_TRACE(n);
    std::vector<std::uint8_t> bytes(n);
    for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i * 31 + (i >> 12));
    // The binary alone and inside tuples (both sent in place), and in a list.
    for (bool nested : {false, true}) {
      Term bin = *core::make_binary(p.heap(), bytes);
      Term small = core::make_binary(p.heap(), std::string_view("tail"));
      Term arg = nested ? core::make_tuple(p.heap(), {bin, core::make_list(p.heap(), {bin, small}),
                                                      core::make_tuple(p.heap(), {small, bin})})
                        : bin;
      std::vector<Term> args{arg};
      auto r = vm_->call(p, echo, args);
      ASSERT_TRUE(r.ok()) << outcome_text(r);
      EXPECT_TRUE(core::identical(r.value(), arg));
      p.heap().clear();
    }
  }
}

TEST(ProcessBackendLimits, TermsOverTheFrameLimitAreRefusedNotSent) {
  core::NullHostServices host;
  IsolatedConfig config;
  config.max_frame_bytes = std::size_t{1} << 20;
  auto backend = make_process_backend(host, config);
  ASSERT_TRUE(backend.has_value()) << backend.error().message();
  auto terms = (*backend)->load(spec_for("nh_terms"));
  auto bins = (*backend)->load(spec_for("nh_binaries"));
  ASSERT_TRUE(terms && bins);
  core::Heap heap;
  core::Caller caller{&heap, core::kNilTerm};
  std::vector<std::uint8_t> big((std::size_t{1} << 20) + 1);
  std::vector<Term> args{*core::make_binary(heap, big)};
  auto r = (*backend)->call((*backend)->lookup(*terms, "echo", 1).value(), caller, args);
  // The whole payload: the binary and the call's own terms.
  const auto* f = std::get_if<core::ContainedFailure>(&r.outcome);
  ASSERT_NE(f, nullptr) << outcome_text(r);
  Term why = core::tuple_elements(f->reason)[3];
  EXPECT_EQ(text(core::tuple_elements(f->reason)[1]), "nh_terms");
  ASSERT_TRUE(core::is_tuple(why)) << text(why);
  EXPECT_EQ(text(core::tuple_elements(why)[0]), "too_large");
  EXPECT_GT(core::integer_to_int64(core::tuple_elements(why)[1]).value_or(0), (1 << 20) + 6);
  // A result over the limit is the worker's system_limit, raised in the caller.
  args = {core::make_binary(heap, std::string_view("")), core::make_integer(heap, 2 << 20),
          core::make_integer(heap, 2 << 20)};
  r = (*backend)->call((*backend)->lookup(*bins, "realloc", 3).value(), caller, args);
  const auto* e = std::get_if<core::Exception>(&r.outcome);
  ASSERT_NE(e, nullptr) << outcome_text(r);
  EXPECT_EQ(text(e->reason), "system_limit");
  // Both workers are still there.
  args = {core::make_small(1)};
  EXPECT_TRUE((*backend)->call((*backend)->lookup(*terms, "echo", 1).value(), caller, args).ok());
}

TEST_F(ProcessBackend, ManyCallersShareOneWorker) {
  auto lib = load("nh_terms");
  auto add = vm_->lookup(lib, "add", 2).value();
  constexpr int kThreads = 4;
  constexpr int kCalls = 1000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  std::vector<model::Process*> procs;
  for (int t = 0; t < kThreads; ++t) procs.push_back(&vm_->spawn());
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      model::Process& p = *procs[static_cast<std::size_t>(t)];
      for (int i = 0; i < kCalls; ++i) {
        std::vector<Term> args{core::make_small(t * 1'000'000), core::make_small(i)};
        auto r = vm_->call(p, add, args);
        if (!r.ok() || core::integer_to_int64(r.value()) != t * 1'000'000 + i) ++wrong;
        if (i % 100 == 0) p.heap().clear();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(vm_->backend().stats().calls, static_cast<std::uint64_t>(kThreads * kCalls));
}

TEST_F(ProcessBackend, DomainsGroupLibrariesIntoOneWorker) {
  core::LibrarySpec a = spec_for("nh_terms");
  a.domain = "shared";
  core::LibrarySpec b = spec_for("nh_binaries");
  b.domain = "shared";
  auto la = load(a);
  auto lb = load(b);
  auto lc = load("nh_sched");
  EXPECT_EQ(backend().worker_pid(la), backend().worker_pid(lb));
  EXPECT_NE(backend().worker_pid(la), backend().worker_pid(lc));
}

TEST_F(ProcessBackend, UpgradeReplacesTheLibraryInItsWorker) {
  auto v1 = load("nh_upgrade");
  model::Process& p = vm_->spawn();
  auto before = call(p, v1, "version", "[]");
  ASSERT_TRUE(before.ok()) << outcome_text(before);
  EXPECT_EQ(text(before.value()), "1");
  pid_t worker = backend().worker_pid(v1);
  auto v2 = vm_->backend().upgrade(v1, spec_for("nh_upgrade_v2"));
  ASSERT_TRUE(v2.has_value()) << v2.error().message();
  EXPECT_EQ(backend().worker_pid(*v2), worker);
  EXPECT_EQ(text(call(p, *v2, "version", "[]").value()), "2");
  // The old handles are stale.
  EXPECT_FALSE(vm_->backend().info(v1).has_value());
  EXPECT_FALSE(vm_->backend().lookup(v1, "version", 0).has_value());
}

TEST_F(ProcessBackend, UnloadStopsTheWorkerAndStalesTheHandles) {
  auto lib = load("nh_terms");
  auto add = vm_->lookup(lib, "add", 2).value();
  pid_t worker = backend().worker_pid(lib);
  ASSERT_GT(worker, 0);
  ASSERT_TRUE(vm_->backend().unload(lib).has_value());
  EXPECT_FALSE(vm_->backend().info(lib).has_value());
  model::Process& p = vm_->spawn();
  std::vector<Term> args{core::make_small(1), core::make_small(2)};
  auto r = vm_->call(p, add, args);
  EXPECT_EQ(failure_text(r), "{nifhost,undefined,undefined,stale_handle}") << outcome_text(r);
  // The worker is gone (reaped: no such process).
  EXPECT_TRUE(eventually([&] { return ::kill(worker, 0) != 0; }));
}

}  // namespace
}  // namespace nifhost::process::testing
