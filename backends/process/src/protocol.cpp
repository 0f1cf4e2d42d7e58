#include "nifhost/process/protocol.hpp"

#include <array>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/terms.hpp"

namespace nifhost::process {

namespace {

constexpr MessageKindInfo kKinds[] = {
#define NIFHOST_KIND_INFO(name, value, text, dir, path) \
  {MessageKind::k##name, text, Direction::dir, Path::path},
    NIFHOST_MESSAGE_KINDS(NIFHOST_KIND_INFO)
#undef NIFHOST_KIND_INFO
};

constexpr const char* kHostOpNames[] = {
#define NIFHOST_HOST_OP_NAME(name, text) text,
    NIFHOST_HOST_OPS(NIFHOST_HOST_OP_NAME)
#undef NIFHOST_HOST_OP_NAME
};

void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}
void put32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint16_t get16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t get32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

const MessageKindInfo* message_kind_info(std::uint16_t value) {
  for (const MessageKindInfo& k : kKinds)
    if (static_cast<std::uint16_t>(k.kind) == value) return &k;
  return nullptr;
}

const char* message_kind_name(MessageKind kind) {
  const MessageKindInfo* k = message_kind_info(static_cast<std::uint16_t>(kind));
  return k != nullptr ? k->name : "unknown";
}

bool kind_allowed(MessageKind kind, Direction direction, bool on_control_lane) {
  const MessageKindInfo* k = message_kind_info(static_cast<std::uint16_t>(kind));
  if (k == nullptr || k->direction != direction) return false;
  switch (k->path) {
    case Path::kControl:
      return on_control_lane;
    case Path::kCallLane:
      return !on_control_lane;
    case Path::kAny:
      return true;
  }
  return false;
}

void write_header(std::uint8_t* out, const FrameHeader& h) {
  put32(out, kFrameMagic);
  put16(out + 4, kProtocolVersion);
  put16(out + 6, static_cast<std::uint16_t>(h.kind));
  put32(out + 8, h.lane);
  put32(out + 12, h.request);
  put32(out + 16, h.length);
  put32(out + 20, 0);
}

tl::expected<FrameHeader, std::string> parse_header(std::span<const std::uint8_t> bytes,
                                                    std::size_t max_payload) {
  if (bytes.size() < kFrameHeaderSize)
    return tl::unexpected(
        fmt::format("a frame header takes {} bytes, got {}", kFrameHeaderSize, bytes.size()));
  const std::uint8_t* p = bytes.data();
  if (get32(p) != kFrameMagic)
    return tl::unexpected(
        fmt::format("bad frame magic {:02x} {:02x} {:02x} {:02x}", p[0], p[1], p[2], p[3]));
  if (std::uint16_t v = get16(p + 4); v != kProtocolVersion)
    return tl::unexpected(
        fmt::format("protocol version {} (this host speaks {})", v, kProtocolVersion));
  std::uint16_t kind = get16(p + 6);
  if (message_kind_info(kind) == nullptr)
    return tl::unexpected(fmt::format("unknown message kind {}", kind));
  if (std::uint32_t flags = get32(p + 20); flags != 0)
    return tl::unexpected(fmt::format("reserved flags set ({:#x})", flags));
  FrameHeader h{static_cast<MessageKind>(kind), get32(p + 8), get32(p + 12), get32(p + 16)};
  if (h.length > max_payload)
    return tl::unexpected(fmt::format("a {} frame claims {} payload bytes (limit {})",
                                      message_kind_name(h.kind), h.length, max_payload));
  return h;
}

// ---------------------------------------------------------------- FrameWriter

FrameWriter::FrameWriter(std::vector<std::uint8_t>& buffer, MessageKind kind, std::uint32_t lane,
                         std::uint32_t request)
    : buffer_(buffer), header_{kind, lane, request, 0} {
  buffer_.resize(kFrameHeaderSize);
}

namespace {

// Integers are written directly (they are most of every call's framing): the
// bytes are exactly what term_to_binary/1 writes for them.
void append_integer(std::vector<std::uint8_t>& out, bool negative, std::uint64_t magnitude) {
  std::uint8_t b[16];
  std::size_t n = 0;
  b[n++] = core::kEtfVersion;
  if (!negative && magnitude <= 255) {
    b[n++] = core::etf_tag::kSmallInteger;
    b[n++] = static_cast<std::uint8_t>(magnitude);
  } else if ((!negative && magnitude <= INT32_MAX) ||
             (negative && magnitude <= std::uint64_t{1} << 31)) {
    b[n++] = core::etf_tag::kInteger;
    auto u = negative ? static_cast<std::uint32_t>(0u - static_cast<std::uint32_t>(magnitude))
                      : static_cast<std::uint32_t>(magnitude);
    for (int i = 3; i >= 0; --i) b[n++] = static_cast<std::uint8_t>(u >> (8 * i));
  } else {
    std::uint8_t digits = 0;
    std::uint8_t le[8];
    while (magnitude != 0) {
      le[digits++] = static_cast<std::uint8_t>(magnitude);
      magnitude >>= 8;
    }
    b[n++] = core::etf_tag::kSmallBig;
    b[n++] = digits;
    b[n++] = negative ? 1 : 0;
    for (std::uint8_t i = 0; i < digits; ++i) b[n++] = le[i];
  }
  out.insert(out.end(), b, b + n);
}

}  // namespace

void FrameWriter::integer(std::int64_t v) {
  bool negative = v < 0;
  std::uint64_t mag = negative ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  append_integer(buffer_, negative, mag);
}

void FrameWriter::unsigned_integer(std::uint64_t v) { append_integer(buffer_, false, v); }

void FrameWriter::binary(std::span<const std::uint8_t> bytes) {
  std::uint8_t head[6] = {core::kEtfVersion, core::etf_tag::kBinary};
  auto len = static_cast<std::uint32_t>(bytes.size());
  for (int i = 0; i < 4; ++i) head[2 + i] = static_cast<std::uint8_t>(len >> (8 * (3 - i)));
  buffer_.insert(buffer_.end(), head, head + 6);
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

void FrameWriter::binary(std::string_view text) {
  binary(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()),
                                       text.size()));
}

tl::expected<void, core::EtfError> FrameWriter::term(core::Term t, const core::EtfExtension* ext) {
  core::EncodeOptions options;
  options.extension = ext;
  auto r = core::encode_append(t, buffer_, options);
  if (!r) return tl::unexpected(r.error());
  return {};
}

tl::expected<void, core::EtfError> FrameWriter::term_scatter(core::Term t,
                                                             const core::EtfExtension* ext) {
  buffer_.push_back(core::kEtfVersion);
  return body(t, ext, 0);
}

// The body of t (its encoding without the version byte). Tuples are walked
// here so that large binaries inside them can be left in place; anything else
// is the codec's.
tl::expected<void, core::EtfError> FrameWriter::body(core::Term t, const core::EtfExtension* ext,
                                                     unsigned depth) {
  constexpr unsigned kMaxDepth = 32;  // deeper tuples are the codec's (it keeps its own stack)
  if (core::is_bitstring(t)) {
    core::BitstringView v = core::bitstring_view(t);
    if (v.is_binary() && v.byte_size >= kScatterMinBytes && v.byte_size <= UINT32_MAX) {
      auto len = static_cast<std::uint32_t>(v.byte_size);
      std::uint8_t head[5] = {core::etf_tag::kBinary, static_cast<std::uint8_t>(len >> 24),
                              static_cast<std::uint8_t>(len >> 16),
                              static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len)};
      buffer_.insert(buffer_.end(), head, head + 5);
      external_.push_back({buffer_.size(), v.bytes()});
      external_bytes_ += v.byte_size;
      return {};
    }
  } else if (core::is_tuple(t) && depth < kMaxDepth) {
    std::size_t n = core::tuple_arity(t);
    if (n < 256) {
      buffer_.push_back(core::etf_tag::kSmallTuple);
      buffer_.push_back(static_cast<std::uint8_t>(n));
    } else {
      buffer_.push_back(core::etf_tag::kLargeTuple);
      for (int i = 3; i >= 0; --i) buffer_.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
    }
    const core::Term* e = core::tuple_elements(t);
    for (std::size_t i = 0; i < n; ++i)
      if (auto r = body(e[i], ext, depth + 1); !r) return r;
    return {};
  }
  // The codec writes a version byte first: it goes where the last byte
  // written so far was, which is put back afterwards, so the body lands in
  // place without moving anything. (There is always a last byte: the header.)
  std::size_t start = buffer_.size();
  std::uint8_t last = buffer_[start - 1];
  buffer_.pop_back();
  core::EncodeOptions options;
  options.extension = ext;
  auto r = core::encode_append(t, buffer_, options);
  if (!r) {
    buffer_.push_back(last);
    return tl::unexpected(r.error());
  }
  buffer_[start - 1] = last;
  return {};
}

