#pragma once
// nifhost/core/etf.hpp — the Erlang External Term Format (ETF).
//
// encode() produces exactly the bytes OTP 25's erlang:term_to_binary/1,2 produces
// for the same term; decode() accepts and rejects what erlang:binary_to_term/1
// does, treating its input as hostile: every length is checked against the
// input, nesting is depth-limited, inflating is bounded, and every failure is a
// typed EtfError that names what is wrong and at which byte. It backs
// enif_term_to_binary/enif_binary_to_term and the worker wire protocol.
//
//   tl::expected<std::vector<std::uint8_t>, EtfError> bytes = encode(term);
//   tl::expected<Term, EtfError> back = decode(*bytes, heap);
//
// What OTP 25 emits (checked against erl 25.2.3; see tests/etf_test.cpp):
//   - integers: SMALL_INTEGER_EXT for 0..255, INTEGER_EXT for the rest of int32,
//     SMALL_BIG_EXT/LARGE_BIG_EXT (minimal magnitude bytes) beyond;
//   - floats: NEW_FLOAT_EXT;
//   - atoms: ATOM_EXT (latin-1 bytes, 2-byte length) when every character is
//     below 256, else SMALL_ATOM_UTF8_EXT, or ATOM_UTF8_EXT past 255 bytes;
//   - lists: STRING_EXT for proper lists of 0..255 up to 65535 elements, else
//     LIST_EXT with the tail (nil or improper) as the last term;
//   - maps: MAP_EXT in the map's iteration order (maps:to_list/1 order, also
//     for maps of more than 32 keys);
//   - pids: NEW_PID_EXT; ports: NEW_PORT_EXT, V4_PORT_EXT when the number needs
//     more than 28 bits; references: NEWER_REFERENCE_EXT; nonode@nohost with
//     creation 0 is the local node;
//   - [compressed]: tag 80 with the uncompressed size and a zlib stream, used
//     only when the stream is at most the uncompressed size minus 5 bytes.
// Terms ETF cannot carry: a resource (Subtag::kResource) is encoded as the BEAM
// encodes one, a local reference (NEWER_REFERENCE_EXT), whose ids here are
// derived from the resource object's address: it does not decode back into the
// resource. A remote resource handle (Subtag::kHandle) is encodable only through
// an EtfExtension (the wire protocol's private tag, see HandleExtension).
// Funs are stored opaquely as their own ETF bytes (NEW_FUN_EXT/EXPORT_EXT),
// re-encoded canonically when decoded, and emitted verbatim.
//
// Where decode() parts from erl 25's binary_to_term/1, on purpose:
//   - bytes after the term are an error (decode_prefix() ignores them, as erl);
//   - nesting deeper than DecodeOptions::max_depth (10000) and compressed data
//     declaring more than max_inflated_size (64 MiB) are refused;
//   - a reference of length 0 takes no id words (erl reads one past it);
//   - FLOAT_EXT text is the 31 bytes (erl reads past them if they hold no NUL);
//   - a NEW_FUN_EXT whose creator is not a pid is refused (erl 25.2.3 accepts
//     it and then crashes).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "nifhost/core/heap.hpp"
#include "nifhost/core/offheap.hpp"
#include "nifhost/core/term.hpp"

