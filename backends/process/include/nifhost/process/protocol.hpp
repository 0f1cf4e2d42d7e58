#pragma once
// nifhost/process/protocol.hpp — the wire protocol between a host and its NIF worker.
//
// Every message is a frame: a fixed 24-byte header (magic, version, kind,
// lane, request, payload length, flags; little-endian) followed by a payload
// that is a sequence of ETF terms. The message kinds, who sends them and on
// which lane are one table (NIFHOST_MESSAGE_KINDS); docs/protocol.md describes
// each payload. Both isolated backends speak it; only the channel differs.
//
//   FrameWriter w(buffer, MessageKind::kCall, lane, request);
//   w.integer(library); w.integer(function); w.term(self); ...; auto bytes = w.finish();
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "nifhost/core/backend.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/heap.hpp"
#include "nifhost/core/term.hpp"

namespace nifhost::process {

// "NIFH" as it appears on the wire (bytes 'N' 'I' 'F' 'H').
inline constexpr std::uint32_t kFrameMagic = 0x4846494Eu;
inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::size_t kFrameHeaderSize = 24;
// Frames whose payload claims more are refused before a byte of it is read.
inline constexpr std::size_t kDefaultMaxFrameBytes = std::size_t{256} << 20;
// Lane 0 is the control lane; call lanes are numbered from 1.
inline constexpr std::uint32_t kControlLane = 0;

enum class Direction : std::uint8_t { kToWorker, kToHost };
enum class Path : std::uint8_t { kControl, kCallLane, kAny };

// The message kinds: name, wire value, text, who sends it, where it travels.
#define NIFHOST_MESSAGE_KINDS(X)                    \
  X(Hello, 1, "hello", kToHost, kControl)           \
  X(Load, 2, "load", kToWorker, kCallLane)          \
  X(Loaded, 3, "loaded", kToHost, kCallLane)        \
  X(LoadError, 4, "load_error", kToHost, kCallLane) \
  X(Call, 5, "call", kToWorker, kCallLane)          \
  X(Result, 6, "result", kToHost, kCallLane)        \
  X(Exception, 7, "exception", kToHost, kCallLane)  \
  X(HostRequest, 8, "host_request", kToHost, kAny)  \
  X(HostReply, 9, "host_reply", kToWorker, kAny)    \
  X(Release, 10, "release", kToWorker, kControl)    \
  X(Unload, 11, "unload", kToWorker, kCallLane)     \
  X(Upgrade, 12, "upgrade", kToWorker, kCallLane)   \
  X(Ping, 13, "ping", kToWorker, kCallLane)         \
  X(Pong, 14, "pong", kToHost, kCallLane)           \
  X(Unloaded, 15, "unloaded", kToHost, kCallLane)   \
  X(OpenLane, 16, "open_lane", kToWorker, kControl) \
  X(Down, 17, "down", kToWorker, kControl)

enum class MessageKind : std::uint16_t {
#define NIFHOST_KIND_ENUM(name, value, text, dir, path) k##name = value,
  NIFHOST_MESSAGE_KINDS(NIFHOST_KIND_ENUM)
#undef NIFHOST_KIND_ENUM
};

struct MessageKindInfo {
  MessageKind kind;
  const char* name;
  Direction direction;
  Path path;
};
// The table entry for a wire value, or nullptr for a value no kind has.
const MessageKindInfo* message_kind_info(std::uint16_t value);
const char* message_kind_name(MessageKind kind);
// True if `kind` may arrive from `from` on the control lane (control) or a call lane.
bool kind_allowed(MessageKind kind, Direction direction, bool on_control_lane);

struct FrameHeader {
  MessageKind kind;
  std::uint32_t lane;
  std::uint32_t request;
  std::uint32_t length;  // payload bytes after the header
};

// Writes the 24 header bytes.
void write_header(std::uint8_t* out, const FrameHeader& header);
// Validates and reads a header: magic, version, a known kind, flags zero, and a
// length no larger than max_payload. The text says what is wrong.
tl::expected<FrameHeader, std::string> parse_header(std::span<const std::uint8_t> bytes,
                                                    std::size_t max_payload);

// Binaries at least this large are not copied into a frame by
// FrameWriter::term_scatter: the frame points at their bytes.
inline constexpr std::size_t kScatterMinBytes = std::size_t{16} << 10;

// Builds one frame in a caller-owned buffer (reused across frames, so the
// common path allocates nothing). Payload terms are appended as ETF.
class FrameWriter {
 public:
  FrameWriter(std::vector<std::uint8_t>& buffer, MessageKind kind, std::uint32_t lane,
              std::uint32_t request);
  void integer(std::int64_t v);
  void unsigned_integer(std::uint64_t v);
  void binary(std::span<const std::uint8_t> bytes);
  void binary(std::string_view text);
  void atom(core::Term atom) { (void)term(atom); }  // atoms always encode
  tl::expected<void, core::EtfError> term(core::Term t, const core::EtfExtension* ext = nullptr);
  // As term(), but binaries of kScatterMinBytes or more — the term itself, or
  // inside its tuples — stay where they are: the frame refers to their bytes,
  // which must stay put until the frame is sent. Same bytes on the wire.
  tl::expected<void, core::EtfError> term_scatter(core::Term t,
                                                  const core::EtfExtension* ext = nullptr);
  // Patches the header's length; the frame is buffer[0, size). Only for
  // frames without scattered binaries.
  std::span<const std::uint8_t> finish();
  // Patches the header's length; the frame is these pieces in order.
  std::span<const std::span<const std::uint8_t>> finish_parts();
  // Payload bytes written so far, scattered binaries included.
  std::size_t payload_bytes() const { return buffer_.size() - kFrameHeaderSize + external_bytes_; }

