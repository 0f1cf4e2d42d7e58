// The model VM as nh_messages sees it: self, send (copied into the receiver),
// registered names, liveness, and monitors whose down callback fires when a
// process exits; NIF calls made by handle on behalf of a process.
#include "nifhost/model/vm.hpp"

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"

namespace nifhost::model {
namespace {

using core::Term;

std::string nif_path(const std::string& name) {
  const char* dir = std::getenv("NIFHOST_BINARY_DIR");
  return (std::filesystem::path(dir ? dir : ".") / "nifs" / (name + ".so")).string();
}

class VmTest : public ::testing::Test {
 protected:
  std::unique_ptr<Vm> vm_ = Vm::create(core::BackendKind::kInproc).value();
  core::LibraryHandle lib_ = [this] {
    core::LibrarySpec spec;
    spec.path = nif_path("nh_messages");
    auto h = vm_->load(spec);
    EXPECT_TRUE(h.has_value()) << h.error().message();
    return h.value_or(core::LibraryHandle{});
  }();

  // Calls nh_messages:fn(args...) as `p`; the args text is parsed on `heap`.
  core::CallResult call(Process& p, std::string_view fn, std::string_view args_text,
                        core::Heap& heap) {
    auto list = core::parse_term(args_text, heap);
    EXPECT_TRUE(list.has_value()) << args_text;
    std::vector<Term> args;
    for (Term a : core::ListRange(*list)) args.push_back(a);
    auto f = vm_->lookup(lib_, fn, static_cast<unsigned>(args.size()));
    EXPECT_TRUE(f.has_value()) << fn;
    return vm_->call(p, *f, args);
  }
  core::CallResult call(Process& p, std::string_view fn, std::string_view args_text) {
    return call(p, fn, args_text, p.heap());
  }
  std::string text(Term t) { return core::print_term(t); }
  std::string pid_text(const Process& p) { return text(p.pid()); }
};

TEST_F(VmTest, SelfIsTheCallingProcess) {
  Process& a = vm_->spawn();
  Process& b = vm_->spawn();
  EXPECT_NE(a.pid(), b.pid());
  EXPECT_EQ(call(a, "self", "[]").value(), a.pid());
  EXPECT_EQ(call(b, "self", "[]").value(), b.pid());
  EXPECT_EQ(vm_->find(a.pid()), &a);
  auto libs = a.nif_libraries();
  ASSERT_EQ(libs.size(), 1u);
  EXPECT_EQ(libs[0], lib_);
}

TEST_F(VmTest, SentMessagesAreCopiesOnTheReceiversSide) {
  Process& a = vm_->spawn();
  Process& b = vm_->spawn();
  {
    core::Heap args;  // the sender's terms: gone before the message is read
    std::string to = pid_text(b);
    auto r = call(a, "send_to", "[" + to + ", {hello, [1, 2.5, <<\"bin\">>], \"str\"}]", args);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value(), core::atoms::kTrue);
    r = call(a, "send_from_alloc_env", "[" + to + ", {second, #{k => v}}]", args);
    EXPECT_EQ(r.value(), core::atoms::kTrue);
    r = call(a, "send_from_thread", "[" + to + ", third]", args);
    EXPECT_EQ(r.value(), core::atoms::kTrue);
    args.clear();
  }
  EXPECT_EQ(b.mailbox_size(), 3u);
  auto m1 = b.receive();
  ASSERT_TRUE(m1.has_value());
  EXPECT_EQ(text(*m1), "{hello,[1,2.5,<<\"bin\">>],\"str\"}");
  EXPECT_EQ(text(b.receive().value()), "{second,#{k => v}}");
  EXPECT_EQ(text(b.receive().value()), "third");
  EXPECT_FALSE(b.receive().has_value());
  EXPECT_EQ(a.mailbox_size(), 0u);
}

TEST_F(VmTest, SendToSelfAndInOrder) {
  Process& a = vm_->spawn();
  EXPECT_EQ(call(a, "send_self", "[ping]").value(), core::atoms::kTrue);
  EXPECT_EQ(text(call(a, "send_n", "[" + pid_text(a) + ", 3]").value()), "ok");
  EXPECT_EQ(text(a.receive().value()), "ping");
  for (int i = 1; i <= 3; ++i)
    EXPECT_EQ(text(a.receive().value()), "{nh_seq," + std::to_string(i) + "}");
}

TEST_F(VmTest, SendToAnExitedProcessFails) {
  Process& a = vm_->spawn();
  Process& b = vm_->spawn();
  std::string to = pid_text(b);
  EXPECT_EQ(call(a, "is_process_alive", "[" + to + "]").value(), core::atoms::kTrue);
  vm_->exit(b, core::atoms::kNormal);
  EXPECT_FALSE(b.alive());
  EXPECT_EQ(b.exit_reason(), core::atoms::kNormal);
  EXPECT_EQ(call(a, "is_process_alive", "[" + to + "]").value(), core::atoms::kFalse);
  EXPECT_EQ(call(a, "send_to", "[" + to + ", x]").value(), core::atoms::kFalse);
  EXPECT_EQ(call(a, "send_to", "[<0.999.0>, x]").value(), core::atoms::kFalse);
  EXPECT_EQ(b.mailbox_size(), 0u);
}

TEST_F(VmTest, RegisteredNamesAreFoundAndGoWithTheProcess) {
  Process& a = vm_->spawn();
  Process& b = vm_->spawn();
  Term bob = core::atom("bob");
  EXPECT_EQ(text(call(a, "whereis", "[bob]").value()), "undefined");
  ASSERT_TRUE(vm_->register_name(bob, b));
  EXPECT_FALSE(vm_->register_name(bob, a));                  // taken
  EXPECT_FALSE(vm_->register_name(core::atom("bobby"), b));  // one name per process
  EXPECT_EQ(call(a, "whereis", "[bob]").value(), b.pid());
  EXPECT_EQ(text(call(a, "whereis_port", "[bob]").value()), "undefined");
  vm_->exit(b, core::atoms::kNormal);
  EXPECT_EQ(text(call(a, "whereis", "[bob]").value()), "undefined");
  EXPECT_TRUE(vm_->register_name(bob, a));
  EXPECT_TRUE(vm_->unregister_name(bob));
  EXPECT_FALSE(vm_->unregister_name(bob));
}

TEST_F(VmTest, MonitorFiresDownWhenTheProcessExits) {
  Process& watcher = vm_->spawn();
  Process& target = vm_->spawn();
  auto r = call(watcher, "monitor", "[" + pid_text(target) + "]");
  ASSERT_TRUE(r.ok()) << text(r.value());
  ASSERT_TRUE(core::is_tuple(r.value()));
  Term resource = core::box_ptr(r.value())[1];
  EXPECT_EQ(vm_->monitor_count(), 1u);
  EXPECT_EQ(watcher.mailbox_size(), 0u);

  Term reason = core::make_tuple(watcher.heap(), {core::atom("shutdown"), core::make_small(1)});
  vm_->exit(target, reason);
  EXPECT_EQ(vm_->monitor_count(), 0u);
  auto down = watcher.receive();
  ASSERT_TRUE(down.has_value());
  ASSERT_TRUE(core::is_tuple(*down));
  ASSERT_EQ(core::box_arity(*down), 3u);
  EXPECT_EQ(core::box_ptr(*down)[1], core::atom("nh_down"));
  EXPECT_TRUE(core::identical(core::box_ptr(*down)[2], resource));
  EXPECT_EQ(core::box_ptr(*down)[3], target.pid());
  EXPECT_EQ(text(call(watcher, "down_count", "[]").value()), "1");
  // Fired monitors are gone: demonitor says so.
  core::Term args[] = {resource};
  auto demon = vm_->call(watcher, vm_->lookup(lib_, "demonitor", 1).value(), args);
  EXPECT_EQ(demon.value(), core::atoms::kFalse);
}

TEST_F(VmTest, DemonitoredProcessExitsQuietly) {
  Process& watcher = vm_->spawn();
  Process& target = vm_->spawn();
  auto r = call(watcher, "monitor", "[" + pid_text(target) + "]");
  ASSERT_TRUE(r.ok());
  Term args[] = {core::box_ptr(r.value())[1]};
  auto demon = vm_->call(watcher, vm_->lookup(lib_, "demonitor", 1).value(), args);
  EXPECT_EQ(demon.value(), core::atoms::kTrue);
  EXPECT_EQ(vm_->monitor_count(), 0u);
  vm_->exit(target, core::atoms::kNormal);
  EXPECT_EQ(watcher.mailbox_size(), 0u);
}

TEST_F(VmTest, MonitoringADeadProcessIsNoproc) {
  Process& watcher = vm_->spawn();
  Process& target = vm_->spawn();
  vm_->exit(target, core::atoms::kNormal);
  EXPECT_EQ(text(call(watcher, "monitor", "[" + pid_text(target) + "]").value()), "{error,noproc}");
  EXPECT_EQ(vm_->monitor_count(), 0u);
}

// Monitors on a resource that goes away are removed by the resource code.
TEST_F(VmTest, ResourceThatGoesAwayTakesItsMonitors) {
  Process& watcher = vm_->spawn();
  Process& target = vm_->spawn();
  auto r = call(watcher, "monitor", "[" + pid_text(target) + "]");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(vm_->monitor_count(), 1u);
  watcher.heap().clear();  // the result held the only reference to the resource
  EXPECT_EQ(vm_->monitor_count(), 0u);
  vm_->exit(target, core::atoms::kNormal);
  EXPECT_EQ(watcher.mailbox_size(), 0u);
}

TEST_F(VmTest, ProcessesSendConcurrently) {
  Process& collector = vm_->spawn();
  constexpr int kSenders = 4, kEach = 500;
  std::vector<Process*> senders;
  for (int i = 0; i < kSenders; ++i) senders.push_back(&vm_->spawn());
  std::vector<std::thread> threads;
  std::string to = pid_text(collector);
  for (Process* s : senders)
    threads.emplace_back([&, s] {
      for (int round = 0; round < 5; ++round)
        call(*s, "send_n", "[" + to + ", " + std::to_string(kEach / 5) + "]");
    });
  std::size_t got = 0;
  while (got < std::size_t{kSenders} * kEach) {
    auto m = collector.receive(std::chrono::seconds(10));
    ASSERT_TRUE(m.has_value()) << "after " << got << " messages";
    ++got;
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(collector.mailbox_size(), 0u);
}

}  // namespace
}  // namespace nifhost::model