namespace nifhost::core {

inline constexpr std::uint8_t kEtfVersion = 131;

// Tag bytes of the external format.
namespace etf_tag {
inline constexpr std::uint8_t kNewFloat = 70;        // NEW_FLOAT_EXT
inline constexpr std::uint8_t kBitBinary = 77;       // BIT_BINARY_EXT
inline constexpr std::uint8_t kCompressed = 80;      // COMPRESSED (only after the version byte)
inline constexpr std::uint8_t kAtomCacheRef = 82;    // ATOM_CACHE_REF (distribution only)
inline constexpr std::uint8_t kDistHeader = 68;      // DIST_HEADER (distribution only)
inline constexpr std::uint8_t kNewPid = 88;          // NEW_PID_EXT
inline constexpr std::uint8_t kNewPort = 89;         // NEW_PORT_EXT
inline constexpr std::uint8_t kNewerReference = 90;  // NEWER_REFERENCE_EXT
inline constexpr std::uint8_t kSmallInteger = 97;    // SMALL_INTEGER_EXT
inline constexpr std::uint8_t kInteger = 98;         // INTEGER_EXT
inline constexpr std::uint8_t kFloat = 99;           // FLOAT_EXT (31 bytes of text)
inline constexpr std::uint8_t kAtom = 100;           // ATOM_EXT (latin-1)
inline constexpr std::uint8_t kReference = 101;      // REFERENCE_EXT
inline constexpr std::uint8_t kPort = 102;           // PORT_EXT
inline constexpr std::uint8_t kPid = 103;            // PID_EXT
inline constexpr std::uint8_t kSmallTuple = 104;     // SMALL_TUPLE_EXT
inline constexpr std::uint8_t kLargeTuple = 105;     // LARGE_TUPLE_EXT
inline constexpr std::uint8_t kNil = 106;            // NIL_EXT
inline constexpr std::uint8_t kString = 107;         // STRING_EXT
inline constexpr std::uint8_t kList = 108;           // LIST_EXT
inline constexpr std::uint8_t kBinary = 109;         // BINARY_EXT
inline constexpr std::uint8_t kSmallBig = 110;       // SMALL_BIG_EXT
inline constexpr std::uint8_t kLargeBig = 111;       // LARGE_BIG_EXT
inline constexpr std::uint8_t kNewFun = 112;         // NEW_FUN_EXT
inline constexpr std::uint8_t kExport = 113;         // EXPORT_EXT
inline constexpr std::uint8_t kNewReference = 114;   // NEW_REFERENCE_EXT
inline constexpr std::uint8_t kSmallAtom = 115;      // SMALL_ATOM_EXT (latin-1)
inline constexpr std::uint8_t kMap = 116;            // MAP_EXT
inline constexpr std::uint8_t kFun = 117;            // FUN_EXT (removed in OTP 23)
inline constexpr std::uint8_t kAtomUtf8 = 118;       // ATOM_UTF8_EXT
inline constexpr std::uint8_t kSmallAtomUtf8 = 119;  // SMALL_ATOM_UTF8_EXT
inline constexpr std::uint8_t kV4Port = 120;         // V4_PORT_EXT
inline constexpr std::uint8_t kLocal = 121;          // LOCAL_EXT (OTP 26+)
}  // namespace etf_tag

enum class EtfErrc {
  kTruncated,         // the input ends inside a term, or a length runs past its end
  kBadVersion,        // the first byte is not 131
  kUnknownTag,        // a byte that starts no term binary_to_term/1 accepts
  kDistributionOnly,  // ATOM_CACHE_REF/DIST_HEADER: only valid on a distribution channel
  kBadAtom,           // atom text: invalid UTF-8, more than 255 characters, unknown (safe)
  kBadFloat,          // NaN or infinity, or FLOAT_EXT text that is not a float
  kBadBitstring,      // BIT_BINARY_EXT with a bit count that does not fit its length
  kDuplicateMapKey,   // MAP_EXT names the same key twice
  kBadIdentifier,     // a pid, port or reference field out of range, or a node that is no atom
  kBadFun,            // NEW_FUN_EXT/EXPORT_EXT fields of the wrong type or range
  kTooDeep,           // containers nested deeper than DecodeOptions::max_depth
  kTooLarge,          // a claimed size beyond the input or beyond a configured limit
  kBadCompression,    // COMPRESSED data that does not inflate to exactly its declared size
  kTrailingBytes,     // decode(): bytes after the term
  kOutOfMemory,       // an allocation failed
  kUnencodable,       // encode(): a term ETF cannot express (a handle without extension)
  kExtension,         // a private extension refused the term or the bytes
};
const char* etf_errc_name(EtfErrc code);

struct EtfError {
  EtfErrc code;
  // Byte offset in the input where the offending term or field starts (0 for
  // encode errors). For compressed input, offsets from 6 on count into the
  // inflated term as if it followed the 6-byte header.
  std::size_t offset = 0;
  std::string detail;
  // "<code name> at byte <offset>: <detail>"
  std::string what() const;
};

// A private extension of the format, for the wire protocol: terms it encodes are
// leaves that start with a tag byte the standard format does not use. The
// encoder asks it first about resources and handles; the decoder hands it any
// tag byte the standard format does not know.
class EtfExtension {
 public:
  virtual ~EtfExtension() = default;
  // Bytes t takes (tag byte included), or nullopt if this extension leaves t alone.
  virtual std::optional<std::size_t> encoded_size(Term t) const = 0;
  // Writes exactly *encoded_size(t) bytes at out.
  virtual void encode(Term t, std::uint8_t* out) const = 0;
  // True if `tag` starts one of this extension's terms.
  virtual bool decodes_tag(std::uint8_t tag) const = 0;
  // Decodes one term whose tag byte is in[0]: the term and the bytes it used,
  // or why the bytes are not one of its terms.
  virtual tl::expected<std::pair<Term, std::size_t>, std::string> decode(
      std::span<const std::uint8_t> in, Heap& heap) const = 0;
};

// The four words that name a resource living in an isolated worker (see
// RemoteResource in offheap.hpp).
struct HandleWords {
  std::uint64_t domain;      // which worker
  std::uint64_t generation;  // which incarnation of it
  std::uint64_t id;          // the worker's handle
  std::uint64_t type_tag;    // the resource type
  friend bool operator==(const HandleWords&, const HandleWords&) = default;
};

// The wire protocol's handle extension: a handle travels as 'H' followed by its
// four words (big-endian), 33 bytes. ('H', 72, starts no standard term; the
// lowercase 'h' would be SMALL_TUPLE_EXT.) A Subtag::kHandle term is sent as the
// words of its RemoteResource. What a resource is sent as, and what a received
// handle becomes, depend on the side of the channel, so both are callbacks:
//   worker: export_resource registers a local resource and returns its words;
//           import_handle finds the local resource term a handle names;
//   host:   import_handle makes (or finds) the RemoteResource and its kHandle term.
//
//   HandleExtension ext(nullptr, [&](Heap& h, const HandleWords& w) { return registry.term(h, w);
//   }); decode(bytes, heap, DecodeOptions{.extension = &ext});
class HandleExtension final : public EtfExtension {
 public:
  static constexpr std::uint8_t kTag = 'H';
  static constexpr std::size_t kSize = 1 + 4 * 8;
  // nullopt: the resource is not exported and is encoded as the BEAM does.
  using ExportResource = std::function<std::optional<HandleWords>(OffHeapObject* resource)>;
  // The term for a received handle, or why it is refused.
  using ImportHandle =
      std::function<tl::expected<Term, std::string>(Heap& heap, const HandleWords& words)>;

