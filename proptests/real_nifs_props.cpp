// Debian's NIF libraries, unmodified, on every backend: generated JSON
// documents and EJSON terms through jiffy (whole decodes and encodes, with
// jiffy's own Erlang wrapper loop replicated here, resources carried from
// call to call), XML elements through fxml, and strings through stringprep,
// each answering what the real BEAM answers (term_to_binary bytes): jiffy
// through its installed Erlang module, fxml and stringprep loaded into the
// oracle for the same functions.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <rapidcheck.h>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "gen.hpp"
#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/order.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"
#include "proptest.hpp"

namespace nifhost::proptests {
namespace {

using core::Heap;
using Args = std::vector<Term>;

Term atom(std::string_view text) { return core::atom(text); }
Term bin(Heap& h, std::string_view bytes) { return core::make_binary(h, bytes); }
Term tuple(Heap& h, std::initializer_list<Term> e) { return core::make_tuple(h, e); }

bool is_tuple_of(Term t, std::size_t arity) {
  return core::is_tuple(t) && core::tuple_arity(t) == arity;
}
Term element(Term t, std::size_t i) { return core::tuple_elements(t)[i]; }

core::CallResult raise_error(Term reason) {
  return core::CallResult{core::Exception{core::atoms::kError, reason}};
}

// ------------------------------------------------------------------ text pieces

// UTF-8 of a code point.
std::string utf8(std::uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

// Characters that the libraries treat specially, and ordinary ones.
const std::vector<std::uint32_t> kInterestingCodePoints = {
    0x00E9, 0x00C0, 0x00DF, 0x00FF, 0x00A0, 0x00AD, 0x03A3,  0x03C2,   0x0416, 0x0301,
    0x200B, 0x2028, 0xFB01, 0xFF21, 0x4E2D, 0xFFFD, 0x1F600, 0x10FFFF, 0x0130, 0x212A};

// Text of up to max_pieces pieces drawn from an alphabet of `ascii` and
// interesting code points; sometimes one byte that is not UTF-8.
std::string any_text(std::string_view ascii, std::size_t max_pieces, bool allow_invalid) {
  std::string out;
  const auto n = pick<std::size_t>(0, max_pieces + 1);
  for (std::size_t i = 0; i < n; ++i) {
    if (one_in(5))
      out += utf8(*rc::gen::elementOf(kInterestingCodePoints));
    else
      out.push_back(ascii[pick<std::size_t>(0, ascii.size())]);
  }
  if (allow_invalid && one_in(15)) out.insert(pick<std::size_t>(0, out.size() + 1), 1, '\xFF');
  return out;
}

// ================================================================== jiffy

// A JSON text (sometimes broken) and the decode options it is read with.
std::string json_string_body() {
  std::string out;
  const auto n = pick<std::size_t>(0, 12);
  for (std::size_t i = 0; i < n; ++i) {
    switch (pick(0, 8)) {
      case 0:
        out += *rc::gen::elementOf(
            std::vector<std::string>{"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t",
                                     "\\u00e9", "\\u4e2d", "\\ud83d\\ude00", "\\u0000"});
        break;
      case 1:
        out += utf8(*rc::gen::elementOf(kInterestingCodePoints));
        break;
      default:
        out.push_back(static_cast<char>(pick(0x20, 0x7F)));
        if (out.back() == '"' || out.back() == '\\') out.back() = 'q';
    }
  }
  return out;
}

std::string whitespace() {
  return *rc::gen::elementOf(std::vector<std::string>{"", "", "", " ", "\n  ", "\t", "\r\n"});
}

std::string json_value(int depth) {
  switch (pick(0, depth >= 4 ? 5 : 8)) {
    case 0:
      return *rc::gen::elementOf(std::vector<std::string>{"null", "true", "false"});
    case 1:
      if (one_in(6)) {  // past 64 bits: jiffy hands it back as {bignum, Text}
        std::string digits = std::to_string(pick(1, 10));
        for (int i = pick(19, 30); i > 0; --i)
          digits.push_back(static_cast<char>('0' + pick(0, 10)));
        return (coin() ? "-" : "") + digits;
      }
      return std::to_string(pick<std::int64_t>(-(std::int64_t{1} << 53), std::int64_t{1} << 53));
    case 2: {
      std::string f = std::to_string(pick(-100000, 100000)) + "." + std::to_string(pick(0, 100000));
      if (coin()) f += fmt::format("e{}{}", coin() ? "-" : "", pick(0, 30));
      return f;
    }
    case 3:
    case 4:
      return "\"" + json_string_body() + "\"";
    case 5:
    case 6: {
      std::string out = "[" + whitespace();
      const int n = pick(0, 6);
      for (int i = 0; i < n; ++i) out += (i ? "," + whitespace() : "") + json_value(depth + 1);
      return out + whitespace() + "]";
    }
    default: {
      std::string out = "{" + whitespace();
      const int n = pick(0, 6);
      for (int i = 0; i < n; ++i) {
        const std::string key = one_in(4) ? "\"dup\"" : "\"" + json_string_body() + "\"";
        out += (i ? "," + whitespace() : "") + key + whitespace() + ":" + whitespace() +
               json_value(depth + 1);
      }
      return out + whitespace() + "}";
    }
  }
}

std::string json_document() {
  std::string doc = whitespace() + json_value(0) + whitespace();
  if (one_in(4)) {  // a few KiB: with few bytes per reduction the decoder yields on the way
    doc = "[" + doc;
    for (int i = pick(50, 300); i > 0; --i) doc += "," + json_value(2);
    doc += "]";
  }
  if (one_in(8)) doc = doc.substr(0, pick<std::size_t>(0, doc.size() + 1));  // truncated
  if (one_in(10)) doc += *rc::gen::elementOf(std::vector<std::string>{"x", " [1]", ",", "}"});
  return doc;
}

Term decode_options(Heap& h) {
  Args opts;
  if (coin()) opts.push_back(atom("return_maps"));
  if (one_in(3)) opts.push_back(atom("use_nil"));
  if (one_in(3)) opts.push_back(atom("copy_strings"));
  if (one_in(3)) opts.push_back(atom("dedupe_keys"));
  if (one_in(4)) opts.push_back(atom("return_trailer"));
  if (one_in(4)) opts.push_back(tuple(h, {atom("null_term"), atom("nothing")}));
  // Few bytes per reduction: the decoder yields back to the wrapper often.
  // (bytes_per_iter below 2000 makes the BEAM divide by zero: never sent.)
  if (coin()) opts.push_back(tuple(h, {atom("bytes_per_red"), core::make_small(pick(1, 4))}));
  return core::make_list(h, opts);
}

// An EJSON term for jiffy:encode/2 (sometimes one it must refuse).
Term ejson(Heap& h, int depth) {
  switch (pick(0, depth >= 3 ? 7 : 10)) {
    case 0:
      return atom(*rc::gen::elementOf(std::vector<std::string>{"null", "true", "false", "nil"}));
    case 1:
      return core::make_integer(
          h, pick<std::int64_t>(-(std::int64_t{1} << 53), std::int64_t{1} << 53));
    case 2:
      if (one_in(4)) return any_integer(h);  // bignums come back for the wrapper to print
      return core::make_float(h, static_cast<double>(pick(-1000000, 1000000)) / 64.0);
    case 3:
    case 4:
      return bin(h, any_text(" abcXYZ019\"\\/<>&'\n\t\x01", 12, true));
    case 5:
      return atom(any_text("abcdefxyz_ ", 8, false));
    case 6:
      if (one_in(6)) return core::make_tuple(h, {core::make_small(1), core::make_small(2)});
      return core::make_list(h, {ejson(h, depth + 1)});
    case 7: {
      Args elements(pick<std::size_t>(0, depth == 0 && one_in(4) ? 300 : 5));
      for (Term& e : elements) e = ejson(h, depth + 1);
      return core::make_list(h, elements);
    }
    case 8: {
      Args pairs(pick<std::size_t>(0, 5));
      for (Term& p : pairs)
        p = tuple(h,
                  {coin() ? bin(h, any_text("abkey", 5, false)) : atom(any_text("abkey", 5, false)),
                   ejson(h, depth + 1)});
      return core::make_tuple(h, {core::make_list(h, pairs)});
    }
    default: {
      // Binary keys only: maps keyed by atoms follow each VM's own order past 32 keys.
      Args keys, values;
      for (std::size_t i = pick<std::size_t>(0, 5); i > 0; --i) {
        Term k = bin(h, any_text("abkey", 6, false));
        if (std::any_of(keys.begin(), keys.end(), [&](Term o) { return core::identical(o, k); }))
          continue;
        keys.push_back(k);
        values.push_back(ejson(h, depth + 1));
      }
      return *core::make_map(h, keys, values);
    }
  }
}

Term encode_options(Heap& h) {
  Args opts;
  if (one_in(3)) opts.push_back(atom("uescape"));
  if (one_in(3)) opts.push_back(atom("pretty"));
  if (one_in(3)) opts.push_back(atom("use_nil"));
  if (one_in(3)) opts.push_back(atom("escape_forward_slashes"));
  if (coin()) opts.push_back(tuple(h, {atom("bytes_per_red"), core::make_small(pick(1, 4))}));
  return core::make_list(h, opts);
}

// finish_decode/1 of the installed jiffy.erl (1.1.1), for {partial, EJson}:
// bignums the NIF left as text become integers; the other clauses as they
// are written there.
std::optional<Term> finish_decode(Heap& h, Term t) {
  if (is_tuple_of(t, 2) && element(t, 0) == atom("bignum")) {
    auto bytes = core::bitstring_view(element(t, 1)).bytes();
    auto n = core::parse_term(std::string(bytes.begin(), bytes.end()), h);  // list_to_integer
    if (!n || !core::is_integer(*n)) return std::nullopt;
    return *n;
  }
  if (is_tuple_of(t, 2) && (element(t, 0) == atom("bignum_e") || element(t, 0) == atom("bigdbl")))
    return std::nullopt;  // never generated: float conversions are Erlang's own
  if (is_tuple_of(t, 1) && core::is_list(element(t, 0))) {
    Args pairs;
    for (Term p : core::ListRange(element(t, 0))) {
      auto v = finish_decode(h, element(p, 1));
      if (!v) return std::nullopt;
      pairs.push_back(tuple(h, {element(p, 0), *v}));
    }
    return core::make_tuple(h, {core::make_list(h, pairs)});
  }
  if (core::is_list(t)) {
    Args values;
    for (Term v : core::ListRange(t)) {
      auto f = finish_decode(h, v);
      if (!f) return std::nullopt;
      values.push_back(*f);
    }
    return core::make_list(h, values);
  }
  if (is_tuple_of(t, 3) && element(t, 0) == atom("has_trailer")) {
    auto f = finish_decode(h, element(t, 1));
    if (!f) return std::nullopt;
    return tuple(h, {element(t, 0), *f, element(t, 2)});
  }
  if (core::is_map(t)) {
    Args keys, values;
    for (std::size_t i = 0; i < core::map_size(t); ++i) {
      auto f = finish_decode(h, core::map_values(t)[i]);
      if (!f) return std::nullopt;
      keys.push_back(core::map_keys(t)[i]);
      values.push_back(*f);
    }
    return *core::make_map(h, keys, values);
  }
  return t;
}

// jiffy:decode/2 as the installed jiffy.erl runs it: nif_decode_init, then
// nif_decode_iter with the decoder resource for as long as the NIF returns
// {iter, ...}. (Debian's jiffy 1.1.1 yields with enif_schedule_nif instead,
// continuations the backend follows inside one call; the wrapper keeps the
// {iter, ...} clause for the releases that hand the state back.)
core::CallResult jiffy_decode(Host& host, model::Process& p, core::LibraryHandle lib, Term data,
                              Term opts) {
  Heap& h = p.heap();
  core::CallResult r = host.call(p, lib, "nif_decode_init", {data, opts});
  for (;;) {
    if (!r.ok()) return r;
    Term v = r.value();
    if (is_tuple_of(v, 2) && element(v, 0) == core::atoms::kError)
      return raise_error(element(v, 1));
    if (is_tuple_of(v, 2) && element(v, 0) == atom("partial")) {
      auto finished = finish_decode(h, element(v, 1));
      if (!finished)
        RC_FAIL("a partial decode this wrapper does not finish: " + core::print_term(v));
      return core::CallResult{*finished};
    }
    if (is_tuple_of(v, 2) && element(v, 0) == atom("iter") && is_tuple_of(element(v, 1), 5)) {
      const Term* state = core::tuple_elements(element(v, 1));
      r = host.call(p, lib, "nif_decode_iter", {data, state[1], state[2], state[3], state[4]});
      continue;
    }
    return r;
  }
}

// finish_encode/2 of the installed jiffy.erl: the NIF's pieces (in reverse),
// integers printed.
core::CallResult finish_encode(Heap& h, Term pieces) {
  Term acc = core::kNilTerm;
  Term cur = pieces;
  for (; core::is_cons(cur); cur = core::cons_tail(cur)) {
    Term piece = core::cons_head(cur);
    if (core::is_bitstring(piece) && core::bitstring_view(piece).is_binary()) {
      acc = core::make_cons(h, piece, acc);
    } else if (core::is_integer(piece)) {
      acc = core::make_cons(h, bin(h, core::print_term(piece)), acc);
    } else {
      return raise_error(tuple(h, {atom("invalid_ejson"), piece}));
    }
  }
  if (!core::is_nil(cur)) return raise_error(atom("invalid_ejson"));
  return core::CallResult{acc};
}

// jiffy:encode/2 as its Erlang wrapper runs it (without force_utf8, whose
// retry goes through jiffy_utf8, Erlang code of its own).
core::CallResult jiffy_encode(Host& host, model::Process& p, core::LibraryHandle lib, Term data,
                              Term opts) {
  Heap& h = p.heap();
  core::CallResult r = host.call(p, lib, "nif_encode_init", {data, opts});
  for (;;) {
    if (!r.ok()) return r;
    Term v = r.value();
    if (is_tuple_of(v, 2) && element(v, 0) == core::atoms::kError)
      return raise_error(element(v, 1));
    if (is_tuple_of(v, 2) && element(v, 0) == atom("partial"))
      return finish_encode(h, element(v, 1));
    if (is_tuple_of(v, 2) && element(v, 0) == atom("iter") && is_tuple_of(element(v, 1), 3)) {
      const Term* state = core::tuple_elements(element(v, 1));
      r = host.call(p, lib, "nif_encode_iter", {state[0], state[1], state[2]});
      continue;
    }
    if (core::is_cons(v) && core::is_nil(core::cons_tail(v)) &&
        core::is_bitstring(core::cons_head(v)) &&
        core::bitstring_view(core::cons_head(v)).is_binary())
      return core::CallResult{core::cons_head(v)};  // [Bin] -> Bin
    if (core::is_list(v)) {                         // lists:reverse(RevIOData)
      Args pieces = list_elements(v);
      std::reverse(pieces.begin(), pieces.end());
      return core::CallResult{core::make_list(h, pieces)};
    }
    return r;
  }
}

class RealNifProps : public ::testing::TestWithParam<BackendKind> {};

TEST_P(RealNifProps, JiffyDecodesAndEncodesAsInTheBeam) {
  Host host(GetParam());
  const core::LibraryHandle lib = host.load_spec(library_spec(kJiffy.path(), kJiffy.module));
  check_property(10, [&] {
    Heap heap;
    model::Process& caller = host.vm().spawn();
    struct Case {
      std::string function;
      Args args;
      core::CallResult ours;
    };
    std::vector<Case> cases;
    for (int i = 0; i < 20; ++i) {
      if (coin()) {
        Args args{bin(heap, json_document()), decode_options(heap)};
        auto ours = jiffy_decode(host, caller, lib, args[0], args[1]);
        cases.push_back({"decode", std::move(args), std::move(ours)});
      } else {
        Args args{ejson(heap, 0), encode_options(heap)};
        auto ours = jiffy_encode(host, caller, lib, args[0], args[1]);
        cases.push_back({"encode", std::move(args), std::move(ours)});
      }
      if (is_contained(cases.back().ours))
        RC_FAIL(fmt::format("jiffy:{}{}: {}", cases.back().function, show_args(cases.back().args),
                            show(cases.back().ours)));
    }
    // The installed jiffy module loads the same jiffy.so in the BEAM.
    std::vector<BeamRequest> requests;
    for (const auto& c : cases) requests.push_back({"jiffy", c.function, args_etf(c.args)});
    auto theirs = beam_calls(requests);
    for (std::size_t i = 0; i < cases.size(); ++i) {
      std::string wrong = beam_mismatch(cases[i].ours, theirs[i]);
      if (!wrong.empty())
        RC_FAIL(fmt::format("jiffy:{}{}: {}", cases[i].function, show_args(cases[i].args), wrong));
    }
  });
}

// ================================================================== fxml

Term xml_name(Heap& h) {
  if (one_in(3)) return bin(h, any_text("abcxyz-_:.0", 8, false));
  return bin(h, *rc::gen::elementOf(std::vector<std::string>{"a", "message", "iq", "x:y", "body"}));
}

Term xml_text(Heap& h) { return bin(h, any_text(" abcXYZ01&<>\"'\n\t;#", 16, false)); }

Term xml_element(Heap& h, int depth) {
  Args attrs(pick<std::size_t>(0, 4));
  for (Term& a : attrs) a = tuple(h, {xml_name(h), xml_text(h)});
  Args children(depth >= 3 ? 0 : pick<std::size_t>(0, 4));
  for (Term& c : children)
    c = coin() ? tuple(h, {atom("xmlcdata"), xml_text(h)}) : xml_element(h, depth + 1);
  if (one_in(12)) {  // something fxml must refuse
    switch (pick(0, 4)) {
      case 0:
        return tuple(h, {atom("xmlel"), xml_name(h)});
      case 1:
        return tuple(
            h, {atom("xmlel"), atom("a"), core::make_list(h, attrs), core::make_list(h, children)});
      case 2:
        attrs.push_back(atom("not_an_attribute"));
        break;
      default:
        children.push_back(core::make_small(7));
    }
  }
  return core::make_tuple(
      h, {atom("xmlel"), xml_name(h), core::make_list(h, attrs), core::make_list(h, children)});
}

// Runs `cases` calls drawn by `draw` on the host and compares them with the
// BEAM, where the library is loaded for the same module.
void check_library_against_beam(Host& host, const RealLibrary& library, int runs, int cases_per_run,
                                const std::function<std::pair<std::string, Args>(Heap&)>& draw) {
  const core::LibraryHandle lib = host.load_spec(library_spec(library.path(), library.module));
  beam_load(library.stem, library.module, host.backend().info(lib).value().functions);
  check_property(runs, [&] {
    Heap heap;
    model::Process& caller = host.vm().spawn();
    std::vector<BeamRequest> requests;
    std::vector<core::CallResult> ours;
    for (int i = 0; i < cases_per_run; ++i) {
      auto [function, args] = draw(heap);
      ours.push_back(host.call(caller, lib, function, args));
      requests.push_back({library.module, function, args_etf(args)});
    }
    auto theirs = beam_calls(requests);
    for (std::size_t i = 0; i < ours.size(); ++i) {
      std::string wrong = beam_mismatch(ours[i], theirs[i]);
      if (!wrong.empty())
        RC_FAIL(fmt::format("{}:{}: {}", library.module, requests[i].function, wrong));
    }
  });
}

TEST_P(RealNifProps, FxmlSerialisesAsInTheBeam) {
  Host host(GetParam());
  check_library_against_beam(host, kFxml, 10, 20, [](Heap& h) {
    const std::string fn = coin() ? "element_to_binary" : "element_to_header";
    return std::pair{fn, Args{one_in(15) ? any_term(h) : xml_element(h, 0)}};
  });
}

// ================================================================== stringprep

TEST_P(RealNifProps, StringprepPreparesAsInTheBeam) {
  Host host(GetParam());
  const std::vector<std::string> functions = {"nodeprep", "nameprep", "resourceprep", "tolower"};
  check_library_against_beam(host, kStringprep, 10, 30, [&](Heap& h) {
    const std::string fn = *rc::gen::elementOf(functions);
    if (one_in(15)) return std::pair{fn, Args{any_term(h)}};
    std::string text = any_text("abcXYZ019 @/:.-_\"'&<>", 20, true);
    if (one_in(20)) text.append(1100, 'a');  // longer than nodeprep allows
    return std::pair{fn, Args{bin(h, text)}};
  });
}

// tolower on ASCII is ASCII lowercasing, whatever the backend.
TEST_P(RealNifProps, StringprepLowercasesAscii) {
  Host host(GetParam());
  const core::LibraryHandle lib =
      host.load_spec(library_spec(kStringprep.path(), kStringprep.module));
  check_property(20, [&] {
    Heap heap;
    std::string text = any_text("abcdefXYZQ0123 .-@", 40, false);
    text.erase(std::remove_if(text.begin(), text.end(), [](char c) { return (c & 0x80) != 0; }),
               text.end());
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    core::CallResult r = host.call(lib, "tolower", {bin(heap, text)});
    RC_ASSERT(r.ok());
    RC_ASSERT(core::identical(r.value(), bin(heap, lower)));
  });
}

NIFHOST_FOR_EVERY_BACKEND(RealNifProps);

}  // namespace
}  // namespace nifhost::proptests