std::span<const std::uint8_t> FrameWriter::finish() {
  header_.length = static_cast<std::uint32_t>(buffer_.size() - kFrameHeaderSize);
  write_header(buffer_.data(), header_);
  return {buffer_.data(), buffer_.size()};
}

std::span<const std::span<const std::uint8_t>> FrameWriter::finish_parts() {
  header_.length = static_cast<std::uint32_t>(buffer_.size() - kFrameHeaderSize + external_bytes_);
  write_header(buffer_.data(), header_);
  parts_.clear();
  std::size_t from = 0;
  for (const External& x : external_) {
    parts_.emplace_back(buffer_.data() + from, x.at - from);
    parts_.push_back(x.bytes);
    from = x.at;
  }
  parts_.emplace_back(buffer_.data() + from, buffer_.size() - from);
  return parts_;
}

// ---------------------------------------------------------------- PayloadReader

tl::expected<core::Term, std::string> PayloadReader::term(std::string_view what) {
  ++index_;
  if (rest_.empty())
    return tl::unexpected(fmt::format("{} missing (term {} of the payload)", what, index_));
  auto r = core::decode_prefix(rest_, heap_, options_);
  if (!r) return tl::unexpected(fmt::format("{} (term {}): {}", what, index_, r.error().what()));
  rest_ = rest_.subspan(r->used);
  return r->term;
}