  HandleExtension(ExportResource export_resource, ImportHandle import_handle)
      : export_(std::move(export_resource)), import_(std::move(import_handle)) {}

  std::optional<std::size_t> encoded_size(Term t) const override;
  void encode(Term t, std::uint8_t* out) const override;
  bool decodes_tag(std::uint8_t tag) const override { return tag == kTag; }
  tl::expected<std::pair<Term, std::size_t>, std::string> decode(std::span<const std::uint8_t> in,
                                                                 Heap& heap) const override;

 private:
  std::optional<HandleWords> words_of(Term t) const;
  ExportResource export_;
  ImportHandle import_;
};

// term_to_binary(T, [compressed]) uses zlib level 6.
inline constexpr int kDefaultCompression = 6;

struct EncodeOptions {
  // 0: uncompressed (term_to_binary/1); 1..9: term_to_binary(T, [{compressed, Level}]).
  int compression = 0;
  // Consulted for resources and handles; nullptr: resources as references, handles refused.
  const EtfExtension* extension = nullptr;
};

struct DecodeOptions {
  // Containers (tuples, list elements, maps, fun environments) nested deeper than
  // this are refused; a list's tail does not count as nesting.
  std::size_t max_depth = 10000;
  // Largest declared size of COMPRESSED data that will be inflated.
  std::size_t max_inflated_size = std::size_t{64} << 20;
  // Largest bignum magnitude in bytes; the BEAM's own limit is (2^19 - 1) * 8.
  std::size_t max_bignum_bytes = (std::size_t{1} << 22) - 8;
  // Refuse local (nonode@nohost, creation 0) pids, ports and references the BEAM
  // would refuse: pid number > 15 bits or serial > 13 bits, port number > 28
  // bits, reference first word > 18 bits or more than 3 words (fewer are padded
  // to 3 with zeros, as the BEAM does). The wire protocol turns this off to carry
  // any identifier a nifhost VM makes.
  bool beam_identifier_limits = true;
  // binary_to_term(B, [safe]): refuse atoms that do not exist yet, so untrusted
  // input cannot fill the atom table.
  bool existing_atoms_only = false;
  // When the input bytes are owned by this object (e.g. a refc binary holding a
  // received message), binaries over kHeapBinaryMax bytes share them instead of
  // copying. Not used for compressed input.
  OffHeapObject* input_owner = nullptr;
  const EtfExtension* extension = nullptr;
};

// term_to_binary(t) (with options.compression: term_to_binary(t, [{compressed, N}])).
tl::expected<std::vector<std::uint8_t>, EtfError> encode(Term t, const EncodeOptions& options = {});
// Appends the encoding to out; returns the number of bytes appended. On error
// out is left as it was.
tl::expected<std::size_t, EtfError> encode_append(Term t, std::vector<std::uint8_t>& out,
                                                  const EncodeOptions& options = {});
// Bytes of the uncompressed encoding, version byte included (erlang:external_size/1).
tl::expected<std::size_t, EtfError> encoded_size(Term t, const EncodeOptions& options = {});

// binary_to_term, except that bytes after the term are an error (kTrailingBytes).
tl::expected<Term, EtfError> decode(std::span<const std::uint8_t> bytes, Heap& heap,
                                    const DecodeOptions& options = {});

struct DecodedPrefix {
  Term term;
  std::size_t used;  // bytes of the input the term took (binary_to_term(B, [used]))
};
// binary_to_term/1 and binary_to_term(B, [used]): decodes the term at the start
// of bytes and ignores what follows it.
tl::expected<DecodedPrefix, EtfError> decode_prefix(std::span<const std::uint8_t> bytes, Heap& heap,
                                                    const DecodeOptions& options = {});

}  // namespace nifhost::core