 private:
  tl::expected<void, core::EtfError> body(core::Term t, const core::EtfExtension* ext,
                                          unsigned depth);
  struct External {
    std::size_t at;  // position in buffer_ the bytes belong after
    std::span<const std::uint8_t> bytes;
  };
  std::vector<std::uint8_t>& buffer_;
  FrameHeader header_;
  std::vector<External> external_;
  std::size_t external_bytes_ = 0;
  std::vector<std::span<const std::uint8_t>> parts_;
};

// Reads a payload's terms one by one. Every failure is a text for a
// protocol-violation report ("result: trailing bytes after term 1").
class PayloadReader {
 public:
  PayloadReader(std::span<const std::uint8_t> payload, core::Heap& heap,
                const core::DecodeOptions& options)
      : rest_(payload), heap_(heap), options_(options) {}
  bool at_end() const { return rest_.empty(); }
  tl::expected<core::Term, std::string> term(std::string_view what);
  tl::expected<std::int64_t, std::string> integer(std::string_view what, std::int64_t min,
                                                  std::int64_t max);
  tl::expected<std::uint64_t, std::string> unsigned_integer(std::string_view what);
  // A binary's bytes (copied out of the heap's binary into a string).
  tl::expected<std::string, std::string> binary(std::string_view what, std::size_t max_bytes);
  tl::expected<core::Term, std::string> atom(std::string_view what);
  tl::expected<bool, std::string> boolean(std::string_view what);
  // Fails unless every byte was consumed.
  tl::expected<void, std::string> end(std::string_view what) const;

 private:
  std::span<const std::uint8_t> rest_;
  core::Heap& heap_;
  const core::DecodeOptions& options_;
  unsigned index_ = 0;
};

// The LOADED payload: what a worker loaded, as the host's LibraryInfo (the
// host's parse_loaded reads it back). `heap` holds the function list's terms.
void write_library_info(FrameWriter& w, core::Heap& heap, const core::LibraryInfo& info);

// Decode options for the wire: pids, ports and references any nifhost VM
// makes are accepted (see DecodeOptions::beam_identifier_limits).
core::DecodeOptions wire_decode_options(const core::EtfExtension* extension,
                                        core::OffHeapObject* input_owner);

// The host request operations a worker may forward (HOST_REQUEST's first term).
#define NIFHOST_HOST_OPS(X)             \
  X(Send, "send")                       \
  X(WhereisPid, "whereis_pid")          \
  X(WhereisPort, "whereis_port")        \
  X(IsProcessAlive, "is_process_alive") \
  X(IsPortAlive, "is_port_alive")       \
  X(Monitor, "monitor")                 \
  X(Demonitor, "demonitor")             \
  X(PortCommand, "port_command")

enum class HostOp : std::uint8_t {
#define NIFHOST_HOST_OP_ENUM(name, text) k##name,
  NIFHOST_HOST_OPS(NIFHOST_HOST_OP_ENUM)
#undef NIFHOST_HOST_OP_ENUM
};
const char* host_op_name(HostOp op);
std::optional<HostOp> host_op_from_atom(core::Term atom);

}  // namespace nifhost::process
