// Builds a term with the installed nifhost, encodes it as ETF and prints it.
#include <cstdio>

#include "nifhost/core/atom_table.hpp"
#include "nifhost/core/etf.hpp"
#include "nifhost/core/terms.hpp"
#include "nifhost/core/text.hpp"

int main() {
  using namespace nifhost::core;
  Heap heap;
  Term t = make_tuple(heap, {atoms::kOk, make_integer(heap, 42)});
  auto bytes = encode(t);
  if (!bytes) return 1;
  Heap back;
  auto decoded = decode(*bytes, back);
  if (!decoded) return 1;
  std::printf("%s\n", print_term(*decoded).c_str());
  return print_term(*decoded) == "{ok,42}" ? 0 : 1;
}
