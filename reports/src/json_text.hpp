#pragma once
// Writing JSON text: the runner only writes JSON (the report generator reads
// it), so a small builder is all it needs.
//
//   JsonObject().add("stage", "ready").add("pid", 42).str()   // {"stage":"ready","pid":42}
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace nifhost::reports {

inline std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;  // UTF-8 passes through; invalid bytes are the reader's to replace
        }
    }
  }
  return out + "\"";
}

inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

class JsonObject {
 public:
  JsonObject& add_raw(std::string_view key, std::string_view json) {
    text_ += text_.size() > 1 ? "," : "";
    text_ += json_string(key);
    text_ += ':';
    text_ += json;
    return *this;
  }
  JsonObject& add(std::string_view key, const char* v) { return add_raw(key, json_string(v)); }
  JsonObject& add(std::string_view key, const std::string& v) {
    return add_raw(key, json_string(v));
  }
  JsonObject& add(std::string_view key, bool v) { return add_raw(key, v ? "true" : "false"); }
  JsonObject& add(std::string_view key, double v) { return add_raw(key, json_number(v)); }
  JsonObject& add(std::string_view key, std::int64_t v) { return add_raw(key, std::to_string(v)); }
  JsonObject& add(std::string_view key, std::uint64_t v) { return add_raw(key, std::to_string(v)); }
  JsonObject& add(std::string_view key, int v) { return add_raw(key, std::to_string(v)); }
  std::string str() const { return text_ + "}"; }

 private:
  std::string text_ = "{";
};

}  // namespace nifhost::reports
