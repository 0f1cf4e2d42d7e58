// A worker that lies: it speaks enough of the protocol to be started and to
// "load" a library, and then answers each function of that library with a
// different violation. The host must turn every one into a typed error and
// live on. Only the hostile-worker test starts it.
//
// The library it pretends to load has these functions (all arity 0); the
// comment says what the worker does when one is called.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/process/protocol.hpp"
#include "nifhost/process/socket_channel.hpp"

namespace {

using namespace nifhost;
using namespace nifhost::process;

const char* const kFunctions[] = {
    "ok",                // a correct answer: ok
    "garbage",           // 64 bytes that are no frame header
    "oversize",          // a header claiming more than any frame limit
    "short",             // a header claiming 1000 bytes, 10 bytes, then nothing
    "huge_claim",        // a header claiming 200 MiB, 1 KiB, then nothing
    "twice",             // a correct answer, twice
    "unsolicited",       // an answer to a request that was never made
    "wrong_lane",        // an answer naming another lane
    "silent",            // no answer at all
    "bad_etf",           // a result whose payload is not ETF
    "trailing",          // a result with bytes after its term
    "bad_kind",          // a frame of an unknown kind
    "wrong_kind",        // a LOADED frame in answer to a call
    "call_kind",         // a CALL frame, which only the host sends
    "close_lane",        // shuts its end of the lane and keeps running
    "exit",              // exits with status 7
    "bad_handle",        // a result holding a handle of another worker
    "bad_class",         // an exception whose class is not error, exit or throw
    "bad_host_request",  // a host request for an operation that does not exist
    "control_garbage",   // garbage on the control lane, no answer on the call lane
    "host_reply_kind",   // a HOST_REPLY frame (host-to-worker only) on the call lane
    "scream",            // writes to stdout and stderr, then exits with status 9
};

std::vector<std::uint8_t> frame(MessageKind kind, std::uint32_t lane, std::uint32_t request,
                                const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> out(kFrameHeaderSize);
  write_header(out.data(), {kind, lane, request, static_cast<std::uint32_t>(payload.size())});
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<std::uint8_t> atom_ok() {
  auto bytes = core::encode(core::atoms::kOk);
  return *bytes;
}

void send(Lane& lane, const std::vector<std::uint8_t>& bytes) {
  (void)lane.send(bytes, Deadline::never());
}

[[noreturn]] void hang() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

struct Worker {
  std::unique_ptr<WorkerChannel> channel;
  std::uint64_t domain = 0;
  std::uint64_t generation = 0;
};

void answer_load(Lane& lane, const Frame& f) {
  core::Heap heap;
  auto opts = wire_decode_options(nullptr, nullptr);
  PayloadReader r(f.payload, heap, opts);
  (void)r.term("id");
  (void)r.term("path");
  auto module = r.binary("module", 1024);
  std::string name = module && !module->empty() ? *module : "hostile";
  std::vector<std::uint8_t> out;
  if (name == "hostile_bad_loaded") {
    // Something that is not a LOADED payload at all.
    FrameWriter w(out, MessageKind::kLoaded, f.header.lane, f.header.request);
    w.integer(42);
    auto bytes = w.finish();
    send(lane, std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
    return;
  }
  if (name == "hostile_other_module") name = "not_what_was_asked";
  core::LibraryInfo info;
  info.module = name;
  info.nif_major = 2;
  info.nif_minor = 16;
  info.vm_variant = "beam.vanilla";
  info.min_erts = "erts-13.0";
  for (const char* fn : kFunctions) info.functions.push_back({fn, 0, 0});
  FrameWriter w(out, MessageKind::kLoaded, f.header.lane, f.header.request);
  write_library_info(w, heap, info);
  auto bytes = w.finish();
  send(lane, std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
}

void misbehave(Worker& worker, Lane& lane, const Frame& f, std::string_view fn) {
  std::uint32_t id = lane.id();
  std::uint32_t req = f.header.request;
  if (fn == "ok") return send(lane, frame(MessageKind::kResult, id, req, atom_ok()));
  if (fn == "garbage") return send(lane, std::vector<std::uint8_t>(64, 0xAB));
  if (fn == "oversize") {
    std::vector<std::uint8_t> h(kFrameHeaderSize);
    write_header(h.data(), {MessageKind::kResult, id, req, 0xFFFFFFF0u});
    return send(lane, h);
  }
  if (fn == "short" || fn == "huge_claim") {
    std::uint32_t claim = fn == "short" ? 1000u : 200u << 20;
    std::size_t sent = fn == "short" ? 10 : 1024;
    std::vector<std::uint8_t> h(kFrameHeaderSize + sent, 0x61);
    write_header(h.data(), {MessageKind::kResult, id, req, claim});
    send(lane, h);
    hang();
  }
  if (fn == "twice") {
    send(lane, frame(MessageKind::kResult, id, req, atom_ok()));
    return send(lane, frame(MessageKind::kResult, id, req, atom_ok()));
  }
  if (fn == "unsolicited") return send(lane, frame(MessageKind::kResult, id, req + 7, atom_ok()));
  if (fn == "wrong_lane") return send(lane, frame(MessageKind::kResult, id + 100, req, atom_ok()));
  if (fn == "silent") hang();
  if (fn == "bad_etf") return send(lane, frame(MessageKind::kResult, id, req, {131, 255, 1, 2}));
  if (fn == "trailing") {
    auto p = atom_ok();
    p.push_back(0);
    return send(lane, frame(MessageKind::kResult, id, req, p));
  }
  if (fn == "bad_kind") {
    auto bytes = frame(MessageKind::kResult, id, req, atom_ok());
    bytes[6] = 0xE7;  // kind 999
    bytes[7] = 0x03;
    return send(lane, bytes);
  }
  if (fn == "wrong_kind") return send(lane, frame(MessageKind::kLoaded, id, req, atom_ok()));
  if (fn == "call_kind") return send(lane, frame(MessageKind::kCall, id, req, atom_ok()));
  if (fn == "host_reply_kind")
    return send(lane, frame(MessageKind::kHostReply, id, req, atom_ok()));
  if (fn == "close_lane") {
    lane.shut_down();
    hang();
  }
  if (fn == "exit") ::_exit(7);
  if (fn == "scream") {
    std::printf("the hostile worker screams on stdout\n");
    std::fflush(stdout);
    std::fprintf(stderr, "and on stderr\n");
    ::_exit(9);
  }
  if (fn == "bad_handle") {
    std::vector<std::uint8_t> p = {131, 'H'};
    for (std::uint64_t word :
         {worker.domain + 1000, worker.generation, std::uint64_t{1}, std::uint64_t{1}})
      for (int i = 7; i >= 0; --i) p.push_back(static_cast<std::uint8_t>(word >> (8 * i)));
    return send(lane, frame(MessageKind::kResult, id, req, p));
  }
  if (fn == "bad_class") {
    auto p = core::encode(core::atom("oops")).value();
    auto reason = atom_ok();
    p.insert(p.end(), reason.begin(), reason.end());
    return send(lane, frame(MessageKind::kException, id, req, p));
  }
  if (fn == "bad_host_request") {
    auto p = core::encode(core::atom("format_disk")).value();
    return send(lane, frame(MessageKind::kHostRequest, id, req, p));
  }
  if (fn == "control_garbage") {
    send(worker.channel->control(), std::vector<std::uint8_t>(40, 0x5C));
    hang();
  }
}

void serve_lane(Worker& worker, std::unique_ptr<Lane> lane) {
  for (;;) {
    auto f = lane->receive(Deadline::never());
    if (!f) return;
    if (f->header.kind == MessageKind::kLoad) {
      answer_load(*lane, *f);
    } else if (f->header.kind == MessageKind::kUnload) {
      send(*lane, frame(MessageKind::kUnloaded, lane->id(), f->header.request, {}));
    } else if (f->header.kind == MessageKind::kCall) {
      core::Heap heap;
      auto opts = wire_decode_options(nullptr, nullptr);
      PayloadReader r(f->payload, heap, opts);
      (void)r.term("library");
      auto index = r.integer("function", 0, std::size(kFunctions) - 1);
      if (!index) continue;
      misbehave(worker, *lane, *f, kFunctions[*index]);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> options;
  for (int i = 1; i + 1 < argc; i += 2) options[argv[i] + 2] = argv[i + 1];
  Worker worker;
  worker.domain = std::stoull(options["domain"]);
  worker.generation = std::stoull(options["generation"]);
  auto channel = attach_socket_channel(options, {});
  if (!channel) {
    std::fprintf(stderr, "hostile worker: %s\n", channel.error().c_str());
    return 64;
  }
  worker.channel = std::move(*channel);
  std::vector<std::uint8_t> hello;
  {
    FrameWriter w(hello, MessageKind::kHello, kControlLane, 0);
    w.integer(kProtocolVersion);
    w.integer(::getpid());
    w.integer(static_cast<std::int64_t>(worker.domain));
    w.integer(static_cast<std::int64_t>(worker.generation));
    w.finish();
  }
  send(worker.channel->control(), hello);
  for (;;) {
    auto f = worker.channel->control().receive(Deadline::never());
    if (!f) ::_exit(0);
    if (f->header.kind == MessageKind::kOpenLane) {
      auto lane = worker.channel->accept_lane(f->header.lane);
      if (!lane) ::_exit(65);
      std::thread(serve_lane, std::ref(worker), std::move(*lane)).detach();
    }
  }
}
