// nifhost-worker: the process the isolated backends run NIF libraries in.
// The host starts it; it is not meant to be run by hand. Each channel kind it
// can serve is one row below.
#include <cstdio>
#include <unistd.h>

#include "nifhost/process/socket_channel.hpp"
#include "nifhost/process/worker_server.hpp"
#ifdef NIFHOST_WORKER_SHM
#include "nifhost/shm/shm_channel.hpp"  // backends/shm adds it to this executable
#endif

// Under a sanitizer, a NIF's crash must still end the worker with the real
// signal, which is what the host reports: the runtime's own handlers would
// turn it into a report and exit status. TSan also sleeps a second in exit()
// by default (atexit_sleep_ms), which a call deadline would see as a hang.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
extern "C" const char* __tsan_default_options() {
  return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_abort=0:handle_sigill=0:"
         "atexit_sleep_ms=0";
}
extern "C" const char* __asan_default_options() {
  return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_abort=0:handle_sigill=0";
}
#endif

namespace {

constexpr nifhost::process::ChannelKind kChannels[] = {
    {"socket", &nifhost::process::attach_socket_channel},
#ifdef NIFHOST_WORKER_SHM
    {"shm", &nifhost::shm::attach_shm_channel},
#endif
};

}  // namespace

int main(int argc, char** argv) {
  int status = nifhost::process::worker_main(argc, argv, kChannels);
  std::fflush(nullptr);
  // NIF threads may still be running and NIF libraries' static destructors
  // must not run under them: leave without unwinding anything.
  ::_exit(status);
}
