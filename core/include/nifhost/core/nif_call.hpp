#pragma once
// nifhost/core/nif_call.hpp — runs one NIF call the way a BEAM scheduler does.
//
// Every backend calls NIFs through run_nif (the in-process one directly, the
// isolated ones in their worker): it builds the process-bound env on the
// caller's heap, marks the thread as a normal scheduler, calls the function,
// follows enif_schedule_nif continuations until one returns (yielding never
// leaves run_nif), runs dirty work on a small pool of dirty CPU and dirty IO
// threads while the caller waits, and turns a raised exception into an
// Exception{error, Reason}.
//
//   CallOutcome r = run_nif(lib.context(), fn, *caller.heap, caller.self, vm, args);
//   if (const auto* e = std::get_if<Exception>(&r)) raise(e->klass, e->reason);
#include <span>
#include <variant>

#include "nifhost/core/backend.hpp"
#include "nifhost/core/env.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/host_services.hpp"
#include "nifhost/core/term.hpp"

namespace nifhost::core {

// The result term (on caller_heap) or the exception the NIF raised.
using CallOutcome = std::variant<Term, Exception>;

// Calls fn with args (valid terms that outlive the call) on behalf of the
// process `self` (a local pid, or nil for none: then enif_self fails).
// fn.flags may be 0, ERL_NIF_DIRTY_JOB_CPU_BOUND or ERL_NIF_DIRTY_JOB_IO_BOUND.
// A NIF that returns the exception marker without raising (a stale
// enif_make_badarg result) gets error:badarg, as it evidently meant to raise.
CallOutcome run_nif(LibraryContext& lib, const ErlNifFunc& fn, Heap& caller_heap, Term self,
                    HostServices& host, std::span<const Term> args);

// The VM that enif functions called with no env and outside any call (a
// thread the NIF made before any call, say) turn to. Null by default: they
// then fail as they do when the VM says no. The embedder keeps it alive.
void set_default_host(HostServices* host);
HostServices* default_host();

// How many threads run NIFs of each kind (what enif_system_info and
// erlang:system_info report): normal schedulers as the BEAM counts them by
// default (one per logical CPU), and the dirty pools.
struct SchedulerCounts {
  unsigned normal;
  unsigned dirty_cpu;
  unsigned dirty_io;
};
SchedulerCounts scheduler_counts();

}  // namespace nifhost::core
