#pragma once
// nifhost/core/host_services.hpp — what a NIF can ask of the VM.
//
// Everything a NIF does that touches the VM rather than its own terms goes
// through HostServices, which the VM implements (model/ has one). In `inproc`
// the enif ABI calls it directly; in a worker it is a proxy that forwards each
// call over the channel to the host's implementation.
//
//   class MyVm : public nifhost::core::HostServices { ... };
//   backend = make_backend(BackendKind::kInproc, my_vm);
#include <cstdint>
#include <optional>

#include "nifhost/core/term.hpp"

namespace nifhost::core {

class Resource;

// A monitor, as ErlNifMonitor carries it (opaque bytes to the NIF).
struct MonitorId {
  std::uint64_t value = 0;
  friend bool operator==(const MonitorId&, const MonitorId&) = default;
};

class HostServices {
 public:
  virtual ~HostServices() = default;

  // enif_send: delivers a copy of msg to the local process `to`. `from` is the
  // sending process when the NIF runs on behalf of one, else nullopt (a NIF
  // thread). Returns false if `to` is not a live local process.
  virtual bool send(std::optional<Term> from, Term to, Term msg) = 0;
  // enif_whereis_pid / enif_whereis_port: the registered process or port.
  virtual std::optional<Term> whereis_pid(Term name) = 0;
  virtual std::optional<Term> whereis_port(Term name) = 0;
  virtual bool is_process_alive(Term pid) = 0;
  virtual bool is_port_alive(Term port) = 0;
  // enif_monitor_process: when `pid` exits, the VM calls
  // Resource::notify_down(pid, monitor). Returns 0, or >0 if pid is not alive,
  // <0 if monitoring is unsupported (as enif_monitor_process does).
  virtual int monitor_process(Resource& resource, Term pid, MonitorId& out) = 0;
  // enif_demonitor_process: 0 on success, 1 if the monitor was not active.
  virtual int demonitor_process(Resource& resource, MonitorId monitor) = 0;
  // enif_port_command: false if the port is not open (a VM without ports says false).
  virtual bool port_command(Term port, Term msg) = 0;
};

// A HostServices for contexts with no VM behind them (CLI one-shot calls,
// load callbacks in tools): sends fail, nothing is registered, nothing is alive.
class NullHostServices final : public HostServices {
 public:
  bool send(std::optional<Term>, Term, Term) override { return false; }
  std::optional<Term> whereis_pid(Term) override { return std::nullopt; }
  std::optional<Term> whereis_port(Term) override { return std::nullopt; }
  bool is_process_alive(Term) override { return false; }
  bool is_port_alive(Term) override { return false; }
  int monitor_process(Resource&, Term, MonitorId&) override { return -1; }
  int demonitor_process(Resource&, MonitorId) override { return 1; }
  bool port_command(Term, Term) override { return false; }
};

}  // namespace nifhost::core
