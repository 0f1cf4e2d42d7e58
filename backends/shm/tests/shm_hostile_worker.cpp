// A worker that lies through the shared segment: it attaches the shm channel
// like the real worker and "loads" a library, and then answers each function
// by writing into the segment what no honest writer would. The host must turn
// each into a typed error (or, where the lie only hurts the liar, carry on)
// and live on. Only the shm hostile test starts it.
//
// The library it pretends to load has these functions (all arity 0); the
// comment says what the worker does when one is called.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/process/protocol.hpp"
#include "nifhost/shm/layout.hpp"
#include "nifhost/shm/segment.hpp"
#include "nifhost/shm/shm_channel.hpp"
#include "nifhost/shm/wait.hpp"

namespace {

using namespace nifhost;
using namespace nifhost::process;
using namespace nifhost::shm;

const char* const kFunctions[] = {
    "ok",                  // a correct answer: ok
    "head_past_capacity",  // publishes a head more than a ring ahead of the host's tail
    "bad_record_kind",     // a record of kind 9
    "inline_oversize",     // an inline record longer than inline_max
    "data_oversize",       // a data-area record longer than the data area
    "data_bad_seq",        // a data-area record out of sequence
    "chunk_liar",          // chunks that disagree on the size of their frame
    "frame_length_lie",    // an inline record whose frame claims more bytes than it holds
    "tail_lie",            // claims to have read bytes never written, then asks the host something
    "scribble",            // overwrites the lane with random bytes, over and over; no answer
    "flip_after_publish",  // rewrites its answer while publishing it
    "shrink_segment",      // tries to shrink and to seal the segment, then answers ok
    "bell_storm",          // rings the host's bell in a loop and never answers
    "sleeper_lie",         // hides the host's sleeping flag, then answers ok
};

struct Worker {
  std::unique_ptr<WorkerChannel> channel;
  int raw_fd = -1;  // the segment, for the lies
  Geometry geometry;
};

std::vector<std::uint8_t> frame(MessageKind kind, std::uint32_t lane, std::uint32_t request,
                                const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> out(kFrameHeaderSize);
  write_header(out.data(), {kind, lane, request, static_cast<std::uint32_t>(payload.size())});
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<std::uint8_t> atom_ok() { return *core::encode(core::atoms::kOk); }

void send(Lane& lane, const std::vector<std::uint8_t>& bytes) {
  (void)lane.send(bytes, Deadline::never());
}

[[noreturn]] void hang() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

// The lane's region, mapped once more for writing what the lane would not.
struct Raw {
  std::shared_ptr<Mapping> mapping;
  LaneRegion region;
  Geometry g;

  RingControl& out() { return region.control->to_host; }
  std::uint64_t head() { return word(out().producer.head).load(); }
  void put(std::uint64_t at, RecordHeader h, const std::vector<std::uint8_t>& bytes) {
    std::uint64_t mask = g.ring_bytes - 1;
    std::memcpy(region.ring_to_host + (at & mask), &h, sizeof h);
    for (std::size_t i = 0; i < bytes.size(); ++i)
      region.ring_to_host[(at + sizeof h + i) & mask] = bytes[i];
  }
  void publish(std::uint64_t head) {
    word(out().producer.head).store(head, std::memory_order_release);
    ring_always(out().producer.data_bell);
  }
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

std::uint64_t round16(std::uint64_t n) { return (n + 15) & ~std::uint64_t{15}; }

void misbehave(Worker& worker, Lane& lane, Raw& raw, const Frame& f, std::string_view fn) {
  const std::uint32_t id = lane.id();
  const std::uint32_t req = f.header.request;
  const auto ok = frame(MessageKind::kResult, id, req, atom_ok());
  const std::uint64_t head = raw.head();
  const Geometry& g = worker.geometry;
  if (fn == "ok") return send(lane, ok);
  if (fn == "head_past_capacity") return raw.publish(head + g.ring_bytes + 16);
  if (fn == "bad_record_kind") {
    raw.put(head, {static_cast<std::uint32_t>(ok.size()), 9, 0, 0}, ok);
    return raw.publish(head + 16 + round16(ok.size()));
  }
  if (fn == "inline_oversize") {
    raw.put(head, {static_cast<std::uint32_t>(g.inline_max() + 16), 1, 0, 0}, ok);
    return raw.publish(head + 16 + round16(g.inline_max() + 16));
  }
  if (fn == "data_oversize") {
    raw.put(head, {static_cast<std::uint32_t>(g.data_bytes + 8), 2, 0, 1}, {});
    return raw.publish(head + 16);
  }
  if (fn == "data_bad_seq") {
    std::memcpy(raw.region.data_to_host, ok.data(), ok.size());
    raw.put(head, {static_cast<std::uint32_t>(ok.size()), 2, 0, 7}, {});
    return raw.publish(head + 16);
  }
  if (fn == "chunk_liar") {
    std::vector<std::uint8_t> part(ok.begin(), ok.begin() + 16);
    raw.put(head, {16, 3, 0, ok.size()}, part);
    raw.put(head + 32, {16, 3, 0, ok.size() + 100}, part);
    return raw.publish(head + 64);
  }
  if (fn == "frame_length_lie") {
    auto big = frame(MessageKind::kResult, id, req, std::vector<std::uint8_t>(200, 0x61));
    big.resize(64);
    raw.put(head, {64, 1, 0, 0}, big);
    return raw.publish(head + 16 + 64);
  }
  if (fn == "tail_lie") {
    auto& in = raw.region.control->to_worker.consumer;
    word(in.tail).store(word(raw.region.control->to_worker.producer.head).load() + 4096);
    std::vector<std::uint8_t> p = *core::encode(core::atom("whereis_pid"));
    auto name = *core::encode(core::atom("somebody"));
    p.insert(p.end(), name.begin(), name.end());
    send(lane, frame(MessageKind::kHostRequest, id, req, p));
    hang();
  }
  if (fn == "scribble") {
    std::mt19937_64 rng(42);
    for (;;) {
      auto* p = reinterpret_cast<std::uint64_t*>(raw.mapping->data());
      std::size_t words = raw.mapping->size() / 8;
      // The control page and the rings every time; a stretch of the data areas.
      for (std::size_t i = 0; i < std::min<std::size_t>(words, (4096 + 2 * g.ring_bytes) / 8); ++i)
        p[i] = rng();
      for (std::size_t i = 0; i < 4096; ++i) p[(rng() % words)] = rng();
      ring_always(raw.out().producer.data_bell);
    }
  }
  if (fn == "flip_after_publish") {
    // Rewrites the record where the answer goes, before, while and after it
    // is published: the host's one read of it races with the rewriting.
    std::atomic<bool> stop{false};
    std::thread flipper([&] {
      std::mt19937 rng(1);
      while (!stop.load(std::memory_order_relaxed)) {
        RecordHeader h{static_cast<std::uint32_t>(rng() % 200),
                       static_cast<std::uint16_t>(rng() % 4), 0, rng()};
        std::vector<std::uint8_t> junk(ok.size());
        for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
        raw.put(head, h, junk);
        for (unsigned i = rng() % 64; i > 0; --i) cpu_relax();
        raw.put(head, {static_cast<std::uint32_t>(ok.size()), 1, 0, 0}, ok);
        for (unsigned i = rng() % 64; i > 0; --i) cpu_relax();
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    send(lane, ok);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
    flipper.join();  // its last write was the honest record
    return;
  }
  if (fn == "shrink_segment") {
    bool shrunk = ::ftruncate(worker.raw_fd, 4096) == 0;
    bool sealed = ::fcntl(worker.raw_fd, F_ADD_SEALS, F_SEAL_WRITE) == 0;
    if (shrunk || sealed) ::_exit(99);  // the test fails on this status
    return send(lane, ok);
  }
  if (fn == "bell_storm") {
    for (;;) {
      word(raw.out().producer.data_bell).fetch_add(1);
      futex_wake(&raw.out().producer.data_bell);
    }
  }
  if (fn == "sleeper_lie") {
    auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(50))
      word(raw.out().consumer.consumer_sleeping).store(0);
    // The lane's own writer now sees nobody asleep and does not wake the host.
    return send(lane, ok);
  }
}

void serve_lane(Worker& worker, std::unique_ptr<Lane> lane) {
  Segment seg = Segment::adopt(::dup(worker.raw_fd), worker.geometry.segment_bytes()).value();
  Raw raw;
  raw.g = worker.geometry;
  raw.mapping =
      seg.map(worker.geometry.lane_offset(lane->id()), worker.geometry.lane_stride()).value();
  raw.region = lane_region(raw.mapping->data(), worker.geometry);
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
      misbehave(worker, *lane, raw, *f, kFunctions[*index]);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> options;
  for (int i = 1; i + 1 < argc; i += 2) options[argv[i] + 2] = argv[i + 1];
  Worker worker;
  worker.geometry = Geometry{static_cast<std::uint32_t>(std::stoul(options["shm-ring"])),
                             std::stoull(options["shm-data"]),
                             static_cast<std::uint32_t>(std::stoul(options["shm-lanes"]))};
  worker.raw_fd = ::dup(std::stoi(options["shm-fd"]));
  auto channel = attach_shm_channel(options, {});
  if (!channel) {
    std::fprintf(stderr, "hostile shm worker: %s\n", channel.error().c_str());
    return 64;
  }
  worker.channel = std::move(*channel);
  std::vector<std::uint8_t> hello;
  {
    FrameWriter w(hello, MessageKind::kHello, kControlLane, 0);
    w.integer(kProtocolVersion);
    w.integer(::getpid());
    w.integer(static_cast<std::int64_t>(std::stoull(options["domain"])));
    w.integer(static_cast<std::int64_t>(std::stoull(options["generation"])));
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