tl::expected<std::int64_t, std::string> PayloadReader::integer(std::string_view what,
                                                               std::int64_t min, std::int64_t max) {
  auto t = term(what);
  if (!t) return tl::unexpected(t.error());
  auto v = core::integer_to_int64(*t);
  if (!v || *v < min || *v > max)
    return tl::unexpected(fmt::format("{} is not an integer in {}..{}: {}", what, min, max,
                                      core::kind_name(core::kind_of(*t))));
  return *v;
}

tl::expected<std::uint64_t, std::string> PayloadReader::unsigned_integer(std::string_view what) {
  auto t = term(what);
  if (!t) return tl::unexpected(t.error());
  auto v = core::integer_to_uint64(*t);
  if (!v) return tl::unexpected(fmt::format("{} is not a 64-bit unsigned integer", what));
  return *v;
}

tl::expected<std::string, std::string> PayloadReader::binary(std::string_view what,
                                                             std::size_t max_bytes) {
  auto t = term(what);
  if (!t) return tl::unexpected(t.error());
  if (!core::is_bitstring(*t)) return tl::unexpected(fmt::format("{} is not a binary", what));
  core::BitstringView v = core::bitstring_view(*t);
  if (!v.is_binary()) return tl::unexpected(fmt::format("{} is a bitstring", what));
  if (v.byte_size > max_bytes)
    return tl::unexpected(fmt::format("{} is {} bytes (limit {})", what, v.byte_size, max_bytes));
  return std::string(reinterpret_cast<const char*>(v.data), v.byte_size);
}

tl::expected<core::Term, std::string> PayloadReader::atom(std::string_view what) {
  auto t = term(what);
  if (!t) return tl::unexpected(t.error());
  if (!core::is_atom(*t)) return tl::unexpected(fmt::format("{} is not an atom", what));
  return *t;
}

tl::expected<bool, std::string> PayloadReader::boolean(std::string_view what) {
  auto t = atom(what);
  if (!t) return tl::unexpected(t.error());
  if (*t == core::atoms::kTrue) return true;
  if (*t == core::atoms::kFalse) return false;
  return tl::unexpected(fmt::format("{} is not a boolean", what));
}

tl::expected<void, std::string> PayloadReader::end(std::string_view what) const {
  if (!rest_.empty())
    return tl::unexpected(
        fmt::format("{}: {} bytes after the last expected term", what, rest_.size()));
  return {};
}

core::DecodeOptions wire_decode_options(const core::EtfExtension* extension,
                                        core::OffHeapObject* input_owner) {
  core::DecodeOptions o;
  o.beam_identifier_limits = false;
  o.extension = extension;
  o.input_owner = input_owner;
  return o;
}

const char* host_op_name(HostOp op) { return kHostOpNames[static_cast<std::size_t>(op)]; }

std::optional<HostOp> host_op_from_atom(core::Term atom) {
  if (!core::is_atom(atom)) return std::nullopt;
  std::string_view name = core::atom_text(atom);
  for (std::size_t i = 0; i < std::size(kHostOpNames); ++i)
    if (name == kHostOpNames[i]) return static_cast<HostOp>(i);
  return std::nullopt;
}

void write_library_info(FrameWriter& w, core::Heap& heap, const core::LibraryInfo& info) {
  w.binary(info.module);
  w.integer(info.nif_major);
  w.integer(info.nif_minor);
  w.binary(info.vm_variant);
  w.binary(info.min_erts);
  w.atom(info.via_metadata ? core::atoms::kTrue : core::atoms::kFalse);
  w.integer(info.metadata_version);
  w.binary(info.module_version);
  std::vector<core::Term> fns;
  fns.reserve(info.functions.size());
  for (const core::FunctionInfo& f : info.functions)
    fns.push_back(core::make_tuple(heap, {core::make_binary(heap, f.name),
                                          core::make_small(f.arity), core::make_small(f.flags)}));
  (void)w.term(core::make_list(heap, fns));
}

}  // namespace nifhost::process
